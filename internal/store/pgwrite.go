package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openspine/openspine/internal/search"
)

// On PostgreSQL every statement is a round trip to the server, and on a
// small machine the round trips, not the statements' work, are much of
// what a write costs (each wakes the server's backend and then the spine).
// So writes there take as few statements as the SQL allows, with
// data-modifying WITH clauses and the index rows of each kind as arrays,
// one per column (unnest):
//
//   - the plain creates that follow each other in a change set: one
//     statement for their resources, version rows and index rows
//     (pgCreate); a change set of nothing else, that statement alone,
//     outside an explicit transaction (pgCreateAlone);
//   - an update: the row locked and its index rows read in one statement
//     (pgCurrent), then the superseded version's body, the resource, the
//     new version row and the index rows that differ in another (pgWrite).
//
// A statement holds only the clauses its change needs (an update of a
// prescription's status touches one or two kinds of index rows; an empty
// clause still costs the server its executor start), so its text depends
// on which kinds are cleared, deleted from and inserted into: a few dozen
// texts in practice, each prepared once per connection by pgx. SQLite, in
// process, runs the same steps as separate prepared statements.

// indexColumns[t] are the columns of an index row of kind t after rid.
var indexColumns = map[search.Type][]string{}

// pgArrayType is the PostgreSQL array type each index column's values are
// passed in (and n, a new index row's resource: its place in pgCreate's
// run).
var pgArrayType = map[string]string{
	"n": "int8[]", "pid": "int8[]", "norm": "text[]", "exact": "text[]", "system": "text[]", "code": "text[]",
	"lo": "int8[]", "hi": "int8[]", "num": "float8[]", "ref_type": "text[]", "ref_id": "text[]",
}

func init() {
	for _, t := range indexTypes {
		indexColumns[t] = strings.Split(indexInsert[t].cols, ", ")[1:]
		for _, c := range indexColumns[t] {
			if pgArrayType[c] == "" {
				panic("index column " + c + " has no PostgreSQL array type")
			}
		}
	}
}

// pgStatements caches the write statements by their shape (pgShape).
var pgStatements sync.Map

// pgShape names a write statement: its kind ('u' update, 'i' index rows
// only) and, for each kind of index row, whether the statement clears,
// deletes and inserts. (pgCreateStatement's names start with 'n' or 'N'.)
func pgShape(kind byte, changes []indexChange) string {
	b := make([]byte, 1, 1+len(changes))
	b[0] = kind
	for i := range changes {
		ch := &changes[i]
		var bits byte
		if ch.clear {
			bits |= 1
		}
		if len(ch.deletes) > 0 {
			bits |= 2
		}
		if len(ch.inserts) > 0 {
			bits |= 4
		}
		b = append(b, '0'+bits)
	}
	return string(b)
}

// pgWriteStatement returns the statement of a shape and its arguments:
// first the ones given (update: rid, type, id, superseded version, new
// version, ts, deleted, body; index rows only: rid), then the index rows'
// (pgIndexArgs). An update returns the new seq.
func pgWriteStatement(kind byte, changes []indexChange, args []any) (string, []any) {
	shape := pgShape(kind, changes)
	if q, ok := pgStatements.Load(shape); ok {
		return q.(string), pgIndexArgs(args, changes)
	}
	const versionRow = "INSERT INTO versions (type, id, version, ts, deleted, body) "
	var withs []string
	var q string
	switch kind {
	case 'u':
		// keepVersionBody's parameters are $1 to $4 here, in its order
		keep := keepVersionBody
		for i := 1; strings.Contains(keep, "?"); i++ {
			keep = strings.Replace(keep, "?", "$"+strconv.Itoa(i), 1)
		}
		withs = append(withs, "keep AS ("+keep+")",
			"upd AS (UPDATE resources SET version = $5, ts = $6, deleted = $7, body = $8 WHERE rid = $1)")
		withs = append(withs, pgIndexClauses(changes, 9)...)
		q = versionRow + "VALUES ($2, $3, $5, $6, $7, ''::bytea) RETURNING seq"
	default:
		withs = append(withs, pgIndexClauses(changes, 2)...)
		q = "SELECT 1"
	}
	if len(withs) > 0 {
		q = "WITH " + strings.Join(withs, ", ") + " " + q
	}
	pgStatements.Store(shape, q)
	return q, pgIndexArgs(args, changes)
}

// pgIndexClauses returns the WITH clauses that write the index rows of
// changes, of the resource $1; their parameters are numbered from first
// on, in pgIndexArgs's order.
func pgIndexClauses(changes []indexChange, first int) []string {
	const rid = "$1"
	n := first
	unnest := func(cols []string) string {
		return pgUnnest(&n, cols) + " AS x(" + strings.Join(cols, ", ") + ")"
	}
	var out []string
	for k, t := range indexTypes {
		ch := &changes[k]
		table, cols := tableFor[t], indexColumns[t]
		if ch.clear {
			out = append(out, fmt.Sprintf("c%d AS (DELETE FROM %s WHERE rid = %s)", k, table, rid))
		}
		if len(ch.deletes) > 0 {
			match := make([]string, len(cols))
			for i, c := range cols {
				match[i] = "t." + c + " = x." + c
			}
			out = append(out, fmt.Sprintf("d%d AS (DELETE FROM %s t USING %s WHERE t.rid = %s AND %s)", k, table, unnest(cols), rid, strings.Join(match, " AND ")))
		}
		if len(ch.inserts) > 0 {
			out = append(out, fmt.Sprintf("i%d AS (INSERT INTO %s (rid, %s) SELECT %s, x.%s FROM %s)", k, table, strings.Join(cols, ", "), rid, strings.Join(cols, ", x."), unnest(cols)))
		}
	}
	return out
}

// pgIndexArgs appends to args the parameters of pgIndexClauses: by kind,
// the columns of the rows to delete, then those of the rows to insert,
// each as an array (only those the clauses hold).
func pgIndexArgs(args []any, changes []indexChange) []any {
	for k, t := range indexTypes {
		ch := &changes[k]
		if len(ch.deletes) > 0 {
			args = append(args, pgColumns(t, ch.deletes)...)
		}
		if len(ch.inserts) > 0 {
			args = append(args, pgColumns(t, ch.inserts)...)
		}
	}
	return args
}

// pgColumns returns rows of index kind t (their values after rid) as one
// array per column, typed as pgArrayType says.
func pgColumns(t search.Type, rows [][]any) []any {
	cols := indexColumns[t]
	out := make([]any, len(cols))
	for i, c := range cols {
		switch pgArrayType[c] {
		case "int8[]":
			a := make([]int64, len(rows))
			for j, r := range rows {
				a[j] = r[i].(int64)
			}
			out[i] = a
		case "float8[]":
			a := make([]float64, len(rows))
			for j, r := range rows {
				a[j] = r[i].(float64)
			}
			out[i] = a
		default:
			a := make([]string, len(rows))
			for j, r := range rows {
				a[j] = r[i].(string)
			}
			out[i] = a
		}
	}
	return out
}

// pgUnnest returns "unnest($n::type[], ...)": one array parameter per
// column of cols, typed as pgArrayType says, numbered from *n on.
func pgUnnest(n *int, cols []string) string {
	arrays := make([]string, len(cols))
	for i, c := range cols {
		arrays[i] = "$" + strconv.Itoa(*n) + "::" + pgArrayType[c]
		*n++
	}
	return "unnest(" + strings.Join(arrays, ", ") + ")"
}

// pgCurrentSQL locks a resource's current row (FOR UPDATE: concurrent
// writers of one resource wait for each other) and reads it with its
// index rows, in one round trip: the row as kind -1 (rid, the locked
// version and the version this statement's snapshot saw, deleted), then
// the index rows as indexRowsOf gives them. Set in init.
var pgCurrentSQL string

func init() {
	parts := []string{"SELECT -1, cur.rid, '', '', cur.version, COALESCE((SELECT r.version FROM resources r WHERE r.rid = cur.rid), -1), CAST(cur.deleted AS DOUBLE PRECISION) FROM cur"}
	for i, t := range indexTypes {
		parts = append(parts, fmt.Sprintf("SELECT %d, pid, %s FROM %s WHERE rid = (SELECT rid FROM cur)", i, indexInsert[t].read, tableFor[t]))
	}
	pgCurrentSQL = "WITH cur AS (SELECT rid, version, deleted FROM resources WHERE type = $1 AND id = $2 FOR UPDATE) " + strings.Join(parts, " UNION ALL ")
}

// pgCurrent locks and reads a resource's current row and its index rows
// (pgCurrentSQL). The index rows come from the statement's snapshot, taken
// before the lock was granted: if another writer changed the resource in
// between (the version locked is newer than the one the snapshot saw),
// they may be out of date, and stored is nil (the caller reads them again).
func (s *sqlStore) pgCurrent(ctx context.Context, tx *sql.Tx, typ, id string) (rid, cur int64, deleted int, exists bool, stored *storedIndex, err error) {
	rows, err := tx.QueryContext(ctx, pgCurrentSQL, typ, id)
	if err != nil {
		return 0, 0, 0, false, nil, err
	}
	defer rows.Close()
	stored = newStoredIndex()
	var seen int64
	for rows.Next() {
		var kind int
		var r storedRow
		if err := rows.Scan(&kind, &r.pid, &r.t1, &r.t2, &r.i1, &r.i2, &r.f); err != nil {
			return 0, 0, 0, false, nil, err
		}
		if kind == -1 {
			rid, cur, seen, deleted, exists = r.pid, r.i1, r.i2, int(r.f), true
			continue
		}
		if err := stored.add(kind, r); err != nil {
			return 0, 0, 0, false, nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, 0, false, nil, err
	}
	if seen != cur {
		stored = nil
	}
	return rid, cur, deleted, exists, stored, nil
}

// pgWrite writes a change on PostgreSQL in one statement (pgWriteStatement)
// and returns the new version's seq. An update compares entries with the
// index rows stored (read now unless given).
func (s *sqlStore) pgWrite(ctx context.Context, tx *sql.Tx, c *Change, exists bool, rid, cur, version, ts int64, isDeleted int, body []byte, entries []search.Entry, stored *storedIndex) (int64, error) {
	if !exists {
		var out [1]Outcome
		if _, err := s.pgCreate(ctx, tx, true, []Change{*c}, [][]byte{body}, time.UnixMilli(ts).UTC(), out[:]); err != nil {
			return 0, err
		}
		return out[0].Seq, nil
	}
	if stored == nil {
		var err error
		if stored, err = s.readIndex(ctx, tx, rid); err != nil {
			return 0, err
		}
	}
	changes, err := diffIndex(stored, rid, c.Type, entries)
	if err != nil {
		return 0, err
	}
	var seq int64
	q, args := pgWriteStatement('u', changes, []any{rid, c.Type, c.ID, cur, version, ts, isDeleted, body})
	if err := tx.QueryRowContext(ctx, q, args...).Scan(&seq); err != nil {
		return 0, fmt.Errorf("update resource: %w", err)
	}
	return seq, nil
}

// pgCreateAlone writes a change set of plain creates only, on PostgreSQL,
// in one statement outside any explicit transaction (a statement alone is
// atomic, and BEGIN and COMMIT are two round trips more). The statement
// has no ON CONFLICT clause: a resource that exists, or one that comes
// twice, fails it whole with a unique violation. Then, and after a
// deadlock or a serialisation failure, again is true: the caller applies
// the changes the usual way, in a transaction, which retries and names the
// change that exists. Any other failure is the outcome (as a failed
// statement inside the transaction would be: the write may have been
// committed only if the connection broke after the statement ran).
func (s *sqlStore) pgCreateAlone(ctx context.Context, changes []Change) (out []Outcome, again bool, err error) {
	start := time.Now()
	out = make([]Outcome, len(changes))
	k, err := s.pgCreate(ctx, s.db, false, changes, nil, start.UTC().Truncate(time.Millisecond), out)
	var pe *pgconn.PgError
	switch {
	case err == nil:
		commitSeconds.Observe(time.Since(start).Seconds())
		return out, false, nil
	case errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "40001" || pe.Code == "40P01"):
		return nil, true, nil
	}
	return nil, false, &ChangeError{Index: k, Err: err}
}

// pgCreate writes new resources (plain creates: Op Create, no condition)
// in one statement on q (a transaction, or the pool for a statement alone):
// their rows, the version rows of the versioned ones and all their index
// rows. bodies are the rendered bodies (rendered here, at version 1, when
// nil). out gets each change's outcome. With onConflict, a resource that
// exists (or comes twice among changes) is not written: the index of the
// first such change is returned with ErrExists, and the caller rolls the
// transaction back; without, the statement fails whole.
func (s *sqlStore) pgCreate(ctx context.Context, q querier, onConflict bool, changes []Change, bodies [][]byte, now time.Time, out []Outcome) (int, error) {
	types, ids, versioned := make([]string, len(changes)), make([]string, len(changes)), make([]bool, len(changes))
	if bodies == nil {
		bodies = make([][]byte, len(changes))
		for i := range changes {
			var err error
			if bodies[i], err = changes[i].Render(1, now); err != nil {
				return i, err
			}
		}
	}
	rows := make([]newIndexRows, len(indexTypes))
	for i := range changes {
		c := &changes[i]
		types[i], ids[i], versioned[i] = c.Type, c.ID, !c.Unversioned
		for _, e := range c.Index {
			k := slices.Index(indexTypes, e.Type)
			if k < 0 {
				return i, fmt.Errorf("unknown index type %q", e.Type)
			}
			rows[k].n = append(rows[k].n, int64(i+1))
			rows[k].rows = append(rows[k].rows, indexInsert[e.Type].values(0, c.Type, e)[1:])
		}
	}
	stmt := pgCreateStatement(rows, onConflict)
	args := []any{types, ids, bodies, versioned, now.UnixMilli()}
	for k, t := range indexTypes {
		if len(rows[k].n) > 0 {
			args = append(args, rows[k].n)
			args = append(args, pgColumns(t, rows[k].rows)...)
		}
	}
	res, err := q.QueryContext(ctx, stmt, args...)
	if err != nil {
		return 0, fmt.Errorf("insert resources: %w", err)
	}
	seqs := make([]int64, len(changes))
	written := make([]bool, len(changes))
	for res.Next() {
		var n, seq int64
		if err := res.Scan(&n, &seq); err != nil {
			res.Close()
			return 0, fmt.Errorf("insert resources: %w", err)
		}
		if n >= 1 && n <= int64(len(changes)) {
			written[n-1], seqs[n-1] = true, seq
		}
	}
	res.Close()
	if err := res.Err(); err != nil {
		return 0, fmt.Errorf("insert resources: %w", err)
	}
	seen := make(map[Ref]bool, len(changes))
	for i := range changes {
		ref := Ref{Type: types[i], ID: ids[i]}
		if !written[i] || seen[ref] {
			return i, ErrExists
		}
		seen[ref] = true
	}
	for i := range changes {
		out[i] = Outcome{Record: Record{Ref: Ref{Type: types[i], ID: ids[i], Version: 1}, Seq: seqs[i], Updated: now, Body: bodies[i]}, Created: true}
	}
	return 0, nil
}

// newIndexRows are the index rows of one kind of a run of new resources:
// each row's resource (its place in the run, from 1) and its values after
// rid.
type newIndexRows struct {
	n    []int64
	rows [][]any
}

// pgCreateStatement returns pgCreate's statement for index rows of the
// kinds rows has, with or without ON CONFLICT DO NOTHING. Parameters: $1
// types, $2 ids, $3 bodies, $4 versioned (arrays, one element per
// resource), $5 ts; then for each kind with rows, the rows' resources (n)
// and one array per column. It returns each resource written: its place
// in the run and its version row's seq (0 without).
func pgCreateStatement(rows []newIndexRows, onConflict bool) string {
	key, conflict := []byte{'N'}, ""
	if onConflict {
		key[0], conflict = 'n', " ON CONFLICT (type, id) DO NOTHING"
	}
	for k := range rows {
		key = append(key, '0'+byte(min(len(rows[k].n), 1)))
	}
	if q, ok := pgStatements.Load(string(key)); ok {
		return q.(string)
	}
	withs := []string{
		"x AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::boolean[]) WITH ORDINALITY AS x(type, id, body, versioned, n))",
		"r AS (INSERT INTO resources (type, id, version, ts, deleted, body) SELECT type, id, 1, $5, 0, body FROM x ORDER BY n" + conflict + " RETURNING rid, type, id)",
		"w AS (SELECT r.rid, x.n, x.type, x.id, x.versioned FROM r JOIN x ON x.type = r.type AND x.id = r.id)",
		"v AS (INSERT INTO versions (type, id, version, ts, deleted, body) SELECT type, id, 1, $5, 0, ''::bytea FROM w WHERE versioned ORDER BY n RETURNING seq, type, id)",
	}
	p := 6
	for k, t := range indexTypes {
		if len(rows[k].n) == 0 {
			continue
		}
		cols := indexColumns[t]
		withs = append(withs, fmt.Sprintf("i%d AS (INSERT INTO %s (rid, %s) SELECT w.rid, y.%s FROM w JOIN %s AS y(n, %s) ON y.n = w.n)",
			k, tableFor[t], strings.Join(cols, ", "), strings.Join(cols, ", y."), pgUnnest(&p, append([]string{"n"}, cols...)), strings.Join(cols, ", ")))
	}
	q := "WITH " + strings.Join(withs, ", ") + " SELECT w.n, COALESCE(v.seq, 0) FROM w LEFT JOIN v ON v.type = w.type AND v.id = w.id"
	pgStatements.Store(string(key), q)
	return q
}
