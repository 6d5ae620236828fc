package idempotency_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/idempotency"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/store/storetest"
)

// Encode writes what json.Marshal writes, byte for byte (bodies without
// the characters json.Marshal escapes for HTML), and what reads back the
// same whatever the body.
func TestEncodeIsJSONMarshal(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 48, 1, 123456789, time.UTC)
	for _, a := range []idempotency.Answer{
		{Status: 201, Body: json.RawMessage(`{"resourceType":"OperationOutcome","issue":[{"code":"informational","diagnostics":"é \"q\""}]}`),
			Hash: idempotency.Hash("body"), At: at},
		{Status: 200, ID: "9000000009", Version: 3, At: at},
		{Status: 201, ID: `a"b\c` + "\u2028", Version: 1, At: at.Truncate(time.Second)},
		{Status: 409, Body: json.RawMessage(`[]`), At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))},
		{Status: 200, At: at},
	} {
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Encode(); !bytes.Equal(got, want) {
			t.Errorf("Encode\n got %s\nwant %s", got, want)
		}
	}
	// json.Marshal escapes <, > and & even inside a RawMessage; Encode
	// keeps them: the same value, read back.
	a := idempotency.Answer{Status: 200, Body: json.RawMessage(`{"div":"<p>a & b</p>"}`), At: at}
	var got, want idempotency.Answer
	ref, _ := json.Marshal(a)
	if err := json.Unmarshal(a.Encode(), &got); err != nil {
		t.Fatalf("%s: %v", a.Encode(), err)
	}
	if err := json.Unmarshal(ref, &want); err != nil {
		t.Fatal(err)
	}
	var gb, wb any
	json.Unmarshal(got.Body, &gb)
	json.Unmarshal(want.Body, &wb)
	if !reflect.DeepEqual(gb, wb) || got.Status != want.Status || !got.At.Equal(want.At) {
		t.Fatalf("read back %+v, want %+v", got, want)
	}
}

func TestRequestKey(t *testing.T) {
	key := func(method, path, id string) string {
		r := httptest.NewRequest(method, path, nil)
		r.Header.Set("X-Request-ID", id)
		return idempotency.RequestKey(r)
	}
	k := key("POST", "/a/Patient", "60E0B220-8136-4CA5-AE46-1D97EF59D068")
	if k != key("POST", "/a/Patient?x=1", "60E0B220-8136-4CA5-AE46-1D97EF59D068") {
		t.Error("the query changed the key")
	}
	for _, other := range []string{
		key("PATCH", "/a/Patient", "60E0B220-8136-4CA5-AE46-1D97EF59D068"),
		key("POST", "/a/Patients", "60E0B220-8136-4CA5-AE46-1D97EF59D068"),
		key("POST", "/a/Patient", "60E0B220-8136-4CA5-AE46-1D97EF59D069"),
	} {
		if other == k {
			t.Errorf("two requests share the key %s", k)
		}
	}
	if idempotency.Hash("ab", "c") == idempotency.Hash("a", "bc") {
		t.Error("parts moved across a border hash alike")
	}
}

// An answer is recorded once under its key, with the write it answers,
// and read back; a second record under the key is refused.
func TestRecordAndLookup(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st, _, _ := b.Open(t)
		ctx := context.Background()
		const typ = "_TestAnswer"
		if a, err := idempotency.Lookup(ctx, st, typ, "req-none"); a != nil || err != nil {
			t.Fatalf("lookup of an unknown key: %+v, %v", a, err)
		}
		// the answer carries the version the write before it got
		var version int64
		write := store.Change{Op: store.Create, Type: "Basic", ID: "b1", Render: func(v int64, _ time.Time) ([]byte, error) {
			version = v
			return []byte(`{"resourceType":"Basic","id":"b1"}`), nil
		}}
		at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		record := idempotency.Change(typ, "req-1", func() ([]byte, error) {
			a := idempotency.Answer{Status: 201, ID: "b1", Version: version, At: at}
			return a.Encode(), nil
		})
		if _, err := st.Apply(ctx, []store.Change{write, record}); err != nil {
			t.Fatal(err)
		}
		a, err := idempotency.Lookup(ctx, st, typ, "req-1")
		if err != nil || a == nil || a.Status != 201 || a.ID != "b1" || a.Version != 1 || !a.At.Equal(at) {
			t.Fatalf("lookup: %+v, %v", a, err)
		}
		// a retry: its write and its record are refused together
		again := store.Change{Op: store.Update, Type: "Basic", ID: "b1", AllowCreate: true,
			Render: func(int64, time.Time) ([]byte, error) { return []byte(`{"resourceType":"Basic","id":"b1"}`), nil }}
		_, err = st.Apply(ctx, []store.Change{idempotency.Change(typ, "req-1", func() ([]byte, error) { return []byte(`{}`), nil }), again})
		var ce *store.ChangeError
		if !errors.As(err, &ce) || ce.Index != 0 || !errors.Is(ce.Err, store.ErrExists) {
			t.Fatalf("a second record under the key: %v", err)
		}
		if rec, err := st.Read(ctx, "Basic", "b1"); err != nil || rec.Version != 1 {
			t.Fatalf("the refused retry changed the resource: version %d, %v", rec.Version, err)
		}
		// a record that cannot be read is an error, not a missing answer
		bad := idempotency.Change(typ, "req-bad", func() ([]byte, error) { return []byte(`{"status":"x"}`), nil })
		if _, err := st.Apply(ctx, []store.Change{bad}); err != nil {
			t.Fatal(err)
		}
		if a, err := idempotency.Lookup(ctx, st, typ, "req-bad"); err == nil {
			t.Fatalf("a malformed record read as %+v", a)
		}
	})
}

var uuidOracle = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func checkID(id string, set bool) error {
	r := httptest.NewRequest("GET", "/", nil)
	if set {
		r.Header["X-Request-Id"] = []string{id}
	}
	return idempotency.CheckRequestID(r)
}

func TestCheckRequestID(t *testing.T) {
	code := func(err error) string {
		var fe *fhir.Error
		if !errors.As(err, &fe) || fe.Status != 400 {
			return fmt.Sprint(err)
		}
		return fe.Code
	}
	if c := code(checkID("", false)); c != fhir.CodeMissingValue {
		t.Errorf("no X-Request-ID: %s", c)
	}
	for _, id := range []string{"not-a-uuid", "60E0B220-8136-4CA5-AE46-1D97EF59D06", "60E0B220-8136-4CA5-AE46-1D97EF59D0688",
		"60E0B220_8136-4CA5-AE46-1D97EF59D068", "60E0B220-8136-4CA5-AE46-1D97EF59D06G", "{60E0B220-8136-4CA5-AE46-1D97EF59D06}"} {
		if c := code(checkID(id, true)); c != fhir.CodeInvalidValue {
			t.Errorf("%q: %s", id, c)
		}
	}
	for _, id := range []string{"60E0B220-8136-4CA5-AE46-1D97EF59D068", "60e0b220-8136-4ca5-ae46-1d97ef59d068"} {
		if err := checkID(id, true); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
}

// The UUID check accepts exactly what the regular expression PDS used
// before accepted.
func FuzzCheckRequestID(f *testing.F) {
	for _, s := range []string{"60E0B220-8136-4CA5-AE46-1D97EF59D068", "60e0b220-8136-4ca5-ae46-1d97ef59d06g", "x", "------------------------------------"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if id == "" || strings.ContainsAny(id, "\r\n") {
			return
		}
		err := checkID(id, true)
		if want := uuidOracle.MatchString(id); (err == nil) != want {
			t.Fatalf("%q: accepted %v, the pattern says %v (%v)", id, err == nil, want, err)
		}
	})
}
