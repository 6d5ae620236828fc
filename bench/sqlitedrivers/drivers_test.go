// Package sqlitedrivers compares the two SQLite drivers for Go on the
// store's own shapes of work: point reads of a body by key from a pool of
// connections, and group-committed write transactions (one resource row and
// its index rows per job, many jobs per transaction, each under a
// savepoint). It is its own module so that the spine does not depend on
// the driver it did not choose. Run:
//
//	cd bench/sqlitedrivers && go test -bench . -benchtime 3s
package sqlitedrivers

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3" // registers "sqlite3" (cgo, SQLite's C code)
	_ "modernc.org/sqlite"          // registers "sqlite" (SQLite translated to Go)
)

var drivers = []struct{ name, driver, pragmas string }{
	{"mattn", "sqlite3", "?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000"},
	{"modernc", "sqlite", "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)"},
}

const schema = `
CREATE TABLE resources (rid INTEGER PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL, version BIGINT NOT NULL, body BLOB NOT NULL, UNIQUE (type, id));
CREATE TABLE sp_string (rid BIGINT NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL, norm TEXT NOT NULL);
CREATE INDEX sp_string_value ON sp_string (type, param, norm, rid);
CREATE INDEX sp_string_rid ON sp_string (rid);`

// body is a 600-byte JSON resource, the size of a demo Organization.
var body = []byte(`{"resourceType":"Organization","id":"x","meta":{"versionId":"1","lastUpdated":"2026-11-24T20:00:00.000Z"},` +
	`"identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"AB12345"}],"active":true,` +
	`"type":[{"coding":[{"system":"https://fhir.nhs.uk/CodeSystem/organisation-role","code":"RO177","display":"PRESCRIBING COST CENTRE"}]}],` +
	`"name":"Leeds Medical Centre 12345","telecom":[{"system":"phone","value":"0113 496 0000"}],` +
	`"address":[{"line":["1 Park Row"],"city":"Leeds","postalCode":"LS1 5AB","country":"GB"}]` + strings.Repeat(" ", 160) + `}`)

func open(b *testing.B, driver, pragmas string, rows int) *sql.DB {
	b.Helper()
	db, err := sql.Open(driver, "file:"+filepath.Join(b.TempDir(), "b.db")+pragmas)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	for _, s := range strings.Split(schema, ";") {
		if strings.TrimSpace(s) != "" {
			if _, err := db.Exec(s); err != nil {
				b.Fatal(err)
			}
		}
	}
	tx, _ := db.Begin()
	for i := 0; i < rows; i++ {
		if _, err := tx.Exec("INSERT INTO resources (type, id, version, body) VALUES ('Organization', ?, 1, ?)", fmt.Sprint("org-", i), body); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkPointRead: read by id through a prepared statement from a pool
// of connections, with as many goroutines as GOMAXPROCS (the read path).
func BenchmarkPointRead(b *testing.B) {
	const rows = 100000
	for _, d := range drivers {
		b.Run(d.name, func(b *testing.B) {
			db := open(b, d.driver, d.pragmas, rows)
			db.SetMaxOpenConns(6)
			db.SetMaxIdleConns(6)
			st, err := db.Prepare("SELECT version, body FROM resources WHERE type = 'Organization' AND id = ?")
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			ctx, cancel := context.WithCancel(context.Background()) // a request's context: cancellable
			defer cancel()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var v int64
				var out []byte
				for pb.Next() {
					if err := st.QueryRowContext(ctx, fmt.Sprint("org-", rand.IntN(rows))).Scan(&v, &out); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkGroupCommit: one connection, 32 jobs per transaction, each
// under a savepoint: a resource row and 7 index rows at random places.
// One op is one job.
func BenchmarkGroupCommit(b *testing.B) {
	for _, d := range drivers {
		b.Run(d.name, func(b *testing.B) {
			db := open(b, d.driver, d.pragmas, 20000)
			db.SetMaxOpenConns(1)
			ins, _ := db.Prepare("INSERT INTO resources (type, id, version, body) VALUES ('Organization', ?, 1, ?)")
			idx, _ := db.Prepare("INSERT INTO sp_string (rid, type, param, norm) VALUES (?, 'Organization', ?, ?)")
			sp, _ := db.Prepare("SAVEPOINT job")
			rel, _ := db.Prepare("RELEASE SAVEPOINT job")
			ctx := context.Background()
			b.ResetTimer()
			for n := 0; n < b.N; {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				for j := 0; j < 32 && n < b.N; j, n = j+1, n+1 {
					tx.Stmt(sp).Exec()
					res, err := tx.Stmt(ins).Exec(fmt.Sprint("new-", n, "-", rand.Int64()), body)
					if err != nil {
						b.Fatal(err)
					}
					rid, _ := res.LastInsertId()
					for k := 0; k < 7; k++ {
						if _, err := tx.Stmt(idx).Exec(rid, fmt.Sprint("p", k), fmt.Sprint(rand.Int64())); err != nil {
							b.Fatal(err)
						}
					}
					tx.Stmt(rel).Exec()
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
