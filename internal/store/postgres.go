package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// OpenPostgres connects to PostgreSQL and creates the schema in the
// connection's search_path when missing.
func OpenPostgres(ctx context.Context, url string) (Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &sqlStore{
		d: dialect{name: "postgres", pk: "BIGSERIAL PRIMARY KEY", text: `TEXT COLLATE "C"`, blob: "BYTEA", numbered: true, forUpdate: " FOR UPDATE", least: "LEAST",
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
