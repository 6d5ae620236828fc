// Package idempotency keeps the answer to each write a service applies,
// under keys that a retry of the write carries again: its X-Request-ID
// (RequestKey) and, for a message, the message's own identifier. The
// answer is recorded in the same store transaction as the write it
// answers, as a write-once record (Change): a key is either new or its
// write was applied, and a retry is answered with the recorded answer
// (Lookup) instead of being applied twice.
//
// Each service keeps its answers under a record type of its own and
// decides when it looks: PDS before it applies a write, EPS only once a
// write has failed on a key or on the state the first one left behind.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/trace"
)

// Answer is a recorded answer: its status and either its body as sent, or
// the resource version it sent (ID, Version), which the service reads
// again to answer.
type Answer struct {
	Status  int             `json:"status"`
	Body    json.RawMessage `json:"body,omitempty"`
	ID      string          `json:"id,omitempty"`
	Version int64           `json:"version,omitempty"`
	// Hash identifies the request's body: an answer under a message
	// identifier is given again only to the same content.
	Hash string    `json:"hash,omitempty"`
	At   time.Time `json:"at"`
}

// Encode is a's JSON as json.Marshal writes it, with Body put in as it is:
// Body must be compact, valid JSON (as fhir.Marshal makes it), which
// json.Marshal would scan once more to check and compact. Answers are
// encoded on every write, often with a whole Bundle in Body.
func (a *Answer) Encode() []byte {
	b := make([]byte, 0, len(a.Body)+len(a.ID)+160)
	b = append(b, `{"status":`...)
	b = strconv.AppendInt(b, int64(a.Status), 10)
	if len(a.Body) > 0 {
		b = append(b, `,"body":`...)
		b = append(b, a.Body...)
	}
	if a.ID != "" {
		id, _ := json.Marshal(a.ID) // a string always encodes
		b = append(b, `,"id":`...)
		b = append(b, id...)
	}
	if a.Version != 0 {
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, a.Version, 10)
	}
	if a.Hash != "" {
		b = append(b, `,"hash":"`...)
		b = append(b, a.Hash...) // hex (Hash): nothing to escape
		b = append(b, '"')
	}
	b = append(b, `,"at":"`...)
	b = a.At.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// Hash returns the hex SHA-256 of parts, each followed by a NUL byte (so
// that no two lists of parts hash alike by moving text across a border).
func Hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CheckRequestID applies the national APIs' rule for X-Request-ID, the key
// of a write and the id of every request in the logs: it is mandatory and
// a UUID. The errors are those PDS and EPS answer with.
func CheckRequestID(r *http.Request) error {
	id := r.Header.Get("X-Request-ID")
	if id == "" {
		return fhir.NewError(http.StatusBadRequest, fhir.CodeMissingValue, "Invalid request with error - X-Request-ID header must be supplied to access this resource")
	}
	if !trace.ValidUUID(id) {
		return fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidValue, "Invalid value - '%s' in header 'X-Request-ID'", id)
	}
	return nil
}

// RequestKey is the key of a request's X-Request-ID: the same id on
// another method or path is another request.
func RequestKey(r *http.Request) string {
	return "req-" + Hash(r.Method, r.URL.Path, r.Header.Get("X-Request-ID"))
}

// Change returns the store change that records, under key, the answer
// that render encodes when the write's transaction applies (after the
// changes before it in the same Apply have rendered): a write-once
// record of type typ, refused with store.ErrExists when the key was
// recorded before.
func Change(typ, key string, render func() ([]byte, error)) store.Change {
	return store.Change{Op: store.Create, Type: typ, ID: key, Unversioned: true,
		Render: func(int64, time.Time) ([]byte, error) { return render() }}
}

// Reader reads stored records (a store.Store).
type Reader interface {
	Read(ctx context.Context, typ, id string) (store.Record, error)
}

// Lookup returns the answer recorded under key, or nil if there is none.
func Lookup(ctx context.Context, st Reader, typ, key string) (*Answer, error) {
	rec, err := st.Read(ctx, typ, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var a Answer
	if err := json.Unmarshal(rec.Body, &a); err != nil {
		return nil, fmt.Errorf("recorded answer %s/%s: %w", typ, key, err)
	}
	return &a, nil
}
