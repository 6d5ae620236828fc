package audit

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/trace"
)

// Appender durably appends a record (the Log).
type Appender interface {
	Append(ctx context.Context, r *Record) error
}

// SetPrincipal tells the request's collector who is acting (called by the
// server just inside the authentication middleware).
func SetPrincipal(ctx context.Context, p *auth.Principal) {
	if c, ok := ctx.Value(collectorKey{}).(*Collector); ok && p != nil {
		c.mu.Lock()
		c.principal = p
		c.mu.Unlock()
	}
}

// bufferedWriter holds a response until its audit record is committed.
type bufferedWriter struct {
	w      http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.w.Header() }
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// statusWriter only observes the status.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}
func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Middleware audits every request under one of bases (the services that
// hold patient data): its response is buffered and released only after
// its record is durably in the log — if the record cannot be written, the
// client gets a 503 and no data. Refusals of identity (401, 403, 429) on
// any path are recorded too, for the security monitoring.
func Middleware(log Appender, bases []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, col := WithCollector(r.Context())
		inner := r.WithContext(ctx)
		audited := false
		for _, b := range bases {
			if r.URL.Path == b || strings.HasPrefix(r.URL.Path, b+"/") {
				audited = true
				break
			}
		}
		if !audited {
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, inner)
			r.Pattern = inner.Pattern
			if sw.status == http.StatusUnauthorized || sw.status == http.StatusForbidden || sw.status == http.StatusTooManyRequests {
				rec := build(inner, col, sw.status)
				if err := log.Append(ctx, rec); err != nil {
					slog.ErrorContext(ctx, "audit: could not record a refusal", "err", err)
				}
			}
			return
		}
		bw := &bufferedWriter{w: w}
		next.ServeHTTP(bw, inner)
		r.Pattern = inner.Pattern
		if bw.status == 0 {
			bw.status = http.StatusOK
		}
		rec := build(inner, col, bw.status)
		if err := log.Append(ctx, rec); err != nil {
			slog.ErrorContext(ctx, "audit: record not written; response withheld", "err", err)
			h := w.Header()
			for k := range h {
				if k != "X-Request-Id" && k != "X-Correlation-Id" {
					delete(h, k)
				}
			}
			fhir.WriteError(w, r, fhir.NewError(http.StatusServiceUnavailable, fhir.CodeServiceUnavailable, "the request could not be audited, so its result is withheld; retry with the same X-Request-ID"))
			return
		}
		w.WriteHeader(bw.status)
		w.Write(bw.body.Bytes())
	})
}

func build(r *http.Request, col *Collector, status int) *Record {
	ids := trace.From(r.Context())
	rec := &Record{Time: time.Now().UTC(), RequestID: ids.RequestID, CorrelationID: ids.CorrelationID,
		Method: r.Method, Route: r.Pattern, Status: status}
	if rec.Route == "" {
		rec.Route = r.URL.Path
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		rec.Client = host
	}
	rec.Patients, rec.Resources, rec.Subjects = col.Collected()
	col.mu.Lock()
	p := col.principal
	col.mu.Unlock()
	if p != nil {
		rec.AppID, rec.AppOrg, rec.Mode = p.AppID, p.AppOrg, p.Mode
		rec.UserID, rec.RoleProfileID, rec.JobRole, rec.OrgODS = p.UserID, p.RoleProfileID, p.JobRole, p.OrgODS
		if p.IsPatient() {
			rec.Patient = p.NHSNumber
		}
		rec.Emergency, rec.EmergencyReason, rec.RelationshipOverridden = p.Emergency, p.EmergencyReason, p.RelationshipOverridden
		rec.Service, rec.Action = p.Service, p.Action
	}
	if rec.Action == "" {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			rec.Action = "read"
		case http.MethodPost:
			rec.Action = "create"
		case http.MethodPut, http.MethodPatch:
			rec.Action = "update"
		case http.MethodDelete:
			rec.Action = "delete"
		}
	}
	if status == http.StatusUnauthorized {
		rec.Action = "authenticate"
	}
	return rec
}
