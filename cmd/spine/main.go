// Command spine runs OpenSpine, the open national health-data spine.
//
//	spine serve    run every service on one HTTP port
//	spine reindex  rebuild the search index rows from stored resources
//	spine seed     create a deterministic synthetic patient population
//	spine version  print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/directory"
	"github.com/openspine/openspine/internal/engine"
	"github.com/openspine/openspine/internal/monitor"
	"github.com/openspine/openspine/internal/policy"
	"github.com/openspine/openspine/internal/server"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/trace"
)

const usage = `usage: spine <command> [flags]

commands:
  serve     run the spine (every service on one port)
  reindex   rebuild search index rows from the stored resources
  seed      create a synthetic patient population (--patients N --seed S)
  token     print an access token for a development instance (spine serve --dev)
  audit     verify the audit log against its signed checkpoints (audit verify), or export them (audit export)
  app       register an application (app register --file app.json) or show one (app show ID)
  prescriber-key  make a development signing key for a prescribing role and register it in the directory (--role ID)
  sign      sign a $prepare digest with that key, for a prescription's Provenance (--role ID --digest B64)
  version   print the version

Run "spine <command> -h" for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "reindex":
		err = reindex(os.Args[2:])
	case "seed":
		err = seed(os.Args[2:])
	case "token":
		err = tokenCmd(os.Args[2:])
	case "app":
		err = appCmd(os.Args[2:])
	case "prescriber-key":
		err = prescriberKeyCmd(os.Args[2:])
	case "sign":
		err = signCmd(os.Args[2:])
	case "audit":
		err = auditCmd(os.Args[2:])
	case "version":
		fmt.Println("spine", engine.Version)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "spine: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "spine:", err)
		os.Exit(1)
	}
}

// env returns the environment variable or def.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envBool(name string) bool {
	switch strings.ToLower(os.Getenv(name)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// storageFlags are shared by every command that opens the store.
type storageFlags struct {
	data, db string
}

func (s *storageFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.data, "data", env("SPINE_DATA", "./spine-data"), "data folder (SQLite database, keys) [SPINE_DATA]")
	fs.StringVar(&s.db, "db", env("SPINE_DB", "sqlite"), "database: sqlite (a file in the data folder) or a postgres:// URL [SPINE_DB]")
}

// openServices opens the store and the services over it (no HTTP server,
// no audit): for the offline commands.
func (s *storageFlags) openServices(ctx context.Context) (store.Store, *server.Server, error) {
	st, err := s.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	srv, err := server.New(server.Config{}, st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, srv, nil
}

func (s *storageFlags) open(ctx context.Context) (store.Store, error) {
	if err := os.MkdirAll(s.data, 0o700); err != nil {
		return nil, fmt.Errorf("data folder %s: %w", s.data, err)
	}
	return store.Open(ctx, s.db, s.data)
}

// openAudit opens the store of the audit trail: on SQLite its own file
// (audit.db in the data folder), on PostgreSQL the main store itself.
func (s *storageFlags) openAudit(ctx context.Context, st store.Store) (store.Store, func(), error) {
	if st.Backend() != "sqlite" {
		return st, func() {}, nil
	}
	ast, err := store.OpenSQLiteAudit(ctx, s.data, []string{monitor.AlertType})
	if err != nil {
		return nil, nil, err
	}
	return ast, func() {
		if err := ast.Close(); err != nil {
			slog.Error("closing the audit store", "err", err)
		}
	}, nil
}

func setupLogging(level string, w io.Writer) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	slog.SetDefault(slog.New(trace.Handler{Handler: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})}))
	return nil
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	var sf storageFlags
	sf.register(fs)
	addr := fs.String("addr", env("SPINE_ADDR", "127.0.0.1:8080"), "listen address [SPINE_ADDR]")
	dev := fs.Bool("dev", envBool("SPINE_DEV"), "development instance (dev-only conveniences) [SPINE_DEV]")
	noDemo := fs.Bool("no-demo", envBool("SPINE_NO_DEMO"), "do not load demo data into an empty database [SPINE_NO_DEMO]")
	logLevel := fs.String("log-level", env("SPINE_LOG_LEVEL", "info"), "debug, info, warn or error [SPINE_LOG_LEVEL]")
	drain := fs.Duration("drain", 15*time.Second, "how long in-flight requests may run after SIGTERM")
	publicURL := fs.String("public-url", env("SPINE_PUBLIC_URL", ""), "the URL clients reach the spine at (default http://ADDR); the token endpoint's audience [SPINE_PUBLIC_URL]")
	noAuth := fs.Bool("no-auth", false, "serve without authentication: only with --dev, for benchmarks comparing with and without")
	noAudit := fs.Bool("no-audit", false, "serve without the audit trail and monitoring: only with --dev, for benchmarks comparing with and without")
	debugAddr := fs.String("debug-addr", env("SPINE_DEBUG_ADDR", ""), "serve Go's profiler (/debug/pprof/) on this separate address, e.g. 127.0.0.1:6060; off when empty; never expose it [SPINE_DEBUG_ADDR]")
	fs.Parse(args)
	if (*noAuth || *noAudit) && !*dev {
		return errors.New("--no-auth and --no-audit are only allowed on a development instance (--dev)")
	}
	if err := setupLogging(*logLevel, os.Stderr); err != nil {
		return err
	}
	tuneGC()
	tuneProcs()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			slog.Error("closing storage", "err", err)
		}
	}()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *publicURL == "" {
		*publicURL = "http://" + ln.Addr().String()
	}
	cfg := server.Config{AuditDir: sf.data}
	if !*noAudit {
		ast, closeAudit, err := sf.openAudit(ctx, st)
		if err != nil {
			return err
		}
		defer closeAudit()
		cfg.AuditStore = ast
	}
	if *noAudit {
		cfg.AuditDir = ""
		slog.Warn("AUDIT IS OFF (--dev --no-audit): accesses to patient data are not recorded; never expose this instance")
	}
	if !*noAuth {
		var limiter auth.Limiter // in memory: SQLite serves one process
		if st.Backend() == "postgres" {
			limiter = auth.NewStoreLimiter(st) // shared by every server process
		}
		authSvc, err := auth.New(auth.Config{DataDir: sf.data, Dev: *dev, TokenURL: strings.TrimSuffix(*publicURL, "/") + "/oauth2/token",
			Authorizer: policy.Default(), Apps: auth.StoreRegistry{Store: st}, Replay: auth.StoreReplay{Store: st}, Limiter: limiter})
		if err != nil {
			return err
		}
		go authSvc.Run(ctx)
		cfg.Auth = authSvc
	} else {
		slog.Warn("AUTHENTICATION IS OFF (--dev --no-auth): every request is answered; never expose this instance")
	}
	srv, err := server.New(cfg, st)
	if err != nil {
		return err
	}
	defer srv.Close() // signs a last audit checkpoint before the store closes
	if err := srv.EnsureIndexed(ctx); err != nil {
		return err
	}
	if !*noDemo {
		loaded, err := directory.LoadDemo(ctx, srv.Directory)
		if err != nil {
			return err
		}
		if loaded {
			slog.Info("loaded the demo directory", "organizations", len(directory.DemoOrganizations), "practitioners", len(directory.DemoPractitioners))
		}
	}
	if *debugAddr != "" {
		if err := serveProfiler(ctx, *debugAddr); err != nil {
			return err
		}
	}
	srv.Run(ctx) // audit checkpoints and index, prescription expiry
	slog.Info("OpenSpine listening", "addr", ln.Addr().String(), "storage", st.Backend(), "data", sf.data, "dev", *dev, "version", engine.Version)
	// A line for scripts and tests that start the server on port 0.
	fmt.Fprintf(os.Stdout, "listening on http://%s\n", ln.Addr().String())
	if err := srv.Serve(ctx, ln, *drain); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	slog.Info("stopped")
	return nil
}

// serveGCPercent is the garbage collector's target of a serving spine
// unless GOGC says otherwise: a heap may grow to five times what is live
// before a collection. Its live heap is small (tens of MiB, the same at a
// million patients) and every request allocates, so Go's default (100)
// collects hundreds of times a second: 400 gave PDS reads about 20 % more
// throughput for about 10 MiB more memory (docs/performance.md). GOMEMLIMIT
// bounds the heap where memory is tight.
const serveGCPercent = 400

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
}

// serveProcsPerCPU is how many Go processors (Ps) a serving spine runs per
// CPU unless GOMAXPROCS says otherwise. SQLite runs in C through cgo, and
// a goroutine inside a C call (a commit writing the WAL, a page read)
// keeps its P until the runtime's monitor takes it back; with one P per
// CPU the Go code waiting to run (the woken requests, the single writer
// coming back for its next job) then waits while a CPU sits idle. Two per
// CPU let the kernel share the CPUs among them: on the 2-core machine the
// machine went from 1.55 to 1.85 cores busy and prescription cycles rose
// 18-20 %, durable creates 3-8 %, audited reads 5-8 %, unaudited reads
// unchanged (docs/performance.md, 2026-11-25T08:10Z).
const serveProcsPerCPU = 2

func tuneProcs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(serveProcsPerCPU * runtime.GOMAXPROCS(0))
	}
}

// serveProfiler serves net/http/pprof on its own listener (not on the
// service port, where it would bypass authentication) until ctx ends.
func serveProfiler(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("debug address: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	slog.Warn("Go profiler listening: keep this address private", "debug_addr", ln.Addr().String())
	return nil
}

func reindex(args []string) error {
	fs := flag.NewFlagSet("reindex", flag.ExitOnError)
	var sf storageFlags
	sf.register(fs)
	fs.Parse(args)
	if err := setupLogging("info", os.Stderr); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st, srv, err := sf.openServices(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, svc := range srv.Services() {
		for _, typ := range svc.TypeNames() {
			start := time.Now()
			n, err := svc.Reindex(ctx, typ)
			if err != nil {
				return err
			}
			fmt.Printf("%s/%s: reindexed %d resources in %s\n", svc.Name, typ, n, time.Since(start).Round(time.Millisecond))
		}
	}
	return nil
}
