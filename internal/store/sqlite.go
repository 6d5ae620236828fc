package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"
)

const sqliteDriver = "sqlite3_spine"

func init() {
	sql.Register(sqliteDriver, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec("PRAGMA mmap_size = 134217728; PRAGMA temp_store = MEMORY", nil)
			return err
		},
	})
}

// maxBatch bounds how many write transactions share one commit.
const maxBatch = 256

type writeJob struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan error
}

// sqliteWriter owns the single write connection. Concurrent writers queue
// their transactions; the writer runs everything queued inside one database
// transaction, each job under its own savepoint (so one failing job rolls
// back alone), and answers every job only after the shared commit — one
// fsync for the whole batch (group commit).
type sqliteWriter struct {
	db      *sql.DB
	queue   chan *writeJob
	closing chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// OpenSQLite opens (creating if needed) the database file spine.db in dir.
func OpenSQLite(ctx context.Context, dir string) (Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	return openSQLiteFile(ctx, filepath.Join(dir, "spine.db"))
}

func openSQLiteFile(ctx context.Context, path string) (Store, error) {
	// The DSN is a URI: escape what would end or change the path.
	base := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path) + "?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=0"
	// The writer's page cache is scanned at every commit: keep it modest.
	wdb, err := sql.Open(sqliteDriver, base+"&_synchronous=FULL&_txlock=immediate&_cache_size=-32768")
	if err != nil {
		return nil, err
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	s := &sqlStore{d: dialect{name: "sqlite", pk: "INTEGER PRIMARY KEY", text: "TEXT", blob: "BLOB", prepare: true, least: "MIN", noIndex: "+",
		isUnique: func(err error) bool {
			var se sqlite3.Error
			return errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
		}}}
	if err := s.migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Checkpoints run beside the writer, not inside its commits.
	if _, err := wdb.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 0"); err != nil {
		wdb.Close()
		return nil, err
	}
	cdb, err := sql.Open(sqliteDriver, base)
	if err != nil {
		wdb.Close()
		return nil, err
	}
	cdb.SetMaxOpenConns(1)
	stopCheckpoints := make(chan struct{})
	checkpointsDone := make(chan struct{})
	go func() {
		defer close(checkpointsDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopCheckpoints:
				cdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
				return
			case <-t.C:
				if _, err := cdb.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
					slog.Warn("sqlite: WAL checkpoint failed", "err", err)
				}
			}
		}
	}()
	ws := &sqlStore{d: s.d, db: wdb}
	rdb, err := sql.Open(sqliteDriver, base+"&_query_only=1&_cache_size=-16384")
	if err != nil {
		wdb.Close()
		return nil, err
	}
	n := 2*runtime.GOMAXPROCS(0) + 2
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	rdb.SetConnMaxLifetime(0)
	s.db = rdb
	// Statements used inside write transactions must be prepared on the
	// write connection; keep a second store view for them.
	for _, q := range writeStatements {
		if _, err := ws.stmt(ctx, q); err != nil {
			rdb.Close()
			wdb.Close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
	}
	w := &sqliteWriter{db: wdb, queue: make(chan *writeJob, 1024), closing: make(chan struct{})}
	w.wg.Add(1)
	go w.run()
	s.write = func(ctx context.Context, fn func(tx *sql.Tx) error) error {
		return w.submit(ctx, fn)
	}
	// Writes prepare their statements on the writer's connection.
	s.writeView = ws
	var closeOnce sync.Once
	s.closeFn = func() error {
		w.close()
		closeOnce.Do(func() { close(stopCheckpoints) })
		<-checkpointsDone
		cdb.Close()
		ws.closeStmts()
		s.closeStmts()
		err1 := rdb.Close()
		err2 := wdb.Close()
		if err1 != nil {
			return err1
		}
		return err2
	}
	return s, nil
}

func (w *sqliteWriter) submit(ctx context.Context, fn func(tx *sql.Tx) error) error {
	job := &writeJob{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case w.queue <- job:
	case <-w.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, wait for the commit even if the client goes away: the
	// job's fate must be known before we answer anything.
	return <-job.done
}

func (w *sqliteWriter) close() {
	w.once.Do(func() { close(w.closing) })
	w.wg.Wait()
}

func (w *sqliteWriter) run() {
	defer w.wg.Done()
	batch := make([]*writeJob, 0, maxBatch)
	for {
		select {
		case job := <-w.queue:
			batch = append(batch[:0], job)
		case <-w.closing:
			// drain what was queued before closing
			for {
				select {
				case job := <-w.queue:
					w.commit([]*writeJob{job})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case job := <-w.queue:
				batch = append(batch, job)
			default:
				break fill
			}
		}
		w.commit(batch)
	}
}

func (w *sqliteWriter) commit(batch []*writeJob) {
	start := time.Now()
	results := make([]error, len(batch))
	tx, err := w.db.Begin()
	if err != nil {
		for _, j := range batch {
			j.done <- fmt.Errorf("begin: %w", err)
		}
		return
	}
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := tx.Exec("SAVEPOINT job"); err != nil {
			results[i] = err
			continue
		}
		if err := j.fn(tx); err != nil {
			results[i] = err
			if _, rerr := tx.Exec("ROLLBACK TO SAVEPOINT job"); rerr != nil {
				// the transaction is unusable: fail the whole batch
				tx.Rollback()
				for _, j := range batch {
					j.done <- fmt.Errorf("rollback to savepoint: %w", rerr)
				}
				return
			}
		}
		tx.Exec("RELEASE SAVEPOINT job")
	}
	if err := tx.Commit(); err != nil {
		for _, j := range batch {
			j.done <- fmt.Errorf("commit: %w", err)
		}
		return
	}
	commitBatch.Observe(float64(len(batch)))
	commitSeconds.Observe(time.Since(start).Seconds())
	for i, j := range batch {
		j.done <- results[i]
	}
}

func (s *sqlStore) closeStmts() {
	s.stmts.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
}
