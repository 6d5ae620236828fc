// Command spinebench is OpenSpine's load harness. It starts the real spine
// (a binary built beforehand, --spine) on a free loopback port with a fresh
// data folder, loads organisations through the FHIR API, then measures
// reads, searches and durable creates with a closed-loop load generator,
// and the same client against a bare net/http handler in a child process
// (the baseline), and prints one table. See bench/run.sh and
// docs/performance.md.
//
//	spinebench --spine /tmp/spine [--db postgres://...] [--orgs 100000] [--workers 64] [--duration 10s]
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/openspine/openspine/bench/loadgen"
)

func main() {
	spine := flag.String("spine", "", "path of the spine binary (required; bench/run.sh builds it)")
	db := flag.String("db", "", "PostgreSQL URL for spine --db: without search_path the run gets a schema of its own, created and dropped here; with it, that schema, which should be empty (default: SQLite in a temporary folder)")
	orgs := flag.Int("orgs", 100000, "organisations to load before the measurements")
	perBundle := flag.Int("bundle", 500, "entries per transaction Bundle in the load phase")
	loaders := flag.Int("loaders", 4, "concurrent loaders in the load phase")
	workers := flag.Int("workers", 64, "concurrent closed-loop workers per scenario (with --rate: the connections of the open loop)")
	rate := flag.Float64("rate", 0, "open loop for the --workers scenarios: this many requests due a second, sent by free workers, latency counted from when each was due (0: closed loop)")
	duration := flag.Duration("duration", 10*time.Second, "measured duration of each scenario")
	warmup := flag.Duration("warmup", time.Second, "unmeasured warm-up before each scenario")
	lightWorkers := flag.Int("light-workers", 4, "workers of the extra light-load search runs (service time without queueing; 0: skip them)")
	authMode := flag.String("auth", loadgen.AuthToken, "token: spine serve --dev and a development token of the demo application on every request (the production path); off: --dev --no-auth; none: no auth flags (servers before authentication)")
	waitIdle := flag.Duration("wait-idle", 0, "on a shared machine, wait up to this long for other tenants' load to drop below 0.2 cores before starting")
	keepData := flag.Bool("keep-data", false, "keep the spine's data folder (SQLite database) afterwards and print its path")
	perfDir := flag.String("perf", "", "record a CPU profile of the server (Linux perf) during each scenario into this folder")
	baselineAddr := flag.String("serve-baseline", "", "internal: run the bare baseline server on this address")
	flag.Parse()
	ctx, stop := loadgen.Begin("spinebench", *spine, *baselineAddr)
	defer stop()
	cfg := config{db: *db, orgs: *orgs, perBundle: *perBundle, loaders: *loaders, workers: *workers, rate: *rate,
		duration: *duration, warmup: *warmup, perfDir: *perfDir, keepData: *keepData, waitIdle: *waitIdle, authMode: *authMode, lightWorkers: *lightWorkers}
	if err := run(ctx, *spine, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "spinebench:", err)
		os.Exit(1)
	}
}

type config struct {
	db                       string
	orgs, perBundle, loaders int
	workers, lightWorkers    int
	rate                     float64 // open loop: requests due a second (0: closed loop)
	duration, warmup         time.Duration
	perfDir                  string
	keepData                 bool
	waitIdle                 time.Duration
	authMode                 string
}

func run(ctx context.Context, spinePath string, cfg config) error {
	backend := "sqlite"
	if cfg.db != "" {
		backend = "postgres"
		var drop func()
		var err error
		if cfg.db, drop, err = loadgen.FreshSchema(ctx, cfg.db); err != nil {
			return err
		}
		defer drop()
	}
	fmt.Printf("spinebench: backend %s, auth %s, %d organisations, %d workers, %s per scenario (+%s warm-up)\n",
		backend, cfg.authMode, cfg.orgs, cfg.workers, cfg.duration, cfg.warmup)
	fmt.Printf("CPU: %d cores (GOMAXPROCS %d) shared by the load generator, the spine and the baseline server (all on loopback)\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0))

	bg := loadgen.Background(2 * time.Second)
	for deadline := time.Now().Add(cfg.waitIdle); bg > 0.2 && time.Now().Before(deadline) && ctx.Err() == nil; {
		fmt.Printf("waiting for an idle machine: %.2f cores busy\n", bg)
		time.Sleep(5 * time.Second)
		bg = loadgen.Background(2 * time.Second)
	}
	fmt.Printf("background: %.2f cores busy before the harness started anything (other tenants of the machine)\n", bg)
	if bg > 0.2 {
		fmt.Println("WARNING: the machine is not idle; throughput and latency below are depressed by other load")
	}
	spine, err := loadgen.StartSpine(spinePath, cfg.db, cfg.authMode)
	if err != nil {
		return err
	}
	defer spine.Stop()
	if cfg.keepData {
		fmt.Println("data folder (kept):", spine.KeepData())
	}
	base, err := loadgen.StartSelf("baseline", "--serve-baseline", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer base.Stop()
	t := loadgen.Targets{Base: spine.URL + "/directory/FHIR/R4", Baseline: base.URL + "/baseline"}
	fmt.Printf("spine pid %d at %s; baseline pid %d at %s (a child process: the same program, net/http, %d-byte body)\n",
		spine.PID(), spine.URL, base.PID(), base.URL, loadgen.BaselineSize)
	// One client for everything, the baseline included: same transport,
	// same headers (the baseline ignores the token).
	client := loadgen.NewClientWithToken(cfg.workers, spine.Token)

	if cfg.authMode == loadgen.AuthToken {
		// Show that authentication is on: the same read without the token.
		resp, err := http.Get(t.Base + "/Organization/none")
		if err != nil {
			return err
		}
		resp.Body.Close()
		fmt.Printf("auth: a request without the token gets HTTP %d; every measured request carries a development token of the demo application\n", resp.StatusCode)
	}

	var results []loadgen.Result
	fmt.Printf("\n(a) loading %d organisations...\n", cfg.orgs)
	var perf *loadgen.Perf
	if cfg.perfDir != "" {
		if perf, err = loadgen.StartPerf(cfg.perfDir, "0-load", spine.PID()); err != nil {
			return err
		}
	}
	before := loadgen.ScrapeMetrics(ctx, client, spine.URL)
	ld, res, err := loadgen.LoadOrganizations(ctx, client, t.Base, cfg.orgs, cfg.perBundle, cfg.loaders, spine)
	if perf != nil {
		perf.Stop()
	}
	loadgen.PrintResult(os.Stdout, res)
	printMetrics(loadgen.ScrapeMetrics(ctx, client, spine.URL).Diff(before))
	results = append(results, res)
	if err != nil {
		return err
	}

	next := &atomic.Int64{}
	next.Store(int64(cfg.orgs))
	const readName, baseName = "read by id", "bare baseline (GET, 160 B)"
	scenarios := []struct {
		label string
		sc    loadgen.Scenario
	}{
		{"(b)", loadgen.Scenario{Name: readName, Build: loadgen.ReadByID(t, ld), Server: spine}},
		{"(e)", loadgen.Scenario{Name: baseName, Build: loadgen.Baseline(t), Server: base}},
		{"(d)", loadgen.Scenario{Name: "search identifier=<ODS code>", Build: loadgen.SearchIdentifier(t, ld), Server: spine}},
		{"(d)", loadgen.Scenario{Name: "search name=<town kind>&_count=10", Build: loadgen.SearchName(t, ld), Server: spine}},
		{"(c)", loadgen.Scenario{Name: "durable create (POST)", Build: loadgen.Create(t, next), Server: spine}},
	}
	if cfg.lightWorkers > 0 {
		// The searches again at light load: their latency without the
		// queueing that 64 closed-loop clients on 2 cores add. Before the
		// creates, so that they too see exactly the loaded data set.
		light := []struct {
			label string
			sc    loadgen.Scenario
		}{
			{"(d)", loadgen.Scenario{Name: "search identifier (light load)", Workers: cfg.lightWorkers, Build: loadgen.SearchIdentifier(t, ld), Server: spine}},
			{"(d)", loadgen.Scenario{Name: "search name (light load)", Workers: cfg.lightWorkers, Build: loadgen.SearchName(t, ld), Server: spine}},
		}
		scenarios = append(scenarios[:4], append(light, scenarios[4:]...)...)
	}
	for i, s := range scenarios {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sc := s.sc
		if sc.Workers == 0 {
			sc.Workers, sc.Rate = cfg.workers, cfg.rate
		}
		sc.Duration, sc.Warmup, sc.Auth = cfg.duration, cfg.warmup, loadgen.Bearer(spine.Token)
		fmt.Printf("\n%s %s, %d workers\n", s.label, sc.Name, sc.Workers)
		desc, err := loadgen.Probe(ctx, client, sc.Build)
		if err != nil {
			return fmt.Errorf("probe of %s: %w", sc.Name, err)
		}
		fmt.Println("  probe:", desc)
		perf = nil
		if cfg.perfDir != "" {
			perf, err = loadgen.StartPerf(cfg.perfDir, fmt.Sprintf("%d-%s", i+1, slug(sc.Name)), sc.Server.PID())
			if err != nil {
				return err
			}
			// the profile covers the warm-up too
		}
		before := loadgen.ScrapeMetrics(ctx, client, sc.Server.URL)
		r := loadgen.Run(ctx, sc)
		if perf != nil {
			perf.Stop()
		}
		loadgen.PrintResult(os.Stdout, r)
		printMetrics(loadgen.ScrapeMetrics(ctx, client, sc.Server.URL).Diff(before))
		results = append(results, r)
	}
	fmt.Printf("\norganisations: %d loaded, %d create attempts\n", len(ld.Good), next.Load()-int64(cfg.orgs))
	fmt.Printf("\nsummary (%s, auth %s, %d workers, %s per scenario, %d organisations loaded first):\n\n", backend, cfg.authMode, cfg.workers, cfg.duration, cfg.orgs)
	loadgen.PrintTable(os.Stdout, results, readName, baseName)
	spine.Stop()
	base.Stop()
	fmt.Printf("\nbackground after the run: %.2f cores busy (other tenants)\n", loadgen.Background(2*time.Second))
	return nil
}

// printMetrics prints what the server's own histograms observed during a
// scenario (warm-up included): where its time went, by its account.
func printMetrics(hs []loadgen.Histogram) {
	for i, h := range hs {
		if i == 8 {
			break
		}
		fmt.Println("    server metric:", h)
	}
}

// slug turns a scenario name into a file name.
func slug(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case len(b) > 0 && b[len(b)-1] != '-':
			b = append(b, '-')
		}
	}
	for len(b) > 0 && b[len(b)-1] == '-' {
		b = b[:len(b)-1]
	}
	return string(b)
}
