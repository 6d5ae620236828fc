// Package trace carries a request's identifiers (X-Request-ID,
// X-Correlation-ID) through its context and into every log line.
package trace

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"time"
)

type key struct{}

// IDs are the identifiers of one request.
type IDs struct {
	RequestID     string
	CorrelationID string
}

// With returns ctx carrying ids.
func With(ctx context.Context, ids IDs) context.Context { return context.WithValue(ctx, key{}, ids) }

// From returns the ids carried by ctx (zero when none).
func From(ctx context.Context) IDs {
	ids, _ := ctx.Value(key{}).(IDs)
	return ids
}

// NewUUID returns a random (version 4) UUID.
func NewUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ValidUUID reports whether s is a UUID in its text form (8-4-4-4-12
// hexadecimal digits, either case).
func ValidUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// NewTimeUUID returns a time-ordered (version 7, RFC 9562) UUID: 48 bits
// of Unix milliseconds, then random bits. Server-assigned resource ids use
// it, so that new rows land at the end of the (type, id) index instead of
// on a random page of it (fewer pages written per commit).
func NewTimeUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Handler is a slog.Handler that adds the request's ids to every record
// logged with a context that carries them.
type Handler struct{ slog.Handler }

// Handle adds request_id and correlation_id attributes.
func (h Handler) Handle(ctx context.Context, r slog.Record) error {
	if ids := From(ctx); ids.RequestID != "" {
		r.AddAttrs(slog.String("request_id", ids.RequestID))
		if ids.CorrelationID != "" {
			r.AddAttrs(slog.String("correlation_id", ids.CorrelationID))
		}
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the wrapper.
func (h Handler) WithAttrs(as []slog.Attr) slog.Handler { return Handler{h.Handler.WithAttrs(as)} }

// WithGroup keeps the wrapper.
func (h Handler) WithGroup(name string) slog.Handler { return Handler{h.Handler.WithGroup(name)} }
