package server

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/trace"
)

var (
	httpRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "spine_http_requests_total", Help: "HTTP requests by route, method and status.",
	}, []string{"route", "method", "status"})
	httpSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "spine_http_request_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	httpPanics = promauto.NewCounter(prometheus.CounterOpts{
		Name: "spine_http_panics_total", Help: "Handler panics turned into 500 responses.",
	})
)

// recorder remembers the status written, and turns the router's own
// plain-text 404 and 405 answers into OperationOutcomes.
type recorder struct {
	http.ResponseWriter
	req     *http.Request
	status  int
	bytes   int
	swallow bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status != 0 {
		return
	}
	r.status = code
	h := r.Header()
	if (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) && strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		r.swallow = true
		h.Del("X-Content-Type-Options")
		var e *fhir.Error
		if code == http.StatusNotFound {
			e = fhir.NewError(code, fhir.CodeUnsupportedService, "there is no service at %s", r.req.URL.Path)
		} else {
			e = fhir.NewError(code, fhir.CodeMethodNotAllowed, "%s is not allowed on %s (allowed: %s)", r.req.Method, r.req.URL.Path, h.Get("Allow"))
		}
		body := fhir.Marshal(e.Outcome())
		h.Set("Content-Type", fhir.ContentType)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		r.ResponseWriter.WriteHeader(code)
		n, _ := r.ResponseWriter.Write(body)
		r.bytes += n
		return
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if r.swallow {
		return len(b), nil
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// validID accepts request and correlation ids that are safe to echo and log.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// Middleware wraps every request: ids, panics, timeout, metrics and the access log.
func Middleware(next http.Handler, requestTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ids := trace.IDs{RequestID: r.Header.Get("X-Request-ID"), CorrelationID: r.Header.Get("X-Correlation-ID")}
		rec := &recorder{ResponseWriter: w, req: r}
		h := w.Header()
		badID := ""
		if ids.RequestID == "" {
			ids.RequestID = trace.NewUUID()
		} else if !validID(ids.RequestID) {
			badID, ids.RequestID = "X-Request-ID", trace.NewUUID()
		}
		h.Set("X-Request-ID", ids.RequestID)
		if ids.CorrelationID != "" {
			if validID(ids.CorrelationID) {
				h.Set("X-Correlation-ID", ids.CorrelationID)
			} else {
				badID, ids.CorrelationID = "X-Correlation-ID", ""
			}
		}
		ctx, cancel := context.WithTimeout(trace.With(r.Context(), ids), requestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				httpPanics.Inc()
				slog.ErrorContext(ctx, "panic", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if rec.status == 0 {
					fhir.WriteError(rec, r, fhir.NewError(http.StatusInternalServerError, fhir.CodeServerError, "the server failed to process the request; it has been logged"))
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			httpRequests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
			httpSeconds.WithLabelValues(route).Observe(d.Seconds())
			if slog.Default().Enabled(ctx, slog.LevelInfo) {
				slog.InfoContext(ctx, "request", "method", r.Method, "path", r.URL.Path, "route", route, "status", status,
					"bytes", rec.bytes, "duration_ms", float64(d.Microseconds())/1000, "remote", r.RemoteAddr)
			}
		}()
		if badID != "" {
			fhir.WriteError(rec, r, fhir.Invalid("%s must be 1 to 200 letters, digits or - _ . :", badID))
			return
		}
		next.ServeHTTP(rec, r)
	})
}
