// Package server assembles OpenSpine's services on one HTTP port: the
// middleware every request passes through (ids, logs, metrics, panics,
// timeouts), health endpoints, Prometheus metrics, and graceful shutdown.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/directory"
	"github.com/openspine/openspine/internal/engine"
	"github.com/openspine/openspine/internal/eps"
	"github.com/openspine/openspine/internal/monitor"
	"github.com/openspine/openspine/internal/pds"
	"github.com/openspine/openspine/internal/store"
)

// Config is what a server needs.
type Config struct {
	RequestTimeout time.Duration
	// AuditDir, when set, turns on the audit trail: its checkpoint key
	// lives in AuditDir/keys (the data folder).
	AuditDir string
	// AuditStore keeps the audit trail, its index and the monitor's
	// alerts (nil: the main store). On SQLite it is a database file of its
	// own, so that the stream of audit commits does not empty the page
	// caches of the connections reading patient data.
	AuditStore store.Store
	// Monitor configures the security monitoring of the audit stream (nil:
	// monitor.DefaultConfig()); it runs whenever the audit trail is on.
	Monitor *monitor.Config
	// Auth puts identity and authorisation in front of every service; nil
	// serves without (in-process tests of service behaviour only: spine
	// serve always sets it unless --dev --no-auth).
	Auth *auth.Service
}

// Server is the running spine.
type Server struct {
	cfg       Config
	Store     store.Store
	Directory *engine.Service
	PDS       *pds.Service
	EPS       *eps.Service
	Audit     *audit.Log
	AuditView *audit.View
	Monitor   *monitor.Monitor
	Handler   http.Handler
}

// New builds the services over st.
func New(cfg Config, st store.Store) (*Server, error) {
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	s := &Server{cfg: cfg, Store: st, Directory: directory.New(st), PDS: pds.New(st)}
	mux := http.NewServeMux()
	s.Directory.Register(mux)
	s.PDS.Register(mux)
	s.EPS = eps.New(st, epsPatients{s.PDS}, epsKeys{s.Directory})
	s.EPS.Register(mux)
	mux.HandleFunc("GET /_ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"pass","version":"` + engine.Version + `"}`))
	})
	mux.HandleFunc("GET /_status", s.handleStatus)
	mux.Handle("GET /metrics", promhttp.Handler())
	var inner http.Handler = mux
	if cfg.Auth != nil {
		cfg.Auth.Register(mux) // POST /oauth2/token, GET /.well-known/jwks.json
		// let the audit record know who acted, then authenticate
		inner = cfg.Auth.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			audit.SetPrincipal(r.Context(), auth.From(r.Context()))
			mux.ServeHTTP(w, r)
		}))
	}
	if cfg.AuditDir != "" {
		signer, err := audit.OpenSigner(cfg.AuditDir)
		if err != nil {
			return nil, err
		}
		ast := cfg.AuditStore
		if ast == nil {
			ast = st
		}
		as, ok := ast.(audit.Storage)
		if !ok {
			return nil, errors.New("the store does not keep an audit log")
		}
		if s.Audit, err = audit.NewLog(as, signer, audit.LogOptions{}); err != nil {
			return nil, err
		}
		s.Audit.Register(mux)
		s.AuditView = audit.NewView(ast.(audit.IndexStore))
		s.AuditView.Register(mux)
		mcfg := monitor.DefaultConfig()
		if cfg.Monitor != nil {
			mcfg = *cfg.Monitor
		}
		if s.Monitor, err = monitor.New(mcfg, ast, newMonitorLookups(s.PDS, s.Directory)); err != nil {
			return nil, err
		}
		s.Monitor.Register(mux)
		inner = audit.Middleware(s.Audit, []string{pds.Base, eps.Base, "/audit"}, inner)
	}
	s.Handler = Middleware(inner, cfg.RequestTimeout)
	return s, nil
}

// Run runs the background work until ctx ends: audit checkpoints and the
// audit search index, prescription expiry.
func (s *Server) Run(ctx context.Context) {
	go s.EPS.Run(ctx)
	if s.Audit == nil {
		return
	}
	go s.Audit.Run(ctx, 10*time.Second)
	go func() {
		if err := s.Monitor.Run(ctx); err != nil && ctx.Err() == nil {
			slog.Error("monitor stopped", "err", err)
		}
	}()
	observed, cancelObserved := s.Audit.Subscribe(4096)
	go func() {
		defer cancelObserved()
		for {
			select {
			case <-ctx.Done():
				return
			case r, ok := <-observed:
				if !ok {
					return
				}
				s.Monitor.Observe(r) // never blocks: the monitor queues and counts drops
			}
		}
	}()
	go s.AuditView.Follow(ctx, s.Audit)
}

// Close stops the audit log (signing a last checkpoint); close the store after it.
func (s *Server) Close() error {
	if s.Audit != nil {
		return s.Audit.Close()
	}
	return nil
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	if err := s.Store.Ping(ctx); err != nil {
		slog.ErrorContext(ctx, "status: storage unreachable", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"fail","storage":"` + s.Store.Backend() + `","detail":"storage unreachable"}`))
		return
	}
	w.Write([]byte(`{"status":"pass","storage":"` + s.Store.Backend() + `","version":"` + engine.Version + `"}`))
}

// Services lists every FHIR engine service (for reindexing).
func (s *Server) Services() []*engine.Service {
	return []*engine.Service{s.Directory, s.PDS.Engine(), s.EPS.Engine()}
}

// EnsureIndexed rebuilds the search index rows of every type whose search
// definitions changed since they were written (engine.Service.EnsureIndexed).
func (s *Server) EnsureIndexed(ctx context.Context) error {
	for _, svc := range s.Services() {
		if err := svc.EnsureIndexed(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Serve listens on ln until ctx is cancelled, then stops accepting, lets
// in-flight requests finish (up to drain) and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	srv := &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      2 * s.cfg.RequestTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	slog.Info("shutting down: draining in-flight requests", "timeout", drain.String())
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		slog.Warn("drain timed out; closing remaining connections")
		srv.Close()
	}
	<-errc
	return nil
}
