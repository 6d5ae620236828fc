package audit_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/store/storetest"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The log over the real store (SQLite; PostgreSQL when one answers), its
// rows then altered directly in the database, as an intruder would.
func TestStoreTampering(t *testing.T) {
	cases := []struct {
		name   string
		sql    []string // ? is a forged body (it says it is record `forged`), ?? its leaf hash
		first  int64
		end    int64
		forged int64
	}{
		{"intact", nil, -1, 0, 0},
		{"body changed", []string{"UPDATE audit_log SET body = ? WHERE idx = 37"}, 37, 38, 37},
		{"body and leaf changed", []string{"UPDATE audit_log SET body = ?, leaf = ?? WHERE idx = 37"}, 30, 40, 37},
		{"deleted", []string{"DELETE FROM audit_log WHERE idx = 42"}, 42, 43, 0},
		{"deleted and renumbered", []string{"DELETE FROM audit_log WHERE idx = 42",
			"UPDATE audit_log SET idx = idx + 1000000 WHERE idx > 42", "UPDATE audit_log SET idx = idx - 1000001 WHERE idx >= 1000000"}, 42, 43, 0},
		{"inserted", []string{"UPDATE audit_log SET idx = idx + 1000000 WHERE idx >= 55", "UPDATE audit_log SET idx = idx - 999999 WHERE idx >= 1000000",
			"INSERT INTO audit_log (idx, body, leaf) VALUES (55, ?, ??)"}, 55, 56, 55},
		{"swapped", []string{"UPDATE audit_log SET idx = -1 WHERE idx = 61", "UPDATE audit_log SET idx = 61 WHERE idx = 64", "UPDATE audit_log SET idx = 64 WHERE idx = -1"}, 61, 62, 0},
	}
	// one subtest name per backend and case: a repeated name gets "#01",
	// and SQLite would read the '#' of the folder name as a URI fragment
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s, dsn, dir := b.Open(t)
				st, ok := s.(audit.Storage)
				if !ok {
					t.Fatal("the store does not implement audit.Storage")
				}
				if n, _ := st.LogSize(context.Background()); n != 0 {
					t.Fatalf("fresh store (%s, %s) holds %d records", dsn, dir, n)
				}
				signer, err := audit.OpenSigner(dir)
				if err != nil {
					t.Fatal(err)
				}
				l, err := audit.NewLog(st, signer, audit.LogOptions{})
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				for i := 0; i < 100; i++ {
					r := &audit.Record{Time: time.Now(), RequestID: "r", Service: "pds", Action: "read", Method: "GET", Route: "/Patient/{id}", Status: 200, Patients: []string{"9000000009"}}
					if err := l.Append(ctx, r); err != nil || r.Index != int64(i) {
						t.Fatalf("append %d: index %d, %v", i, r.Index, err)
					}
					if i%10 == 9 {
						if _, err := l.Checkpoint(ctx); err != nil {
							t.Fatal(err)
						}
					}
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				if len(tc.sql) > 0 {
					alter(t, dsn, dir, tc.sql, tc.forged)
				}
				rep, err := audit.Verify(ctx, st, signer.PublicKey())
				if err != nil {
					t.Fatal(err)
				}
				if tc.first < 0 {
					if !rep.OK() || rep.Sealed != 100 {
						t.Fatalf("intact log:\n%s", rep)
					}
					return
				}
				if rep.OK() || rep.FirstBad == nil || rep.FirstBad.Index != tc.first || rep.FirstBad.End != tc.end {
					t.Fatalf("want the first bad record in [%d, %d):\n%s", tc.first, tc.end, rep)
				}
			})
		}
	})
}

// alter runs the statements on the database directly.
func alter(t *testing.T, dsn, dir string, stmts []string, index int64) {
	var db *sql.DB
	var err error
	pg := strings.HasPrefix(dsn, "postgres")
	if pg {
		db, err = sql.Open("pgx", dsn)
	} else {
		db, err = sql.Open("sqlite3_spine", "file:"+filepath.Join(dir, "spine.db")+"?_busy_timeout=10000")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	body, _ := json.Marshal(&audit.Record{Index: index, Service: "pds", Action: "search", Status: 200})
	leaf := rfc6962.DefaultHasher.HashLeaf(body)
	for _, s := range stmts {
		var args []any
		if strings.Contains(s, "?") {
			args = append(args, body)
			if strings.Contains(s, "??") {
				args = append(args, leaf)
				s = strings.Replace(s, "??", "$2", 1)
			}
			s = strings.Replace(s, "?", "$1", 1)
		}
		if _, err := db.Exec(s, args...); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// BenchmarkAppendSQLite: parallel callers over the real store (fsync'd
// commits, group-committed twice: by the Log and by the store's writer).
func BenchmarkAppendSQLite(b *testing.B) {
	s, _, dir := storetest.Backends()[0].Open(b)
	signer, _ := audit.OpenSigner(dir)
	l, err := audit.NewLog(s.(audit.Storage), signer, audit.LogOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := &audit.Record{Time: time.Now(), RequestID: "r", Service: "pds", Action: "read", Method: "GET", Route: "/Patient/{id}", Status: 200, Patients: []string{"9000000009"}}
			if err := l.Append(context.Background(), r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// openStoreLog opens an audit log over a test store with the signer kept
// in dir; it is closed at the test's end.
func openStoreLog(t *testing.T, s store.Store, dir string) *audit.Log {
	t.Helper()
	signer, err := audit.OpenSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.NewLog(s.(audit.Storage), signer, audit.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// The audit index over the real store: records handed to Index with gaps
// (a subscription that dropped some), repeats and out of turn are all
// indexed exactly once, the indexed-through mark never passes a record
// whose keys are missing, and a search's catch-up indexes the rest.
func TestViewIndexFollowsTheLogThroughGaps(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _, dir := b.Open(t)
		ctx := context.Background()
		l := openStoreLog(t, s, dir)
		var recs []audit.Record
		for i := 0; i < 40; i++ {
			nhs := []string{"9000000009", "9000000017", "9000000025"}[i%3]
			r := &audit.Record{Time: time.Now(), RequestID: "r", Service: "pds", Action: "read", Method: "GET", Route: "/Patient/{id}", Status: 200, Patients: []string{nhs}, UserID: "u1"}
			if err := l.Append(ctx, r); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, *r)
		}
		ist := s.(audit.IndexStore)
		v := audit.NewView(ist)
		lookup := func(key string) []int64 {
			idxs, err := ist.AuditLookup(ctx, key, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			return idxs
		}
		mark := func() int64 {
			n, err := ist.AuditIndexed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if err := v.Index(ctx, recs[0:10]); err != nil {
			t.Fatal(err)
		}
		if got := len(lookup("agent:u1")); got != 10 || mark() != 10 {
			t.Fatalf("after 10: %d keyed, mark %d", got, mark())
		}
		// 10..19 never delivered; 20..29 arrive: the gap is read from the log
		if err := v.Index(ctx, recs[20:30]); err != nil {
			t.Fatal(err)
		}
		if got := len(lookup("agent:u1")); got != 30 || mark() != 30 {
			t.Fatalf("after the gap: %d keyed, mark %d; want 30, 30", got, mark())
		}
		// a repeat of indexed records and a batch with a hole inside
		if err := v.Index(ctx, recs[25:30]); err != nil {
			t.Fatal(err)
		}
		if err := v.Index(ctx, append(append([]audit.Record{}, recs[30:33]...), recs[35:37]...)); err != nil {
			t.Fatal(err)
		}
		if got := len(lookup("agent:u1")); got != 37 || mark() != 37 {
			t.Fatalf("after a holed batch: %d keyed, mark %d; want 37, 37", got, mark())
		}
		// the rest only through a search's catch-up; a second view (another
		// process) starts from the stored mark
		if err := audit.NewView(ist).Catchup(ctx); err != nil {
			t.Fatal(err)
		}
		if got := len(lookup("agent:u1")); got != 40 || mark() != 40 {
			t.Fatalf("after catch-up: %d keyed, mark %d; want 40, 40", got, mark())
		}
		want := 0
		for _, r := range recs {
			if r.Patients[0] == "9000000017" {
				want++
			}
		}
		if got := lookup("patient:9000000017"); len(got) != want || got[0] <= got[len(got)-1] {
			t.Fatalf("patient key: %v (want %d, newest first)", got, want)
		}
	})
}

// Follow indexes what was appended before it started (its catch-up) and
// what is appended while it runs (its subscription), a second behind.
func TestViewFollowIndexesTheLogAsItGrows(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _, dir := b.Open(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		l := openStoreLog(t, s, dir)
		appendN := func(n int, user string) {
			for i := 0; i < n; i++ {
				r := &audit.Record{Time: time.Now(), RequestID: "r", Service: "pds", Action: "read", Method: "GET", Route: "/Patient/{id}", Status: 200, Patients: []string{"9000000009"}, UserID: user}
				if err := l.Append(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
		}
		appendN(25, "before")
		ist := s.(audit.IndexStore)
		done := make(chan struct{})
		go func() {
			defer close(done)
			audit.NewView(ist).Follow(ctx, l)
		}()
		appendN(15, "during")
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, err := ist.AuditIndexed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 40 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("indexed through %d of 40 after 10 s", n)
			}
			time.Sleep(50 * time.Millisecond)
		}
		for key, want := range map[string]int{"agent:before": 25, "agent:during": 15, "patient:9000000009": 40} {
			if idxs, err := ist.AuditLookup(ctx, key, 0, 100); err != nil || len(idxs) != want {
				t.Fatalf("%s: %d records, want %d (%v)", key, len(idxs), want, err)
			}
		}
		cancel()
		<-done // Follow returns when its context ends
	})
}

// Two spine processes on one PostgreSQL database append to one audit log
// at the same time: every append succeeds (none is refused because the
// other process appended first), each process's tree follows the stored
// log, and the log verifies.
func TestTwoProcessesAppendToOnePostgresLog(t *testing.T) {
	u := storetest.NewPostgresSchema(t)
	ctx := context.Background()
	dir := t.TempDir()
	signer, err := audit.OpenSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	var logs []*audit.Log
	var st audit.Storage
	for range 2 {
		s, err := store.OpenPostgres(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		st = s.(audit.Storage)
		l, err := audit.NewLog(st, signer, audit.LogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		logs = append(logs, l)
	}
	const perWorker, workers = 40, 8
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := range workers {
		l := logs[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				r := &audit.Record{Time: time.Now(), RequestID: "r", Service: "pds", Action: "read", Method: "GET", Route: "/Patient/{id}", Status: 200, Patients: []string{"9000000009"}}
				if err := l.Append(ctx, r); err != nil {
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d appends failed", n, perWorker*workers)
	}
	for i, l := range logs {
		if _, err := l.Checkpoint(ctx); err != nil {
			t.Fatalf("process %d: checkpoint: %v", i, err)
		}
	}
	if size, _ := logs[0].Root(); size != perWorker*workers {
		t.Fatalf("log size %d, want %d", size, perWorker*workers)
	}
	rep, err := audit.Verify(ctx, st, signer.PublicKey())
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v\n%v", err, rep)
	}
}

// The first index batch's keys go in jobs sorted by key; a crash after the
// first job leaves some keys (agents, actions) and no indexed-through mark.
// The mark must then read 0, not the highest key's record: the patients'
// keys, in the lost job, are written by the next catch-up.
func TestIndexCatchesUpAfterACrashInItsFirstBatch(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, dsn, dir := b.Open(t)
		ctx := context.Background()
		l := openStoreLog(t, s, dir)
		for i := 0; i < 30; i++ {
			r := &audit.Record{Time: time.Now(), RequestID: "r", Service: "pds", Action: "read", Method: "GET", Route: "/Patient/{id}", Status: 200, Patients: []string{"9000000009"}, UserID: "u1"}
			if err := l.Append(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		driver, source := "pgx", dsn
		if b.Name == "sqlite" {
			driver, source = "sqlite3", filepath.Join(dir, "spine.db")
		}
		db, err := sql.Open(driver, source)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for i := 0; i < 30; i++ { // the first job: the agent keys only
			if _, err := db.Exec("INSERT INTO audit_index (key, idx) VALUES ('agent:u1', " + strconv.Itoa(i) + ")"); err != nil {
				t.Fatal(err)
			}
		}
		ist := s.(audit.IndexStore)
		if mark, err := ist.AuditIndexed(ctx); err != nil || mark != 0 {
			t.Fatalf("mark %d with no completed batch (%v)", mark, err)
		}
		if err := audit.NewView(ist).Catchup(ctx); err != nil {
			t.Fatal(err)
		}
		if idxs, err := ist.AuditLookup(ctx, "patient:9000000009", 0, 100); err != nil || len(idxs) != 30 {
			t.Fatalf("patient key on %d records after the catch-up, want 30 (%v)", len(idxs), err)
		}
	})
}

// shortLeaves reads one record fewer than asked, as a log that lost its
// last record would.
type shortLeaves struct{ audit.IndexStore }

func (s shortLeaves) Leaves(ctx context.Context, from, to int64) ([][]byte, error) {
	b, err := s.IndexStore.Leaves(ctx, from, to)
	if len(b) > 0 {
		b = b[:len(b)-1]
	}
	return b, err
}

// A catch-up that reads fewer records than the log's size fails and leaves
// the indexed-through mark where it was.
func TestIndexCatchupRefusesAShortRead(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _, dir := b.Open(t)
		ctx := context.Background()
		l := openStoreLog(t, s, dir)
		for i := 0; i < 5; i++ {
			if err := l.Append(ctx, &audit.Record{Time: time.Now(), RequestID: "r", Service: "pds", Action: "read", Patients: []string{"9000000009"}}); err != nil {
				t.Fatal(err)
			}
		}
		ist := s.(audit.IndexStore)
		if err := audit.NewView(shortLeaves{ist}).Catchup(ctx); err == nil {
			t.Fatal("a catch-up over a short read succeeded")
		}
		if mark, err := ist.AuditIndexed(ctx); err != nil || mark != 0 {
			t.Fatalf("mark %d after a short read (%v)", mark, err)
		}
	})
}
