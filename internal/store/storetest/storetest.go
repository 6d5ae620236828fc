// Package storetest opens fresh, isolated stores on every backend for
// tests: SQLite in a temporary folder, and PostgreSQL in a schema of its
// own (dropped afterwards) when a server is reachable. Set
// SPINE_TEST_POSTGRES to a URL to choose the server, and
// SPINE_REQUIRE_POSTGRES=1 to fail instead of skipping when it is absent.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/openspine/openspine/internal/store"
)

// DefaultPostgres is used when SPINE_TEST_POSTGRES is not set.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Backend opens a new empty store of one kind.
type Backend struct {
	Name string
	// Open returns a fresh store and the DSN that reopens the same data
	// (a data folder for SQLite, a URL for PostgreSQL).
	Open func(t testing.TB) (s store.Store, dsn, dir string)
}

// PostgresURL returns the server to test against.
func PostgresURL() string {
	if u := os.Getenv("SPINE_TEST_POSTGRES"); u != "" {
		return u
	}
	return DefaultPostgres
}

var (
	pgOnce sync.Once
	pgErr  error
)

func postgresReachable() error {
	pgOnce.Do(func() {
		db, err := sql.Open("pgx", PostgresURL())
		if err != nil {
			pgErr = err
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		pgErr = db.PingContext(ctx)
	})
	return pgErr
}

// PostgresURLOrSkip returns the server to test against, once it answers;
// when it does not, the test is skipped (said loudly), or fails when
// SPINE_REQUIRE_POSTGRES=1.
func PostgresURLOrSkip(t testing.TB) string {
	if err := postgresReachable(); err != nil {
		if os.Getenv("SPINE_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL is required but unreachable at %s: %v", PostgresURL(), err)
		}
		t.Skipf("PostgreSQL UNREACHABLE at %s (%v): PostgreSQL tests SKIPPED", PostgresURL(), err)
	}
	return PostgresURL()
}

// Run runs f once per backend as a subtest.
func Run(t *testing.T, f func(t *testing.T, b Backend)) {
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { f(t, b) })
	}
}

// Backends lists SQLite and PostgreSQL.
func Backends() []Backend {
	return []Backend{
		{Name: "sqlite", Open: func(t testing.TB) (store.Store, string, string) {
			dir := t.TempDir()
			s, err := store.OpenSQLite(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, "sqlite", dir
		}},
		{Name: "postgres", Open: func(t testing.TB) (store.Store, string, string) {
			u := NewPostgresSchema(t)
			s, err := store.OpenPostgres(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, u, t.TempDir()
		}},
	}
}

// NewPostgresSchema creates an empty schema for this test and returns a
// URL whose search_path points at it; the schema is dropped at cleanup.
// It skips (or fails, under SPINE_REQUIRE_POSTGRES=1) when no server answers.
func NewPostgresSchema(t testing.TB) string {
	PostgresURLOrSkip(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
		db.Close()
	})
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return fmt.Sprint(u)
}
