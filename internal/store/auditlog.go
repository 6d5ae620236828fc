package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The store implements audit.Storage: the audit log's records live in
// audit_log at consecutive indexes, appended in one durable transaction
// per batch (on SQLite through the group-committing writer).

// auditLogSQL[n] and auditIndexSQL[n] insert n records or n search keys
// in one statement (n from 1 to maxIndexRows), prepared on SQLite's write
// connection like the resource index rows.
var auditLogSQL, auditIndexSQL = rowsSQL("INSERT INTO audit_log (idx, body, leaf) VALUES ", "(?, ?, ?)", ""),
	rowsSQL("INSERT INTO audit_index (key, idx) VALUES ", "(?, ?)", " ON CONFLICT DO NOTHING")

// On PostgreSQL the records of a batch, and the search keys of a job, go
// in one statement as arrays (every statement is a round trip there; in
// rows of at most maxIndexRows a batch of 64 records took two and 512 keys
// sixteen).
const (
	pgAuditLog   = "INSERT INTO audit_log (idx, body, leaf) SELECT $1 + x.n - 1, x.body, x.leaf FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS x(body, leaf, n)"
	pgAuditIndex = "INSERT INTO audit_index (key, idx) SELECT x.key, x.idx FROM unnest($1::text[], $2::int8[]) AS x(key, idx) ON CONFLICT DO NOTHING"
)

// insertLeaves stores records numbered from first.
func (s *sqlStore) insertLeaves(ctx context.Context, tx *sql.Tx, first int64, bodies, hashes [][]byte) error {
	if s.d.numbered {
		_, err := tx.ExecContext(ctx, pgAuditLog, first, bodies, hashes)
		return err
	}
	args := make([]any, 0, 3*len(bodies))
	for i := range bodies {
		args = append(args, first+int64(i), bodies[i], hashes[i])
	}
	return s.execRows(ctx, tx, auditLogSQL, 3, args)
}

// AppendLeaves appends records whose bodies are already made.
func (s *sqlStore) AppendLeaves(ctx context.Context, bodies, hashes [][]byte) (int64, error) {
	return s.AppendLeavesFunc(ctx, func(int64) ([][]byte, [][]byte, error) { return bodies, hashes, nil })
}

// SharedLog tells the audit log whether other processes append to this
// store's log: on PostgreSQL they may (every spine process on one
// database); a SQLite data folder has one.
func (s *sqlStore) SharedLog() bool { return s.d.numbered }

// logEnd returns, inside an append's transaction, the index the next
// record gets. On PostgreSQL it first takes the log's lock, so that one
// process at a time appends and indexes stay consecutive.
func (s *sqlStore) logEnd(ctx context.Context, tx *sql.Tx) (int64, error) {
	if s.d.numbered {
		if _, err := tx.ExecContext(ctx, "LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return 0, err
		}
	}
	var end int64
	err := s.txRow(ctx, tx, logEndSQL).Scan(&end)
	return end, err
}

// logEndSQL is where the log ends (prepared on SQLite's write connection:
// every audit batch asks).
const logEndSQL = "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_log"

// AppendLeavesFunc appends records whose bodies build makes once it knows,
// under the log's lock, the index the first will get: the append of a log
// that several processes share.
func (s *sqlStore) AppendLeavesFunc(ctx context.Context, build func(first int64) (bodies, hashes [][]byte, err error)) (int64, error) {
	defer observe("audit_append", time.Now())
	var first int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if first, err = s.logEnd(ctx, tx); err != nil {
			return err
		}
		bodies, hashes, err := build(first)
		if err != nil {
			return err
		}
		if len(bodies) != len(hashes) {
			return fmt.Errorf("%d bodies, %d hashes", len(bodies), len(hashes))
		}
		return s.insertLeaves(ctx, tx, first, bodies, hashes)
	})
	if err != nil {
		return 0, fmt.Errorf("audit append: %w", err)
	}
	return first, nil
}

// QueueLeavesFunc queues an append and returns at once: build makes the
// records in the append's transaction, once it knows the index the first
// gets (it may be called again, should the transaction be run again), and
// then is called once with the outcome when they are durable or have
// failed. Appends run in the order they are queued (SQLite's single
// writer), and their outcomes come in that order, on the writer's syncing
// goroutine: then must not block. On PostgreSQL the append happens, and
// then is called, before QueueLeavesFunc returns.
func (s *sqlStore) QueueLeavesFunc(build func(first int64) (bodies, hashes [][]byte, err error), then func(first int64, err error)) error {
	var first int64
	fn := func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if first, err = s.logEnd(ctx, tx); err != nil {
			return err
		}
		bodies, hashes, err := build(first)
		if err != nil {
			return err
		}
		if len(bodies) != len(hashes) {
			return fmt.Errorf("%d bodies, %d hashes", len(bodies), len(hashes))
		}
		return s.insertLeaves(ctx, tx, first, bodies, hashes)
	}
	start := time.Now()
	done := func(err error) {
		observe("audit_append", start)
		if err != nil {
			err = fmt.Errorf("audit append: %w", err)
		}
		then(first, err)
	}
	// the append is not the request's: it carries other requests' records
	ctx := context.Background()
	if s.enqueue == nil {
		done(s.write(ctx, fn))
		return nil
	}
	if err := s.enqueue(ctx, fn, done); err != nil {
		return fmt.Errorf("audit append: %w", err)
	}
	return nil
}

func (s *sqlStore) auditColumn(ctx context.Context, col string, from, to int64) ([][]byte, error) {
	rows, err := s.db.QueryContext(ctx, s.rb("SELECT idx, "+col+" FROM audit_log WHERE idx >= ? AND idx < ? ORDER BY idx"), from, to)
	if err != nil {
		return nil, fmt.Errorf("audit read: %w", err)
	}
	defer rows.Close()
	out := make([][]byte, 0, max(0, to-from))
	next := from
	for rows.Next() {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return nil, err
		}
		if idx != next {
			return nil, fmt.Errorf("audit log: index %d is missing (found %d)", next, idx)
		}
		next++
		out = append(out, b)
	}
	return out, rows.Err()
}

func (s *sqlStore) LeafHashes(ctx context.Context, from, to int64) ([][]byte, error) {
	return s.auditColumn(ctx, "leaf", from, to)
}

func (s *sqlStore) Leaves(ctx context.Context, from, to int64) ([][]byte, error) {
	return s.auditColumn(ctx, "body", from, to)
}

func (s *sqlStore) LogSize(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_log").Scan(&n)
	return n, err
}

func (s *sqlStore) PutCheckpoint(ctx context.Context, size int64, checkpoint []byte) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.rb("INSERT INTO audit_checkpoints (size, body) VALUES (?, ?)"), size, checkpoint)
		return err
	})
}

func (s *sqlStore) Checkpoints(ctx context.Context) ([][]byte, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT body FROM audit_checkpoints ORDER BY seq")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// AuditKey is one search key of an audit record.
type AuditKey struct {
	Key   string
	Index int64
}

// auditIndexJob bounds the keys one writer job adds: the audit index
// shares SQLite's single writer with the audit appends, which must not
// wait behind one long job.
const auditIndexJob = 512

// IndexAudit adds the search keys of the records below through (idempotent)
// and then records that every record below through is indexed. Keys are
// added in key order (keys is sorted in place; consecutive keys share
// b-tree pages: a page is written once for all of its new keys), in jobs
// of auditIndexJob keys; a failure leaves the mark where it was, and the
// next catch-up adds the keys again.
func (s *sqlStore) IndexAudit(ctx context.Context, keys []AuditKey, through int64) error {
	slices.SortFunc(keys, func(a, b AuditKey) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return cmp.Compare(a.Index, b.Index)
	})
	for {
		n := min(len(keys), auditIndexJob)
		args := make([]any, 0, 2*n)
		var names []string
		var idxs []int64
		for _, k := range keys[:n] {
			if s.d.numbered {
				names, idxs = append(names, k.Key), append(idxs, k.Index)
			} else {
				args = append(args, k.Key, k.Index)
			}
		}
		last := n == len(keys)
		err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var err error
			if s.d.numbered {
				_, err = tx.ExecContext(ctx, pgAuditIndex, names, idxs)
			} else {
				err = s.execRows(ctx, tx, auditIndexSQL, 2, args)
			}
			if err != nil {
				return err
			}
			if !last {
				return nil
			}
			// the mark only moves forward: catch-ups may run side by side
			_, err = s.exec(ctx, tx, auditIndexedSQL, auditIndexedName, through)
			return err
		})
		if err != nil {
			return fmt.Errorf("audit index: %w", err)
		}
		if last {
			return nil
		}
		keys = keys[n:]
	}
}

// auditIndexedName is the sequences row holding one past the last record
// whose keys are all in audit_index.
const auditIndexedName = "audit_indexed"

const auditIndexedSQL = "INSERT INTO sequences (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = " +
	"CASE WHEN excluded.value > sequences.value THEN excluded.value ELSE sequences.value END"

func init() { writeStatements = append(writeStatements, auditIndexedSQL, logEndSQL) }

// AuditIndexed returns one past the last record whose keys are all
// indexed: 0 while no index batch has completed. (It once took a store
// without the mark to be indexed up to its highest key; but the first
// batch's keys go in jobs sorted by key, and a crash between two jobs left
// keys of the later ones, the patients', missing for good under a mark
// inferred from the earlier ones. From 0 the index is only written again:
// the inserts ignore keys already there.)
func (s *sqlStore) AuditIndexed(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, s.rb("SELECT value FROM sequences WHERE name = ?"), auditIndexedName).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// AuditLookup returns, newest first, up to limit record indexes carrying
// key, below before (0: no bound).
func (s *sqlStore) AuditLookup(ctx context.Context, key string, before int64, limit int) ([]int64, error) {
	q := "SELECT idx FROM audit_index WHERE key = ?"
	args := []any{key}
	if before > 0 {
		q += " AND idx < ?"
		args = append(args, before)
	}
	q += " ORDER BY idx DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.rb(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var i int64
		if err := rows.Scan(&i); err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// AuditLeavesAt returns the bodies of the given record indexes, in order.
func (s *sqlStore) AuditLeavesAt(ctx context.Context, idxs []int64) ([][]byte, error) {
	if len(idxs) == 0 {
		return nil, nil
	}
	args := make([]any, len(idxs))
	for i, x := range idxs {
		args[i] = x
	}
	rows, err := s.db.QueryContext(ctx, s.rb("SELECT idx, body FROM audit_log WHERE idx IN ("+placeholders(len(idxs))+")"), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	by := map[int64][]byte{}
	for rows.Next() {
		var i int64
		var b []byte
		if err := rows.Scan(&i, &b); err != nil {
			return nil, err
		}
		by[i] = b
	}
	out := make([][]byte, 0, len(idxs))
	for _, i := range idxs {
		if b, ok := by[i]; ok {
			out = append(out, b)
		}
	}
	return out, rows.Err()
}
