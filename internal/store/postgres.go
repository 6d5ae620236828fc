package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// defaultPoolConns is how many connections a spine process opens to
// PostgreSQL at most, unless its URL says otherwise (pool_max_conns): two
// per Go processor (spine serve runs two per CPU), at least 4, at most 64.
// More busy backends than the server's cores do not add throughput: on a
// 2-core machine shared with PostgreSQL, 8 connections ran 109–135
// prescription cycles/s and PDS reads +19–39 %, where 32 ran 86–95
// (docs/performance.md, 2026-11-25T13:15Z).
func defaultPoolConns() int {
	return min(max(4, 2*runtime.GOMAXPROCS(0)), 64)
}

// poolSize takes the spine's own pool_max_conns parameter (the name
// pgxpool gives it) out of a PostgreSQL URL, so that the rest goes to the
// driver, and returns it: defaultPoolConns when absent, an error when it
// is not a number from 1 to 1000.
func poolSize(raw string) (string, int, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// not the URL itself: it may hold a password
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", 0, fmt.Errorf("postgres: the database URL does not parse: %v", err)
	}
	q := u.Query()
	v, ok := q["pool_max_conns"]
	if !ok {
		return raw, defaultPoolConns(), nil
	}
	n, err := strconv.Atoi(v[len(v)-1])
	if err != nil || n < 1 || n > 1000 {
		return "", 0, fmt.Errorf("postgres: pool_max_conns=%q: want a number of connections from 1 to 1000", v[len(v)-1])
	}
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	return u.String(), n, nil
}

// OpenPostgres connects to PostgreSQL and creates the schema in the
// connection's search_path when missing. The URL may set the most
// connections the process opens with pool_max_conns (default:
// defaultPoolConns).
func OpenPostgres(ctx context.Context, dsn string) (Store, error) {
	dsn, conns, err := poolSize(dsn)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &sqlStore{
		d: dialect{name: "postgres", pk: "BIGSERIAL PRIMARY KEY", text: `TEXT COLLATE "C"`, blob: "BYTEA", numbered: true, least: "LEAST",
			isUnique: func(err error) bool {
				var pe *pgconn.PgError
				return errors.As(err, &pe) && pe.Code == "23505"
			}},
		db: db,
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// Serialise schema creation between processes starting together.
	err = s.txWrite(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(7263541)"); err != nil {
			return err
		}
		return s.migrate(ctx, tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s.write = s.txWrite
	s.writeView = s
	s.lockType = func(ctx context.Context, tx *sql.Tx, typ string) error {
		_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "create:"+typ)
		return err
	}
	s.closeFn = db.Close
	slog.Info("postgres: connected", "pool_max_conns", conns)
	return s, nil
}

// txWrite runs fn in its own transaction, retrying on serialisation
// failures, deadlocks and unique violations (a concurrent create of the
// same id: the retry then sees the row).
func (s *sqlStore) txWrite(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		start := time.Now()
		var tx *sql.Tx
		tx, err = s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err = fn(ctx, tx); err != nil {
			tx.Rollback()
		} else if err = tx.Commit(); err == nil {
			commitSeconds.Observe(time.Since(start).Seconds())
			return nil
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != "40001" && pe.Code != "40P01" && pe.Code != "23505") {
			return err
		}
	}
	return err
}
