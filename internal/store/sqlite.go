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
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/prometheus/client_golang/prometheus"
)

const sqliteDriver = "sqlite3_spine"

func init() {
	sql.Register(sqliteDriver, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			// No memory map: after any commit SQLite unmaps the whole
			// window at the next read transaction (munmap, then a page
			// fault per page touched), which costs more than pread.
			_, err := c.Exec("PRAGMA mmap_size = 0; PRAGMA temp_store = MEMORY", nil)
			return err
		},
	})
}

// A checkpoint copies the write-ahead log's pages into the database file
// every checkpointEvery without stopping anyone (PASSIVE). Under a steady
// stream of writes that never lets the log start again from its beginning
// (SQLite restarts it only when it was copied whole and no reader uses
// it), so it grew without bound: 48 GB during a reindex of a million
// patients, and every read searched a larger log index. Past walLimit the
// checkpoint is RESTART: the writer pauses between two transactions for
// it, and it waits for the readers in flight, copies what PASSIVE had not copied yet, and
// makes the next write start the log again from its beginning; the file
// is kept (at most walLimit: journal_size_limit), so the log's blocks are
// reused, not freed and allocated again. (TRUNCATE, which empties the
// file, held durable creates back: p99 190 ms instead of 47 ms.)
var (
	checkpointEvery       = 250 * time.Millisecond
	walLimit        int64 = 256 << 20
)

func checkpoint(cdb *sql.DB, w *sqliteWriter) {
	mode := "PASSIVE"
	if fi, err := os.Stat(w.walPath); err == nil && fi.Size() > walLimit {
		mode = "RESTART"
	}
	var busy, frames, copied int
	run := func() error {
		return cdb.QueryRow("PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied)
	}
	var err error
	if mode == "RESTART" {
		// the writer holds a transaction open nearly all the time (see
		// sqliteWriter): it pauses between two for the restart
		err = w.paused(run)
	} else {
		err = run()
	}
	if errors.Is(err, ErrClosed) {
		return
	}
	if err != nil {
		slog.Warn("sqlite: WAL checkpoint failed", "mode", mode, "err", err)
		return
	}
	walCheckpoints.WithLabelValues(mode).Inc()
	if busy != 0 && mode == "RESTART" {
		slog.Warn("sqlite: the write-ahead log could not be restarted (readers or the writer busy for the whole busy timeout)", "frames", frames, "copied", copied)
	}
}

// maxBatch bounds how many write transactions share one commit.
const maxBatch = 256

type writeJob struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	then func(error) // called once with the outcome: durable (nil) or failed
	// atCommit: run last in its transaction, at the commit, rather than on
	// arrival (see enqueueThen)
	atCommit bool
}

// finish answers the job.
func (j *writeJob) finish(err error) { j.then(err) }

// sqliteWriter owns the single write connection. Concurrent writers queue
// their transactions (jobs); the writer runs each as it comes inside one
// open database transaction, and commits it as soon as the syncer is idle:
// the commit writes the batch to the write-ahead log without waiting for
// the disk; the syncer then makes the log durable (fdatasync) and only then
// answers the batch's jobs. So while the syncer waits for the disk the
// writer already runs what arrives, and each fsync covers one transaction
// holding everything that arrived during the previous one (group commit):
// a page that several writes change is written once per fsync. Jobs that
// say so (enqueueThen: the audit log's appends, which gather every record
// waiting when they run) run last, at the commit.
type sqliteWriter struct {
	db        *sql.DB
	walPath   string
	queue     chan *writeJob
	synced    chan *syncItem
	closing   chan struct{}
	savepoint *sql.Stmt
	release   *sql.Stmt
	rollback  *sql.Stmt
	wg        sync.WaitGroup
	once      sync.Once
	// failed is set when the log could not be made durable: from then on
	// every write is refused (the kernel may have dropped the unsynced
	// pages, so a later fsync proves nothing; restart to recover).
	failed atomic.Pointer[error]
	thread atomic.Int64 // the OS thread the writer runs on (0: not known)
	// unsynced counts the committed batches not yet durable; the syncer
	// signals round when its fsync has made some durable
	unsynced atomic.Int32
	round    chan struct{}
	pause    chan *pauseRequest // see paused
	// metrics of this database file
	fsyncs, batchSizes prometheus.Observer
	busy               prometheus.Counter
}

// syncItem is a committed batch waiting for its fsync.
type syncItem struct {
	jobs    []*writeJob
	results []error
	start   time.Time
}

// OpenSQLite opens (creating if needed) the database file spine.db in dir.
func OpenSQLite(ctx context.Context, dir string) (Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	return openSQLiteFile(ctx, filepath.Join(dir, "spine.db"))
}

// OpenSQLiteAudit opens (creating if needed) audit.db in dir: the
// database that keeps the audit trail (and the resources of auditTypes,
// the monitor's alerts) apart from spine.db. In WAL mode every commit to a
// database empties the page cache of each connection reading it; audit
// records are committed all the time, so in the same file they would make
// every patient-data read start cold.
//
// A folder whose trail is still in spine.db (the layout before audit.db)
// has it moved into the new audit.db on first open, in one transaction,
// and then removed from spine.db.
func OpenSQLiteAudit(ctx context.Context, dir string, auditTypes []string) (Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	path := filepath.Join(dir, "audit.db")
	_, statErr := os.Stat(path)
	st, err := openSQLiteFile(ctx, path)
	if err != nil {
		return nil, err
	}
	if os.IsNotExist(statErr) {
		if err := moveAuditTrail(ctx, filepath.Join(dir, "spine.db"), path, auditTypes); err != nil {
			st.Close()
			os.Remove(path)
			return nil, fmt.Errorf("moving the audit trail from spine.db to audit.db: %w", err)
		}
	}
	return st, nil
}

// moveAuditTrail copies the audit tables and the resources of types from
// the main database into the (new, empty) audit database, then deletes
// them from the main one. The copy is one transaction of the audit
// database: if it fails, nothing is moved; if the deletion fails, the main
// database keeps unused copies (and says so in the log).
func moveAuditTrail(ctx context.Context, mainPath, auditPath string, types []string) error {
	if _, err := os.Stat(mainPath); err != nil {
		return nil
	}
	escape := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	db, err := sql.Open(sqliteDriver, "file:"+escape.Replace(auditPath)+"?_busy_timeout=10000&_txlock=immediate")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS old", mainPath); err != nil {
		return err
	}
	var n int64
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM old.audit_log").Scan(&n); err != nil {
		return fmt.Errorf("read the old audit trail: %w", err)
	}
	typeList := "''"
	var args []any
	if len(types) > 0 {
		typeList = placeholders(len(types))
		for _, t := range types {
			args = append(args, t)
		}
	}
	typed := "type IN (" + typeList + ")"
	copies := []string{
		"INSERT INTO audit_log SELECT * FROM old.audit_log",
		"INSERT INTO audit_index SELECT * FROM old.audit_index",
		"INSERT INTO audit_checkpoints SELECT * FROM old.audit_checkpoints",
		"INSERT INTO resources (type, id, version, ts, deleted, body) SELECT type, id, version, ts, deleted, body FROM old.resources WHERE " + typed,
		"INSERT INTO versions (type, id, version, ts, deleted, body) SELECT type, id, version, ts, deleted, body FROM old.versions WHERE " + typed + " ORDER BY seq",
	}
	// inTx runs stmts in one transaction; the last two take the type list.
	inTx := func(stmts []string) error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for i, q := range stmts {
			var err error
			if i < 3 {
				_, err = tx.ExecContext(ctx, q)
			} else {
				_, err = tx.ExecContext(ctx, q, args...)
			}
			if err != nil {
				tx.Rollback()
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return tx.Commit()
	}
	if err := inTx(copies); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(auditPath)); err != nil {
		return err
	}
	err = inTx([]string{"DELETE FROM old.audit_log", "DELETE FROM old.audit_index", "DELETE FROM old.audit_checkpoints",
		"DELETE FROM old.versions WHERE " + typed, "DELETE FROM old.resources WHERE " + typed})
	if err != nil {
		slog.Warn("audit trail moved to audit.db; its old copy in spine.db could not be removed (it is not used)", "err", err)
	}
	slog.Info("moved the audit trail from spine.db to audit.db", "records", n)
	return nil
}

func openSQLiteFile(ctx context.Context, path string) (Store, error) {
	// The DSN is a URI: escape what would end or change the path.
	base := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path) + "?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=0"
	// The writer's page cache is scanned at every commit: keep it modest.
	// synchronous=NORMAL: a commit does not fsync the log itself; the
	// writer's syncer does, before any job of the batch is answered.
	wdb, err := sql.Open(sqliteDriver, base+"&_synchronous=NORMAL&_txlock=immediate&_cache_size=-32768")
	if err != nil {
		return nil, err
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	s := &sqlStore{d: dialect{name: "sqlite", pk: "INTEGER PRIMARY KEY", text: "TEXT", blob: "BLOB", clustered: " WITHOUT ROWID", prepare: true, least: "MIN", noIndex: "+",
		isUnique: func(err error) bool {
			var se sqlite3.Error
			return errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
		}}}
	if err := s.migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Checkpoints run beside the writer, not inside its commits.
	if _, err := wdb.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = %d", walLimit)); err != nil {
		wdb.Close()
		return nil, err
	}
	cdb, err := sql.Open(sqliteDriver, base)
	if err != nil {
		wdb.Close()
		return nil, err
	}
	cdb.SetMaxOpenConns(1)
	ws := &sqlStore{d: s.d, db: wdb}
	rdb, err := sql.Open(sqliteDriver, base+"&_query_only=1&_cache_size=-16384")
	if err != nil {
		wdb.Close()
		return nil, err
	}
	// One reading connection per Go processor, and two more: each
	// connection has its own page cache, and more of them, each seeing a
	// smaller share of the reads, ran fewer (on 2 cores, 4 Ps: 6
	// connections 14,735-14,751 PDS reads/s and 468-476 prescription
	// cycles/s, 10 connections 8,558-12,424 and 395-471;
	// docs/performance.md, 2026-11-25T13:35Z).
	n := runtime.GOMAXPROCS(0) + 2
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
	w := &sqliteWriter{db: wdb, walPath: path + "-wal", queue: make(chan *writeJob, 1024), synced: make(chan *syncItem, maxBatch), closing: make(chan struct{}), round: make(chan struct{}, 1), pause: make(chan *pauseRequest),
		fsyncs: fsyncSeconds.WithLabelValues(filepath.Base(path)), batchSizes: commitBatch.WithLabelValues(filepath.Base(path)),
		busy: writerBusy.WithLabelValues(filepath.Base(path))}
	for q, st := range map[string]**sql.Stmt{"SAVEPOINT job": &w.savepoint, "RELEASE SAVEPOINT job": &w.release, "ROLLBACK TO SAVEPOINT job": &w.rollback} {
		if *st, err = wdb.PrepareContext(ctx, q); err != nil {
			rdb.Close()
			wdb.Close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
	}
	// The log file exists from the first write on (the schema); make its
	// directory entry durable once.
	if err := syncDir(filepath.Dir(path)); err != nil {
		rdb.Close()
		wdb.Close()
		return nil, err
	}
	w.wg.Add(2)
	go w.run()
	go w.syncLoop()
	stopCheckpoints := make(chan struct{})
	checkpointsDone := make(chan struct{})
	go func() {
		defer close(checkpointsDone)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-stopCheckpoints:
				cdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
				return
			case <-t.C:
				checkpoint(cdb, w)
			}
		}
	}()
	s.write = w.submit
	s.enqueue = w.enqueueThen
	s.sqlite = w
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

func (w *sqliteWriter) submit(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	wait, err := w.enqueue(ctx, fn)
	if err != nil {
		return err
	}
	return wait()
}

// enqueue queues a job, run as it arrives. Once queued, the job's fate
// must be known before anything is answered: wait returns only when it is
// durable or failed, even if the client has gone.
func (w *sqliteWriter) enqueue(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) (func() error, error) {
	done := make(chan error, 1)
	if err := w.put(&writeJob{ctx: ctx, fn: fn, then: func(err error) { done <- err }}); err != nil {
		return nil, err
	}
	return func() error { return <-done }, nil
}

// enqueueThen queues a job that runs last in its transaction, at the
// commit (so that what it gathers, such as the audit records waiting, is
// as much as possible), and whose outcome is handed to then, called once,
// on the writer's syncing goroutine (it must not block), when the job is
// durable or has failed. Such jobs run, and their outcomes come, in the
// order they were queued.
func (w *sqliteWriter) enqueueThen(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error, then func(error)) error {
	return w.put(&writeJob{ctx: ctx, fn: fn, then: then, atCommit: true})
}

func (w *sqliteWriter) put(job *writeJob) error {
	if err := w.failed.Load(); err != nil {
		return *err
	}
	select {
	case w.queue <- job:
		return nil
	case <-w.closing:
		return ErrClosed
	case <-job.ctx.Done():
		return job.ctx.Err()
	}
}

func (w *sqliteWriter) close() {
	w.once.Do(func() { close(w.closing) })
	w.wg.Wait()
	w.savepoint.Close()
	w.release.Close()
	w.rollback.Close()
}

func (w *sqliteWriter) run() {
	// Every write of the database goes through this goroutine: keep it on
	// one thread and ask the OS to run that thread before the request
	// handlers' (raiseWriterPriority). The thread is never unlocked, so it
	// ends with the goroutine instead of serving others at its priority.
	runtime.LockOSThread()
	w.thread.Store(int64(raiseWriterPriority(strings.TrimSuffix(w.walPath, "-wal"))))
	defer w.wg.Done()
	defer close(w.synced)
	var t *openTxn
	for {
		// commit what ran as soon as nothing committed waits for the disk
		if t != nil && (w.unsynced.Load() == 0 || t.broken) {
			w.commit(t)
			t = nil
			continue
		}
		queue, round := w.queue, w.round
		if t == nil {
			round = nil
		} else if t.size() >= maxBatch {
			queue = nil
		}
		select {
		case job := <-queue:
			if t == nil {
				t = &openTxn{start: time.Now()}
			}
			w.add(t, job)
		case <-round:
		case req := <-w.pause:
			if t != nil {
				w.commit(t)
				t = nil
			}
			close(req.paused)
			<-req.resume
		case <-w.closing:
			if t != nil {
				w.commit(t)
			}
			// drain what was queued before closing, one job at a time
			for {
				select {
				case job := <-w.queue:
					t := &openTxn{start: time.Now()}
					w.add(t, job)
					w.commit(t)
				default:
					return
				}
			}
		}
	}
}

// pauseRequest asks the writer to stop between two transactions.
type pauseRequest struct {
	paused, resume chan struct{}
}

// paused runs fn while the writer holds no transaction (it commits the
// one it has open and waits): for what needs the database without a
// writer, such as restarting the write-ahead log. ErrClosed if the writer
// has stopped.
func (w *sqliteWriter) paused(fn func() error) error {
	req := &pauseRequest{paused: make(chan struct{}), resume: make(chan struct{})}
	select {
	case w.pause <- req:
	case <-w.closing:
		return ErrClosed
	}
	<-req.paused
	defer close(req.resume)
	return fn()
}

// answer fails every job of the batch with err.
func answer(batch []*writeJob, err error) {
	for _, j := range batch {
		j.finish(err)
	}
}

// openTxn is the writer's open transaction and the jobs run in it.
type openTxn struct {
	tx       *sql.Tx // opened by the first job run
	jobs     []*writeJob
	results  []error
	deferred []*writeJob // jobs to run at the commit (atCommit)
	start    time.Time   // the first job's arrival
	busy     time.Duration
	// savepoints: each job runs under its own, so that a failing one rolls
	// back alone. A transaction starts without: inside one, SQLite keeps
	// the original of every page a job changes in a statement journal, and
	// frees it at the release (several % of the writer's time). Should a
	// job fail, the transaction is rolled back and its jobs run again, from
	// then on each under a savepoint. (A job alone in it rolls back only
	// itself.)
	savepoints                   bool
	savepoint, release, rollback *sql.Stmt
	broken                       bool // unusable: commit it at once (it fails)
	err                          error
}

func (t *openTxn) size() int { return len(t.jobs) + len(t.deferred) }

func (t *openTxn) open(w *sqliteWriter) error {
	tx, err := w.db.Begin()
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t.tx = tx
	t.savepoint, t.release, t.rollback = tx.Stmt(w.savepoint), tx.Stmt(w.release), tx.Stmt(w.rollback)
	return nil
}

// add runs a job in the open transaction, or keeps it for the commit.
func (w *sqliteWriter) add(t *openTxn, job *writeJob) {
	if job.atCommit {
		t.deferred = append(t.deferred, job)
		return
	}
	w.runJob(t, job)
}

// runJob runs a job in the open transaction (opening it if need be).
func (w *sqliteWriter) runJob(t *openTxn, job *writeJob) {
	start := time.Now()
	defer func() { t.busy += time.Since(start) }()
	t.jobs = append(t.jobs, job)
	t.results = append(t.results, nil)
	if t.broken {
		return
	}
	if t.tx == nil {
		if err := w.failed.Load(); err != nil {
			t.broken, t.err = true, *err
			return
		}
		if err := t.open(w); err != nil {
			t.broken, t.err = true, err
			return
		}
	}
	if !t.run(len(t.jobs) - 1) {
		return
	}
	// it failed without a savepoint: roll back, and run again the jobs
	// before it, from now on each under a savepoint
	t.tx.Rollback()
	if err := t.open(w); err != nil {
		t.broken, t.err = true, err
		return
	}
	if len(t.jobs) == 1 {
		return
	}
	t.savepoints = true
	for i := range t.jobs {
		if t.run(i); t.broken {
			return
		}
	}
}

// run runs job i and records its outcome. It reports whether the job
// failed without a savepoint: the transaction must then be rolled back.
func (t *openTxn) run(i int) (rollBack bool) {
	j := t.jobs[i]
	t.results[i] = nil
	if err := j.ctx.Err(); err != nil {
		t.results[i] = err
		return false
	}
	if t.savepoints {
		if _, err := t.savepoint.Exec(); err != nil {
			t.results[i] = err
			return false
		}
	}
	// Statements run with a context that cannot be cancelled: the driver
	// would otherwise hand every statement to a new goroutine to watch for
	// cancellation, and the writer would wait for the scheduler between
	// statements. A job is checked before it starts.
	err := j.fn(context.WithoutCancel(j.ctx), t.tx)
	t.results[i] = err
	if !t.savepoints {
		return err != nil
	}
	if err != nil {
		if _, rerr := t.rollback.Exec(); rerr != nil {
			t.broken, t.err = true, fmt.Errorf("rollback to savepoint: %w", rerr)
			return false
		}
	}
	t.release.Exec()
	return false
}

// commit runs the jobs kept for it, commits the transaction and hands it
// to the syncer; a transaction that cannot be committed fails its jobs.
func (w *sqliteWriter) commit(t *openTxn) {
	for _, j := range t.deferred {
		w.runJob(t, j)
	}
	t.deferred = nil
	start := time.Now()
	err := t.err
	if err == nil {
		if cerr := t.tx.Commit(); cerr != nil {
			err = fmt.Errorf("commit: %w", cerr)
		}
	} else if t.tx != nil {
		t.tx.Rollback()
	}
	if err != nil {
		answer(t.jobs, err)
		return
	}
	w.batchSizes.Observe(float64(len(t.jobs)))
	w.busy.Add((t.busy + time.Since(start)).Seconds())
	w.unsynced.Add(1)
	w.synced <- &syncItem{jobs: t.jobs, results: t.results, start: t.start}
}

// syncLoop makes committed batches durable, in commit order, one fsync for
// all the batches waiting, and then answers their jobs.
func (w *sqliteWriter) syncLoop() {
	defer w.wg.Done()
	var items []*syncItem
	for it := range w.synced {
		items = append(items[:0], it)
	more:
		for {
			select {
			case it, ok := <-w.synced:
				if !ok {
					break more
				}
				items = append(items, it)
			default:
				break more
			}
		}
		err := w.failed.Load()
		if err == nil {
			if serr := w.syncWAL(); serr != nil {
				serr = fmt.Errorf("%w: sync the write-ahead log: %w; writes are refused until restart", ErrNotDurable, serr)
				slog.Error("sqlite: committed writes could not be made durable", "err", serr)
				w.failed.CompareAndSwap(nil, &serr)
				err = w.failed.Load()
			}
		}
		// the writer may commit its next batch while these are answered
		w.unsynced.Add(-int32(len(items)))
		select {
		case w.round <- struct{}{}:
		default:
		}
		now := time.Now()
		syncBatches.Observe(float64(len(items)))
		for _, it := range items {
			if err != nil {
				answer(it.jobs, *err)
				continue
			}
			commitSeconds.Observe(now.Sub(it.start).Seconds())
			for i, j := range it.jobs {
				j.finish(it.results[i])
			}
		}
	}
}

// syncWAL flushes the write-ahead log to disk. The file is opened by name
// each time: should SQLite ever recreate it, the new file is the one synced.
func (w *sqliteWriter) syncWAL() error {
	f, err := os.Open(w.walPath)
	if err != nil {
		return err
	}
	defer f.Close()
	start := time.Now()
	err = fdatasync(f)
	w.fsyncs.Observe(time.Since(start).Seconds())
	return err
}

// syncDir makes the entries of a directory durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func (s *sqlStore) closeStmts() {
	s.stmts.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
}
