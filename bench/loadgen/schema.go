package loadgen

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// FreshSchema gives a harness run on PostgreSQL a schema of its own. A
// URL that names one (search_path) is returned as it is, with nothing to
// drop: the caller chose it (pdsbench --reuse needs the one it seeded). A
// URL that names none gets a new schema, bench_<time>_<random>, created
// here: the returned URL selects it, and drop removes it and everything in
// it (call it when the run ends, also after a failure).
func FreshSchema(ctx context.Context, db string) (schemaURL string, drop func(), err error) {
	u, err := url.Parse(db)
	if err != nil {
		return "", nil, fmt.Errorf("--db: the URL does not parse")
	}
	q := u.Query()
	if q.Get("search_path") != "" {
		return db, func() {}, nil
	}
	var b [4]byte
	rand.Read(b[:])
	schema := fmt.Sprintf("bench_%s_%s", time.Now().UTC().Format("20060102t150405"), hex.EncodeToString(b[:]))
	conn, err := sql.Open("pgx", db)
	if err != nil {
		return "", nil, err
	}
	if _, err := conn.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		conn.Close()
		return "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	fmt.Printf("postgres: schema %s created for this run (dropped at its end)\n", schema)
	return u.String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := conn.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			fmt.Printf("!! could not drop schema %s: %v\n", schema, err)
		}
		conn.Close()
	}, nil
}
