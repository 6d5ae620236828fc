// Command pdsbench measures the Personal Demographics Service at national
// size. It seeds a population with the real command (spine seed), timing
// it, starts spine serve --dev on that data, mints a user-restricted token
// for a clinician of the demo directory, and measures with a closed loop
// of workers: read by NHS number, exact search (family + birthdate), fuzzy
// search (a misspelt family name + given + birthdate), and the bare
// net/http baseline of bench/loadgen in the same session. It ends with the
// spine's peak RSS and the goals. See docs/performance.md.
//
//	pdsbench --spine /tmp/spine [--db postgres://...] [--patients 1000000] [--workers 64] [--duration 10s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/openspine/openspine/bench/loadgen"
	"github.com/openspine/openspine/internal/pds"
)

const pdsBase = "/personal-demographics/FHIR/R4"

// clinician is Dr Amelia Carter of the demo directory (R8000 at Y12345).
const clinician = "555021935107"

func main() {
	spine := flag.String("spine", "", "path of the spine binary (required; go build -o DIR/spine ./cmd/spine)")
	patients := flag.Int("patients", 1000000, "patients to seed with spine seed (use e.g. 50000 for a quick run)")
	seed := flag.Int64("seed", 1, "population seed (spine seed --seed)")
	sample := flag.Int("sample", 100000, "patients of the population kept in memory to draw requests from (spread over all of it)")
	workers := flag.Int("workers", 64, "concurrent closed-loop workers per scenario (with --rate: the connections of the open loop)")
	rate := flag.Float64("rate", 0, "open loop for the 64-worker scenarios: this many requests due a second, sent by free workers, latency counted from when each was due (0: closed loop), e.g. to compare audit on and off at one load")
	lightWorkers := flag.Int("light-workers", 4, "workers of the extra light-load search runs (latency without queueing behind 64 clients; 0: skip them)")
	duration := flag.Duration("duration", 10*time.Second, "measured duration of each scenario")
	warmup := flag.Duration("warmup", time.Second, "unmeasured warm-up before each scenario")
	db := flag.String("db", "", "PostgreSQL URL for spine --db: without search_path the run gets a schema of its own, created and dropped here; with it, that schema (with --reuse: one seeded before with the same --patients and --seed); default SQLite in the data folder")
	dataDir := flag.String("data", "", "data folder to seed and serve (default: a fresh temporary folder, removed afterwards)")
	var spineArgs extraArgs
	flag.Var(&spineArgs, "spine-arg", "an extra argument for spine serve (repeatable), e.g. --spine-arg=--no-audit")
	reuse := flag.Bool("reuse", false, "with --data: do not seed, the folder was seeded before with the same --patients and --seed")
	baselineAddr := flag.String("serve-baseline", "", "internal: run the bare baseline server on this address")
	auditFrom := flag.String("audit-from", "", "with --data: before serving, replace the folder's audit.db with a copy of this file, so that every run of an A/B starts from the same audit log and index (with --reuse the log otherwise grows run by run, and later runs index into a larger tree)")
	only := flag.String("only", "", "run only these scenarios (comma-separated: read, baseline, exact, fuzzy, related; default all), e.g. for A/B runs of one")
	flag.Parse()
	ctx, stop := loadgen.Begin("pdsbench", *spine, *baselineAddr)
	defer stop()
	cfg := config{spine: *spine, patients: *patients, seed: *seed, sample: *sample, workers: *workers, rate: *rate, lightWorkers: *lightWorkers,
		duration: *duration, warmup: *warmup, db: *db, dataDir: *dataDir, reuse: *reuse, auditFrom: *auditFrom, spineArgs: spineArgs, only: *only}
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "pdsbench:", err)
		os.Exit(1)
	}
}

type config struct {
	spine            string
	patients, sample int
	seed             int64
	workers          int
	rate             float64 // open loop: requests due a second (0: closed loop)
	lightWorkers     int
	duration, warmup time.Duration
	db               string // PostgreSQL URL; empty for SQLite
	dataDir          string
	reuse            bool
	auditFrom        string   // a copy of this file becomes the folder's audit.db before serving
	spineArgs        []string // extra arguments for spine serve
	only             string   // comma-separated scenario keys, empty for all
}

// person is what the requests need of a seeded patient.
type person struct {
	nhs, family, given, birth string
}

func run(ctx context.Context, cfg config) error {
	if cfg.db != "" && cfg.auditFrom != "" {
		return errors.New("--audit-from replaces a SQLite audit.db: not with --db")
	}
	if cfg.db != "" && !cfg.reuse {
		var drop func()
		var err error
		if cfg.db, drop, err = loadgen.FreshSchema(ctx, cfg.db); err != nil {
			return err
		}
		defer drop()
	}
	backend, dbArgs := loadgen.Backend(cfg.db)
	fmt.Printf("pdsbench: %s, %d patients (seed %d), %d workers, %s per scenario (+%s warm-up)\n",
		backend, cfg.patients, cfg.seed, cfg.workers, cfg.duration, cfg.warmup)
	fmt.Printf("CPU: %d cores (GOMAXPROCS %d) shared by spine seed, the load generator, the spine and the baseline server\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Printf("background: %.2f cores busy before the harness started anything (other tenants)\n", loadgen.Background(2*time.Second))

	dir := cfg.dataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "pdsbench-data-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	var seedTime time.Duration
	if !cfg.reuse {
		fmt.Printf("\n(1) spine seed --data %s --patients %d --seed %d %s\n", dir, cfg.patients, cfg.seed, strings.Join(dbArgs, " "))
		bg0, m0 := loadgen.MachineCPUTime(), time.Now()
		d, err := loadgen.Seed(cfg.spine, dir, cfg.patients, cfg.seed, dbArgs...)
		if err != nil {
			return fmt.Errorf("spine seed: %w", err)
		}
		seedTime = d
		fmt.Printf("  seeded %d patients in %s: %.0f patients/s (machine CPU %.2f cores)\n", cfg.patients,
			d.Round(time.Millisecond), float64(cfg.patients)/d.Seconds(), (loadgen.MachineCPUTime()-bg0).Seconds()/time.Since(m0).Seconds())
	}

	if cfg.auditFrom != "" {
		if cfg.dataDir == "" {
			return fmt.Errorf("--audit-from needs --data")
		}
		n, err := restoreAudit(cfg.auditFrom, dir)
		if err != nil {
			return fmt.Errorf("--audit-from: %w", err)
		}
		fmt.Printf("\naudit.db replaced by a copy of %s (%s)\n", cfg.auditFrom, mib(n))
	}

	// A serving spine's steady state has its database in the OS page
	// cache; a folder seeded earlier may have been evicted since (the
	// first scenario then waited for the disk: 28 % of the baseline
	// against 50 % warm). Read the files once, as pg_prewarm would.
	n, d, err := prewarm(dir, "spine.db", "audit.db")
	if err != nil {
		return err
	}
	fmt.Printf("\nprewarmed the OS page cache with %s of database files in %s\n", mib(n), d.Round(time.Millisecond))

	fmt.Printf("\n(2) regenerating the population in-process (pds.SeedGenerator(%d), as spine seed makes it) for NHS numbers, names and birth dates\n", cfg.seed)
	t0 := time.Now()
	people := regenerate(cfg.seed, cfg.patients, cfg.sample)
	fmt.Printf("  kept %d of %d patients in %s\n", len(people), cfg.patients, time.Since(t0).Round(time.Millisecond))
	if len(people) == 0 {
		return fmt.Errorf("no patients to draw requests from")
	}

	spine, err := loadgen.StartSpineArgs(cfg.spine, append(append([]string{"serve", "--dev", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn"}, dbArgs...), cfg.spineArgs...)...)
	if err != nil {
		return err
	}
	defer spine.Stop()
	token, err := loadgen.MintToken(cfg.spine, dir, "--user", clinician)
	if err != nil {
		return err
	}
	base, err := loadgen.StartSelf("baseline", "--serve-baseline", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer base.Stop()
	fmt.Printf("\nspine pid %d at %s (RSS after start %s); baseline pid %d at %s; token: user %s (spine token --user)\n",
		spine.PID(), spine.URL, mib(loadgen.PeakRSS(spine.PID())), base.PID(), base.URL, clinician)
	client := loadgen.NewClientWithToken(cfg.workers, token)
	pdsURL := spine.URL + pdsBase

	get := func(u string) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/fhir+json")
		req.Header.Set("X-Request-ID", loadgen.NewUUID())
		return req, nil
	}
	pick := func(rng *rand.Rand) person { return people[rng.IntN(len(people))] }
	read := func(rng *rand.Rand) (*http.Request, error) {
		return get(pdsURL + "/Patient/" + pick(rng).nhs)
	}
	related := func(rng *rand.Rand) (*http.Request, error) {
		return get(pdsURL + "/Patient/" + pick(rng).nhs + "/RelatedPerson")
	}
	baseline := func(rng *rand.Rand) (*http.Request, error) {
		return get(base.URL + "/baseline")
	}
	exact := func(rng *rand.Rand) (*http.Request, error) {
		p := pick(rng)
		return get(pdsURL + "/Patient?family=" + url.QueryEscape(p.family) + "&birthdate=eq" + p.birth)
	}
	fuzzy := func(rng *rand.Rand) (*http.Request, error) {
		p := pick(rng)
		return get(pdsURL + "/Patient?family=" + url.QueryEscape(misspell(p.family)) + "&given=" + url.QueryEscape(p.given) +
			"&birthdate=eq" + p.birth + "&_fuzzy-match=true")
	}
	const readName, baseName = "read Patient/{nhs}", "bare baseline (GET, 160 B)"
	const exactName, fuzzyName = "exact search family+birthdate", "fuzzy search misspelt family+given+birthdate"
	const exactLight, fuzzyLight = "exact search (light load)", "fuzzy search (light load)"
	type keyed struct {
		key string // what --only names it by
		sc  loadgen.Scenario
	}
	all := []keyed{
		{"read", loadgen.Scenario{Name: readName, Build: read, Server: spine, Workers: cfg.workers, Rate: cfg.rate}},
		{"baseline", loadgen.Scenario{Name: baseName, Build: baseline, Server: base, Workers: cfg.workers, Rate: cfg.rate}},
		{"exact", loadgen.Scenario{Name: exactName, Build: exact, Server: spine, Workers: cfg.workers, Rate: cfg.rate}},
		{"fuzzy", loadgen.Scenario{Name: fuzzyName, Build: fuzzy, Server: spine, Workers: cfg.workers, Rate: cfg.rate}},
		{"related", loadgen.Scenario{Name: "related people Patient/{nhs}/RelatedPerson", Build: related, Server: spine, Workers: cfg.workers, Rate: cfg.rate}},
	}
	if cfg.lightWorkers > 0 {
		// The searches again at light load: their latency without queueing
		// behind 64 closed-loop clients on two cores.
		all = append(all,
			keyed{"exact", loadgen.Scenario{Name: exactLight, Workers: cfg.lightWorkers, Build: exact, Server: spine}},
			keyed{"fuzzy", loadgen.Scenario{Name: fuzzyLight, Workers: cfg.lightWorkers, Build: fuzzy, Server: spine}})
	}
	var scenarios []loadgen.Scenario
	for _, a := range all {
		if cfg.only == "" || slices.Contains(strings.Split(cfg.only, ","), a.key) {
			scenarios = append(scenarios, a.sc)
		}
	}
	if len(scenarios) == 0 {
		return fmt.Errorf("--only %q names no scenario (read, baseline, exact, fuzzy)", cfg.only)
	}
	var results []loadgen.Result
	for _, sc := range scenarios {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sc.Duration, sc.Warmup, sc.Auth = cfg.duration, cfg.warmup, loadgen.Bearer(token)
		fmt.Printf("\n%s, %d workers\n", sc.Name, sc.Workers)
		for i := range 3 {
			desc, err := loadgen.Probe(ctx, client, func(*rand.Rand) (*http.Request, error) {
				return sc.Build(rand.New(rand.NewPCG(uint64(i), 99)))
			})
			if err != nil {
				return fmt.Errorf("probe of %s: %w", sc.Name, err)
			}
			fmt.Println("  probe:", desc)
		}
		before := loadgen.ScrapeMetrics(ctx, client, sc.Server.URL)
		r := loadgen.Run(ctx, sc)
		loadgen.PrintResult(os.Stdout, r)
		for i, h := range loadgen.ScrapeMetrics(ctx, client, sc.Server.URL).Diff(before) {
			if i == 6 {
				break
			}
			fmt.Println("    server metric:", h)
		}
		results = append(results, r)
	}
	rss := loadgen.PeakRSS(spine.PID())

	fmt.Printf("\nsummary (%s, %d patients seeded, user-restricted token, %d workers, %s per scenario):\n\n", backend, cfg.patients, cfg.workers, cfg.duration)
	if seedTime > 0 {
		fmt.Printf("| seed (spine seed) | %d patients | %s | %.0f patients/s |\n\n", cfg.patients, seedTime.Round(time.Millisecond), float64(cfg.patients)/seedTime.Seconds())
	}
	loadgen.PrintTable(os.Stdout, results, readName, baseName)
	fmt.Printf("\nspine peak RSS (VmHWM): %s\n", mib(rss))

	fmt.Println("\ngoals:")
	byName := map[string]loadgen.Result{}
	for _, r := range results {
		byName[r.Name] = r
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	if rd, ok := byName[readName]; ok {
		if b, ok := byName[baseName]; ok && cfg.rate > 0 {
			fmt.Println("  read >= 40% of the bare handler: not judged in an open loop (both are offered the same rate)")
		} else if ok {
			ratio := rd.RPS / b.RPS
			fmt.Printf("  read >= 40%% of the bare handler: %.1f%% -> %s\n", 100*ratio, verdict(ratio >= 0.40))
		}
	}
	for _, g := range []struct {
		what         string
		heavy, light string
		limit        time.Duration
	}{{"exact search p99 < 10 ms", exactName, exactLight, 10 * time.Millisecond}, {"fuzzy search p99 < 50 ms", fuzzyName, fuzzyLight, 50 * time.Millisecond}} {
		h, ok := byName[g.heavy]
		if !ok {
			continue
		}
		fmt.Printf("  %s: %d workers %.2f ms -> %s", g.what, h.Workers, ms(h.P99), verdict(h.P99 < g.limit && h.Errors == 0))
		if l, ok := byName[g.light]; ok {
			fmt.Printf("; %d workers %.2f ms -> %s", l.Workers, ms(l.P99), verdict(l.P99 < g.limit && l.Errors == 0))
		}
		fmt.Println()
	}
	if seedTime > 0 {
		note := ""
		if cfg.patients != 1000000 {
			note = fmt.Sprintf(" (at %d patients; 1,000,000 extrapolated linearly: %s)", cfg.patients, (seedTime * time.Duration(1000000) / time.Duration(cfg.patients)).Round(time.Second))
		}
		fmt.Printf("  1,000,000 seeded in < 2 min: %s%s -> %s\n", seedTime.Round(time.Millisecond), note, verdict(cfg.patients >= 1000000 && seedTime < 2*time.Minute))
	}
	fmt.Printf("  server memory < 1 GiB: peak RSS %s -> %s\n", mib(rss), verdict(rss > 0 && rss < 1<<30))
	spine.Stop()
	base.Stop()
	fmt.Printf("\nbackground after the run: %.2f cores busy (other tenants)\n", loadgen.Background(2*time.Second))
	return nil
}

// regenerate replays the generator exactly as spine seed does (same seed,
// same options) and keeps about `keep` patients spread over all n: the
// live, unsuperseded ones with a usual name.
func regenerate(seed int64, n, keep int) []person {
	gen := pds.SeedGenerator(seed)
	stride := max(1, n/max(1, keep))
	var out []person
	for i := range n {
		p := gen.Next()
		if i%stride != 0 || p.SupersededBy != "" || p.Deceased() || len(p.Names) == 0 || len(p.Names[0].Given) == 0 || p.Names[0].Use != "usual" {
			continue
		}
		out = append(out, person{nhs: p.NHSNumber, family: p.Names[0].Family, given: p.Names[0].Given[0], birth: p.BirthDate})
	}
	return out
}

// misspell changes one vowel of a family name after its first letter
// (Smith -> Smyth, Jones -> Junes): the kind of typing error a fuzzy search
// is for (the Soundex blocking key does not change).
func misspell(s string) string {
	swap := map[rune]rune{'i': 'y', 'y': 'i', 'a': 'e', 'e': 'a', 'o': 'u', 'u': 'o'}
	r := []rune(s)
	for i := len(r) - 1; i >= 1; i-- {
		if v, ok := swap[r[i]]; ok {
			r[i] = v
			return string(r)
		}
	}
	if len(r) >= 3 { // no vowel: swap the last two letters
		r[len(r)-1], r[len(r)-2] = r[len(r)-2], r[len(r)-1]
	}
	return string(r)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(b int64) string {
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

// extraArgs collects repeated --spine-arg flags.
type extraArgs []string

func (e *extraArgs) String() string     { return strings.Join(*e, " ") }
func (e *extraArgs) Set(v string) error { *e = append(*e, v); return nil }

// prewarm reads the named files of dir (those that exist) to the end and
// returns the bytes read.
func prewarm(dir string, names ...string) (int64, time.Duration, error) {
	t0 := time.Now()
	var n int64
	for _, name := range names {
		f, err := os.Open(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, 0, err
		}
		m, err := io.Copy(io.Discard, f)
		f.Close()
		n += m
		if err != nil {
			return n, 0, fmt.Errorf("prewarm %s: %w", name, err)
		}
	}
	return n, time.Since(t0), nil
}

// restoreAudit replaces dir's audit.db with a copy of from (written
// beside it, synced, then renamed over it) and removes the old file's
// write-ahead log and shared-memory index, which belong to the old file.
func restoreAudit(from, dir string) (int64, error) {
	src, err := os.Open(from)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	dst := filepath.Join(dir, "audit.db")
	tmp, err := os.CreateTemp(dir, "audit.db.restore-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, src)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(dst + suffix); err != nil && !os.IsNotExist(err) {
			return 0, err
		}
	}
	return n, os.Rename(tmp.Name(), dst)
}
