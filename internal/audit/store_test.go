package audit_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openspine/openspine/internal/audit"
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
