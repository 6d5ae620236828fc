package loadgen

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"

	"github.com/openspine/openspine/internal/store/storetest"
)

// TestFreshSchema: a URL without a schema gets a new one, which exists
// until drop; a URL that names one is kept, and nothing is dropped.
func TestFreshSchema(t *testing.T) {
	base := storetest.PostgresURLOrSkip(t)
	ctx := context.Background()
	got, drop, err := FreshSchema(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	if !strings.HasPrefix(schema, "bench_") {
		t.Fatalf("URL %s names no new schema", got)
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exists := func() bool {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	if !exists() {
		t.Fatalf("schema %s was not created", schema)
	}
	same, dropNothing, err := FreshSchema(ctx, got)
	if err != nil || same != got {
		t.Fatalf("a URL naming a schema became %q (%v)", same, err)
	}
	dropNothing()
	if !exists() {
		t.Fatal("the caller's schema was dropped")
	}
	drop()
	if exists() {
		t.Fatalf("schema %s is still there after drop", schema)
	}
}
