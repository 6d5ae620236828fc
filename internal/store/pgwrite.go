package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/openspine/openspine/internal/search"
)

// On PostgreSQL every statement is a round trip to the server, and on a
// small machine the round trips, not the statements' work, are much of
// what a write costs (each wakes the server's backend and then the spine).
// So a change is written there in one statement: the resource, its version
// row and all its index rows (a create); or the superseded version's body,
// the resource, the new version row and the index rows that differ (an
// update, after the index rows are read), with data-modifying WITH
// clauses. The index rows of each kind travel as arrays, one per column
// (unnest). A statement holds only the clauses its change needs (an
// update of a prescription's status touches one or two kinds of index
// rows; an empty clause still costs the server its executor start), so
// its text depends on which kinds are cleared, deleted from and inserted
// into: a few dozen texts in practice, each prepared once per connection
// by pgx. SQLite, in process, runs the same steps as separate prepared
// statements.

// indexColumns[t] are the columns of an index row of kind t after rid.
var indexColumns = map[search.Type][]string{}

// pgArrayType is the PostgreSQL array type each index column's values are
// passed in.
var pgArrayType = map[string]string{
	"pid": "int8[]", "norm": "text[]", "exact": "text[]", "system": "text[]", "code": "text[]",
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

// pgShape names a write statement: its kind ('c' create, 'C' create
// without a version row, 'u' update, 'i' index rows only) and, for each
// kind of index row, whether the statement clears, deletes and inserts.
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
// first the ones given (create: type, id, version, ts, deleted, body;
// update: rid, type, id, superseded version, new version, ts, deleted,
// body; index rows only: rid), then the index rows' (pgIndexArgs).
//
// A create returns the new rid and seq (0 without a version row), an
// update the new seq; index rows only, nothing of use.
func pgWriteStatement(kind byte, changes []indexChange, args []any) (string, []any) {
	shape := pgShape(kind, changes)
	if q, ok := pgStatements.Load(shape); ok {
		return q.(string), pgIndexArgs(args, changes)
	}
	const versionRow = "INSERT INTO versions (type, id, version, ts, deleted, body) "
	var withs []string
	var q string
	switch kind {
	case 'c', 'C':
		withs = append(withs, "r AS (INSERT INTO resources (type, id, version, ts, deleted, body) VALUES ($1, $2, $3, $4, $5, $6) RETURNING rid)")
		seq := "0"
		if kind == 'c' {
			withs = append(withs, "v AS ("+versionRow+"VALUES ($1, $2, $3, $4, $5, ''::bytea) RETURNING seq)")
			seq = "(SELECT seq FROM v)"
		}
		withs = append(withs, pgIndexClauses(changes, 7, "r.rid", "r, ")...)
		q = "SELECT r.rid, " + seq + " FROM r"
	case 'u':
		withs = append(withs, "keep AS (UPDATE versions SET body = (SELECT body FROM resources WHERE rid = $1) WHERE type = $2 AND id = $3 AND version = $4)",
			"upd AS (UPDATE resources SET version = $5, ts = $6, deleted = $7, body = $8 WHERE rid = $1)")
		withs = append(withs, pgIndexClauses(changes, 9, "$1", "")...)
		q = versionRow + "VALUES ($2, $3, $5, $6, $7, ''::bytea) RETURNING seq"
	default:
		withs = append(withs, pgIndexClauses(changes, 2, "$1", "")...)
		q = "SELECT 1"
	}
	if len(withs) > 0 {
		q = "WITH " + strings.Join(withs, ", ") + " " + q
	}
	pgStatements.Store(shape, q)
	return q, pgIndexArgs(args, changes)
}

// pgIndexClauses returns the WITH clauses that write the index rows of
// changes, of the resource whose rid is the expression rid (from, when not
// empty, is what the inserts select from besides the rows: "r, "); their
// parameters are numbered from first on, in pgIndexArgs's order.
func pgIndexClauses(changes []indexChange, first int, rid, from string) []string {
	n := first
	unnest := func(cols []string) string {
		arrays := make([]string, len(cols))
		for i, c := range cols {
			arrays[i] = "$" + strconv.Itoa(n) + "::" + pgArrayType[c]
			n++
		}
		return "unnest(" + strings.Join(arrays, ", ") + ") AS x(" + strings.Join(cols, ", ") + ")"
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
			out = append(out, fmt.Sprintf("i%d AS (INSERT INTO %s (rid, %s) SELECT %s, x.%s FROM %s%s)", k, table, strings.Join(cols, ", "), rid, strings.Join(cols, ", x."), from, unnest(cols)))
		}
	}
	return out
}

// pgIndexArgs appends to args the parameters of pgIndexClauses: by kind,
// the columns of the rows to delete, then those of the rows to insert,
// each as an array (only those the clauses hold).
func pgIndexArgs(args []any, changes []indexChange) []any {
	columns := func(t search.Type, rows [][]any) []any {
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
	for k, t := range indexTypes {
		ch := &changes[k]
		if len(ch.deletes) > 0 {
			args = append(args, columns(t, ch.deletes)...)
		}
		if len(ch.inserts) > 0 {
			args = append(args, columns(t, ch.inserts)...)
		}
	}
	return args
}

// newIndexRows returns the index rows of entries as changes that insert
// them all (a resource that has none yet).
func newIndexRows(typ string, entries []search.Entry) ([]indexChange, error) {
	changes := make([]indexChange, len(indexTypes))
	for _, e := range entries {
		k := -1
		for i, t := range indexTypes {
			if t == e.Type {
				k = i
			}
		}
		if k < 0 {
			return nil, fmt.Errorf("unknown index type %q", e.Type)
		}
		changes[k].inserts = append(changes[k].inserts, indexInsert[e.Type].values(0, typ, e)[1:])
	}
	return changes, nil
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
