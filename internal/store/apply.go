package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/search"
)

func (s *sqlStore) Apply(ctx context.Context, changes []Change) ([]Outcome, error) {
	defer observe("apply", time.Now())
	if s.d.numbered && len(changes) > 0 && createRun(changes) == len(changes) {
		out, again, err := s.pgCreateAlone(ctx, changes)
		if !again {
			return out, err
		}
	}
	var out []Outcome
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		out, err = s.applyTx(ctx, tx, changes)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// applyTx applies changes inside tx; the caller commits.
func (s *sqlStore) applyTx(ctx context.Context, tx *sql.Tx, changes []Change) ([]Outcome, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	out := make([]Outcome, len(changes))
	for i := 0; i < len(changes); i++ {
		if n := createRun(changes[i:]); n > 0 && s.d.numbered {
			if k, err := s.pgCreate(ctx, tx, true, changes[i:i+n], nil, now, out[i:i+n]); err != nil {
				return nil, &ChangeError{Index: i + k, Err: err}
			}
			i += n - 1
			continue
		}
		if err := s.applyOne(ctx, tx, &changes[i], now, &out[i]); err != nil {
			return nil, &ChangeError{Index: i, Err: err}
		}
	}
	return out, nil
}

// createRun returns how many changes at the start of changes are plain
// creates: no condition, nothing to look up first.
func createRun(changes []Change) int {
	n := 0
	for n < len(changes) && changes[n].Op == Create && changes[n].IfMatch == 0 && changes[n].IfNoneExist == nil {
		n++
	}
	return n
}

func (s *sqlStore) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := s.writeView.prepared(q); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, s.rb(q), args...)
}

func (s *sqlStore) txQuery(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	if st := s.writeView.prepared(q); st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, s.rb(q), args...)
}

func (s *sqlStore) txRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st := s.writeView.prepared(q); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, s.rb(q), args...)
}

// keepVersionBody copies a resource's current body into the row of its
// version in the version table, just before a new version replaces it.
// A version row holds no body while its version is current (an empty
// body, not deleted): the body is stored once, in resources, and readers
// of the version table take it from there (versionBody).
const keepVersionBody = "UPDATE versions SET body = (SELECT body FROM resources WHERE rid = ?) WHERE type = ? AND id = ? AND version = ?"

// writeStatements are prepared once on the SQLite write connection (it
// cannot prepare while its only connection is inside a transaction).
var writeStatements = []string{
	"SELECT ts, body FROM resources WHERE type = ? AND id = ?",
	"SELECT rid, version, deleted FROM resources WHERE type = ? AND id = ?",
	"UPDATE resources SET version = ?, ts = ?, deleted = ?, body = ? WHERE rid = ?",
	"INSERT INTO resources (type, id, version, ts, deleted, body) VALUES (?, ?, ?, ?, ?, ?)",
	"INSERT INTO versions (type, id, version, ts, deleted, body) VALUES (?, ?, ?, ?, ?, ?)",
	keepVersionBody,
	"INSERT INTO sequences (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = sequences.value + ? RETURNING value",
}

func (s *sqlStore) applyOne(ctx context.Context, tx *sql.Tx, c *Change, now time.Time, out *Outcome) error {
	if c.Unversioned && (c.Op != Create || c.IfMatch > 0 || c.IfNoneExist != nil) {
		return errors.New("an unversioned record is written once, by a plain create")
	}
	if c.Op == Create && c.IfNoneExist != nil {
		if s.lockType != nil {
			if err := s.lockType(ctx, tx, c.Type); err != nil {
				return err
			}
		}
		refs, err := s.search(ctx, tx, c.IfNoneExist, 2)
		if err != nil {
			return err
		}
		if len(refs) > 1 {
			return ErrMultipleMatches
		}
		if len(refs) == 1 {
			var ts int64
			out.Record = Record{Ref: refs[0]}
			err := s.txRow(ctx, tx, "SELECT ts, body FROM resources WHERE type = ? AND id = ?", refs[0].Type, refs[0].ID).Scan(&ts, &out.Body)
			out.Updated, out.Existing = time.UnixMilli(ts).UTC(), true
			return err
		}
	}
	var rid, cur int64
	var deleted int
	exists := false
	var stored *storedIndex // the index rows, when read with the current row
	// A plain create needs no look-up: the unique (type, id) key refuses a duplicate.
	if c.Op != Create || c.IfMatch > 0 {
		var err error
		if s.d.numbered {
			rid, cur, deleted, exists, stored, err = s.pgCurrent(ctx, tx, c.Type, c.ID)
		} else {
			err = s.txRow(ctx, tx, "SELECT rid, version, deleted FROM resources WHERE type = ? AND id = ?", c.Type, c.ID).Scan(&rid, &cur, &deleted)
			exists = err == nil
			if errors.Is(err, sql.ErrNoRows) {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("select current: %w", err)
		}
	}
	if c.IfMatch > 0 && (!exists || cur != c.IfMatch) {
		return &VersionConflict{Type: c.Type, ID: c.ID, Want: c.IfMatch, Current: cur}
	}
	switch c.Op {
	case Create:
		if exists {
			return ErrExists
		}
	case Update:
		if !exists && !c.AllowCreate {
			return ErrNotFound
		}
	case Delete:
		if !exists || deleted != 0 {
			out.Record = Record{Ref: Ref{Type: c.Type, ID: c.ID, Version: cur}, Deleted: true}
			out.NoOp = true
			return nil
		}
	default:
		return fmt.Errorf("unknown change op %d", c.Op)
	}
	version := cur + 1
	var body []byte
	var err error
	isDeleted := 0
	if c.Op == Delete {
		isDeleted = 1
		body = []byte{}
	} else {
		if body, err = c.Render(version, now); err != nil {
			return err
		}
	}
	ts := now.UnixMilli()
	// a deletion keeps no index rows
	entries := c.Index
	if c.Op == Delete {
		entries = nil
	}
	var seq int64
	if s.d.numbered {
		seq, err = s.pgWrite(ctx, tx, c, exists, rid, cur, version, ts, isDeleted, body, entries, stored)
		if err != nil {
			return err
		}
		out.Created = !exists
		out.Record = Record{Ref: Ref{Type: c.Type, ID: c.ID, Version: version}, Seq: seq, Updated: now, Deleted: isDeleted != 0, Body: body}
		return nil
	}
	if exists {
		// The version being superseded keeps its body in the version
		// table from now on (while current, only resources holds it).
		if _, err := s.exec(ctx, tx, keepVersionBody, rid, c.Type, c.ID, cur); err != nil {
			return fmt.Errorf("keep superseded version: %w", err)
		}
		if _, err := s.exec(ctx, tx, "UPDATE resources SET version = ?, ts = ?, deleted = ?, body = ? WHERE rid = ?", version, ts, isDeleted, body, rid); err != nil {
			return fmt.Errorf("update resource: %w", err)
		}
	} else {
		rid, err = s.insertID(ctx, tx, "INSERT INTO resources (type, id, version, ts, deleted, body) VALUES (?, ?, ?, ?, ?, ?)",
			c.Type, c.ID, version, ts, isDeleted, body)
		if err != nil && s.d.isUnique(err) {
			return ErrExists
		}
		if err != nil {
			return fmt.Errorf("insert resource: %w", err)
		}
		out.Created = true
	}
	if !c.Unversioned {
		seq, err = s.insertID(ctx, tx, "INSERT INTO versions (type, id, version, ts, deleted, body) VALUES (?, ?, ?, ?, ?, ?)",
			c.Type, c.ID, version, ts, isDeleted, []byte{})
		if err != nil {
			return fmt.Errorf("insert version: %w", err)
		}
	}
	if exists {
		if err := s.replaceIndex(ctx, tx, rid, c.Type, entries); err != nil {
			return err
		}
	} else if err := s.insertIndex(ctx, tx, rid, c.Type, entries); err != nil {
		return err
	}
	out.Record = Record{Ref: Ref{Type: c.Type, ID: c.ID, Version: version}, Seq: seq, Updated: now, Deleted: isDeleted != 0, Body: body}
	return nil
}

// insertID inserts a row on SQLite and returns its rowid (cheaper than
// RETURNING there). PostgreSQL writes rows through pgwrite.go's statements.
func (s *sqlStore) insertID(ctx context.Context, tx *sql.Tx, q string, args ...any) (int64, error) {
	res, err := s.exec(ctx, tx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// indexInsert is how one kind of index row is inserted: its table, its
// columns and the row's values of an entry.
var indexInsert = map[search.Type]struct {
	cols   string
	values func(rid int64, typ string, e search.Entry) []any
	// read selects, in indexRowsOf, a stored row's values as two texts,
	// two integers and a real (in that order); stored gives them back as
	// values makes them, after rid
	read   string
	stored func(r storedRow) []any
}{
	search.String: {"rid, pid, norm, exact", func(rid int64, typ string, e search.Entry) []any {
		return []any{rid, ParamKey(typ, e.Param), e.Norm, e.Exact}
	}, "norm, exact, " + noInts + ", " + noReal, func(r storedRow) []any { return []any{r.pid, r.t1, r.t2} }},
	search.Token: {"rid, pid, system, code", func(rid int64, typ string, e search.Entry) []any {
		return []any{rid, ParamKey(typ, e.Param), e.System, e.Code}
	}, "system, code, " + noInts + ", " + noReal, func(r storedRow) []any { return []any{r.pid, r.t1, r.t2} }},
	search.Date: {"rid, pid, lo, hi", func(rid int64, typ string, e search.Entry) []any {
		return []any{rid, ParamKey(typ, e.Param), e.Lo, e.Hi}
	}, noTexts + ", lo, hi, " + noReal, func(r storedRow) []any { return []any{r.pid, r.i1, r.i2} }},
	search.Number: {"rid, pid, num", func(rid int64, typ string, e search.Entry) []any {
		return []any{rid, ParamKey(typ, e.Param), e.Num}
	}, noTexts + ", " + noInts + ", num", func(r storedRow) []any { return []any{r.pid, r.f} }},
	search.Reference: {"rid, pid, ref_type, ref_id", func(rid int64, typ string, e search.Entry) []any {
		return []any{rid, ParamKey(typ, e.Param), e.RefType, e.RefID}
	}, "ref_type, ref_id, " + noInts + ", " + noReal, func(r storedRow) []any { return []any{r.pid, r.t1, r.t2} }},
}

// The empty columns of indexRowsOf, typed alike in SQLite and PostgreSQL.
const noTexts, noInts, noReal = "'', ''", "CAST(0 AS BIGINT), CAST(0 AS BIGINT)", "CAST(0 AS DOUBLE PRECISION)"

// storedRow is an index row as indexRowsOf reads it: its pid, then its
// values in the columns of their type.
type storedRow struct {
	pid, i1, i2 int64
	t1, t2      string
	f           float64
}

// indexTypes orders the kinds of index rows (statements run in a fixed order).
var indexTypes = []search.Type{search.String, search.Token, search.Date, search.Number, search.Reference}

// maxIndexRows bounds the rows of one index INSERT: a resource's rows of
// one kind go in statements of up to this many rows.
const maxIndexRows = 32

// indexRowsSQL[t][n] inserts n rows of kind t (n from 1 to maxIndexRows).
// SQLite prepares all of them, and the deletions of a resource's rows, on
// its write connection.
var indexRowsSQL = map[search.Type][]string{}

// indexRowDelete[t] deletes a resource's rows of kind t with given
// values; indexClear[t] deletes all of its rows of kind t.
var indexRowDelete, indexClear = map[search.Type]string{}, map[search.Type]string{}

// indexRowsOf reads all of a resource's index rows in one statement (its
// rid given once per kind): each row's kind (its place in indexTypes),
// pid, then its values in the columns of their type (text, text, integer,
// integer, real), the others empty.
var indexRowsOf string

func init() {
	for _, t := range indexTypes {
		ins, table := indexInsert[t], tableFor[t]
		row := "(" + strings.Repeat("?, ", strings.Count(ins.cols, ",")) + "?)"
		indexRowsSQL[t] = rowsSQL("INSERT INTO "+table+" ("+ins.cols+") VALUES ", row, "")
		cols := strings.Split(ins.cols, ", ")
		indexRowDelete[t] = "DELETE FROM " + table + " WHERE " + strings.Join(cols, " = ? AND ") + " = ?"
		indexClear[t] = "DELETE FROM " + table + " WHERE rid = ?"
		writeStatements = append(writeStatements, indexRowDelete[t], indexClear[t])
	}
	var parts []string
	for i, t := range indexTypes {
		parts = append(parts, fmt.Sprintf("SELECT %d, pid, %s FROM %s WHERE rid = ?", i, indexInsert[t].read, tableFor[t]))
	}
	indexRowsOf = strings.Join(parts, " UNION ALL ")
	writeStatements = append(writeStatements, indexRowsOf)
}

// rowsSQL returns the statements that insert 1 to maxIndexRows rows, by
// row count, and has SQLite prepare them.
func rowsSQL(prefix, row, suffix string) []string {
	qs := make([]string, maxIndexRows+1)
	for n := 1; n <= maxIndexRows; n++ {
		qs[n] = prefix + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + suffix
		writeStatements = append(writeStatements, qs[n])
	}
	return qs
}

// execRows inserts rows of width arguments each through stmts (from
// rowsSQL), up to maxIndexRows rows per statement.
func (s *sqlStore) execRows(ctx context.Context, tx *sql.Tx, stmts []string, width int, args []any) error {
	for len(args) > 0 {
		n := min(len(args)/width, maxIndexRows)
		if _, err := s.exec(ctx, tx, stmts[n], args[:n*width]...); err != nil {
			return err
		}
		args = args[n*width:]
	}
	return nil
}

// insertIndex writes a resource's index rows: the rows of each kind in
// multi-row INSERTs (one statement step or round trip for up to
// maxIndexRows rows instead of one per row).
func (s *sqlStore) insertIndex(ctx context.Context, tx *sql.Tx, rid int64, typ string, entries []search.Entry) error {
	for _, e := range entries {
		if _, ok := indexInsert[e.Type]; !ok {
			return fmt.Errorf("unknown index type %q", e.Type)
		}
	}
	var args []any
	for _, t := range indexTypes {
		ins := indexInsert[t]
		args = args[:0]
		for _, e := range entries {
			if e.Type == t {
				args = append(args, ins.values(rid, typ, e)...)
			}
		}
		if err := s.execRows(ctx, tx, indexRowsSQL[t], strings.Count(ins.cols, ",")+1, args); err != nil {
			return fmt.Errorf("insert index rows into %s: %w", tableFor[t], err)
		}
	}
	return nil
}

// replaceIndex makes a resource's index rows those of entries, and writes
// only the rows that differ from those stored (indexDiff).
func (s *sqlStore) replaceIndex(ctx context.Context, tx *sql.Tx, rid int64, typ string, entries []search.Entry) error {
	changes, err := s.indexDiff(ctx, tx, rid, typ, entries)
	if err != nil {
		return err
	}
	if s.d.numbered {
		if !indexChanges(changes) {
			return nil
		}
		q, args := pgWriteStatement('i', changes, []any{rid})
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("write index rows: %w", err)
		}
		return nil
	}
	for kind, t := range indexTypes {
		ch := &changes[kind]
		if ch.clear {
			if _, err := s.exec(ctx, tx, indexClear[t], rid); err != nil {
				return fmt.Errorf("clear index rows of %s: %w", tableFor[t], err)
			}
		}
		for _, vals := range ch.deletes {
			if _, err := s.exec(ctx, tx, indexRowDelete[t], append([]any{rid}, vals...)...); err != nil {
				return fmt.Errorf("delete index rows of %s: %w", tableFor[t], err)
			}
		}
		var args []any
		for _, vals := range ch.inserts {
			args = append(args, rid)
			args = append(args, vals...)
		}
		if err := s.execRows(ctx, tx, indexRowsSQL[t], len(indexColumns[t])+1, args); err != nil {
			return fmt.Errorf("insert index rows into %s: %w", tableFor[t], err)
		}
	}
	return nil
}

// indexChange is how one kind of a resource's index rows changes: all of
// them deleted (clear), or the rows of given values (after rid) deleted,
// every copy of each; then rows inserted (their values after rid, one
// element per row).
type indexChange struct {
	clear            bool
	deletes, inserts [][]any
}

// indexChanges reports whether changes change any index row.
func indexChanges(changes []indexChange) bool {
	for i := range changes {
		if changes[i].clear || len(changes[i].deletes) > 0 || len(changes[i].inserts) > 0 {
			return true
		}
	}
	return false
}

// indexDiff compares a resource's stored index rows with those of entries
// and returns, by kind (in indexTypes order), what must change. An update
// changes few of its resource's rows (a status, a date): deleting and
// inserting all of them again wrote the b-tree pages of every one, most of
// them at random places (a patient's NHS number, an id), at every commit.
// The stored rows are read, not assumed, so the outcome is the same as
// rewriting them all: rows that an older index rule left are replaced too.
func (s *sqlStore) indexDiff(ctx context.Context, tx *sql.Tx, rid int64, typ string, entries []search.Entry) ([]indexChange, error) {
	stored, err := s.readIndex(ctx, tx, rid)
	if err != nil {
		return nil, err
	}
	return diffIndex(stored, rid, typ, entries)
}

// storedIndex is a resource's index rows as stored: by kind (in
// indexTypes order), how many copies of each row there are and the row's
// values after rid, by the row's key (rowKey).
type storedIndex struct {
	count []map[string]int
	row   []map[string][]any
	key   []byte
}

func newStoredIndex() *storedIndex {
	return &storedIndex{count: make([]map[string]int, len(indexTypes)), row: make([]map[string][]any, len(indexTypes))}
}

// add adds a row read by indexRowsOf (kind is its place in indexTypes).
func (si *storedIndex) add(kind int, r storedRow) error {
	if kind < 0 || kind >= len(indexTypes) {
		return fmt.Errorf("read index rows: kind %d", kind)
	}
	vals := indexInsert[indexTypes[kind]].stored(r)
	if si.count[kind] == nil {
		si.count[kind], si.row[kind] = map[string]int{}, map[string][]any{}
	}
	si.key = rowKey(si.key[:0], vals)
	k := string(si.key)
	si.count[kind][k]++
	si.row[kind][k] = vals
	return nil
}

// readIndex reads a resource's index rows.
func (s *sqlStore) readIndex(ctx context.Context, tx *sql.Tx, rid int64) (*storedIndex, error) {
	ridArgs := make([]any, len(indexTypes))
	for i := range ridArgs {
		ridArgs[i] = rid
	}
	rows, err := s.txQuery(ctx, tx, indexRowsOf, ridArgs...)
	if err != nil {
		return nil, fmt.Errorf("read index rows: %w", err)
	}
	defer rows.Close()
	si := newStoredIndex()
	for rows.Next() {
		var kind int
		var r storedRow
		if err := rows.Scan(&kind, &r.pid, &r.t1, &r.t2, &r.i1, &r.i2, &r.f); err != nil {
			return nil, fmt.Errorf("read index rows: %w", err)
		}
		if err := si.add(kind, r); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read index rows: %w", err)
	}
	return si, nil
}

// diffIndex returns, by kind (in indexTypes order), what must change for a
// resource whose index rows are stored to have those of entries.
func diffIndex(stored *storedIndex, rid int64, typ string, entries []search.Entry) ([]indexChange, error) {
	for _, e := range entries {
		if _, ok := indexInsert[e.Type]; !ok {
			return nil, fmt.Errorf("unknown index type %q", e.Type)
		}
	}
	have, haveRow := stored.count, stored.row
	var key []byte
	changes := make([]indexChange, len(indexTypes))
	for kind, t := range indexTypes {
		ins := indexInsert[t]
		ch := &changes[kind]
		// the rows wanted, by their values after rid
		var want map[string]int
		var wanted []string
		var wantedRow map[string][]any
		for _, e := range entries {
			if e.Type != t {
				continue
			}
			vals := ins.values(rid, typ, e)[1:]
			key = rowKey(key[:0], vals)
			k := string(key)
			if want == nil {
				want, wantedRow = map[string]int{}, map[string][]any{}
			}
			if want[k] == 0 {
				wanted = append(wanted, k)
				wantedRow[k] = vals
			}
			want[k]++
		}
		// delete what differs (all of a value's copies), then insert
		kept := 0
		for k, n := range have[kind] {
			if want[k] == n {
				kept++
			}
		}
		if kept == 0 && len(have[kind]) > 0 {
			ch.clear = true
		} else {
			for k, n := range have[kind] {
				if want[k] != n {
					ch.deletes = append(ch.deletes, haveRow[kind][k])
				}
			}
		}
		for _, k := range wanted {
			if have[kind][k] == want[k] {
				continue
			}
			for range want[k] {
				ch.inserts = append(ch.inserts, wantedRow[k])
			}
		}
	}
	return changes, nil
}

// rowKey appends to dst a key of an index row's values (int64, float64
// or string): equal rows, equal keys.
func rowKey(dst []byte, vals []any) []byte {
	for _, v := range vals {
		switch v := v.(type) {
		case int64:
			dst = append(dst, 'i')
			dst = strconv.AppendInt(dst, v, 10)
		case float64:
			dst = append(dst, 'f')
			dst = strconv.AppendFloat(dst, v, 'g', -1, 64)
		case string:
			dst = append(dst, 's')
			dst = strconv.AppendInt(dst, int64(len(v)), 10)
			dst = append(dst, ':')
			dst = append(dst, v...)
		default:
			panic(fmt.Sprintf("index row value of type %T", v))
		}
		dst = append(dst, 0)
	}
	return dst
}

func (s *sqlStore) Reindex(ctx context.Context, typ string, extract func(body []byte) ([]search.Entry, error)) (int, error) {
	// Pages in (ts, rid) order along the (type, ts) index: by rid alone
	// SQLite walked the whole table for every page of a small type (7 s
	// for no resources in a million-patient database).
	var afterTS, afterRID int64 = -1 << 62, 0
	n := 0
	for {
		rows, err := s.db.QueryContext(ctx, s.rb("SELECT rid, ts, body FROM resources WHERE type = ? AND deleted = 0 AND (ts > ? OR (ts = ? AND rid > ?)) ORDER BY ts, rid LIMIT 500"),
			typ, afterTS, afterTS, afterRID)
		if err != nil {
			return n, fmt.Errorf("reindex %s: %w", typ, err)
		}
		type item struct {
			rid, ts int64
			entries []search.Entry
		}
		var batch []item
		for rows.Next() {
			var it item
			var body []byte
			if err := rows.Scan(&it.rid, &it.ts, &body); err != nil {
				rows.Close()
				return n, err
			}
			if it.entries, err = extract(body); err != nil {
				rows.Close()
				return n, fmt.Errorf("reindex %s rid %d: %w", typ, it.rid, err)
			}
			batch = append(batch, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, err
		}
		if len(batch) == 0 {
			return n, nil
		}
		err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			for _, it := range batch {
				if err := s.replaceIndex(ctx, tx, it.rid, typ, it.entries); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("reindex %s: %w", typ, err)
		}
		n += len(batch)
		afterTS, afterRID = batch[len(batch)-1].ts, batch[len(batch)-1].rid
	}
}

// BulkLoad runs load with the secondary indexes dropped, then rebuilds
// them (sorting once is far cheaper than millions of random inserts) and
// refreshes the planner statistics. The store stays correct meanwhile;
// searches are slower until the rebuild. An interrupted load leaves the
// indexes to be recreated at the next open.
func (s *sqlStore) BulkLoad(ctx context.Context, load func() error) error {
	var drops, creates []string
	for _, stmt := range schemaFor(s.d) {
		if f := strings.Fields(stmt); len(f) > 5 && f[0] == "CREATE" && f[1] == "INDEX" {
			drops = append(drops, "DROP INDEX IF EXISTS "+f[5])
			creates = append(creates, stmt)
		}
	}
	run := func(stmts []string) error {
		return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			for _, q := range stmts {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("%s: %w", q, err)
				}
			}
			return nil
		})
	}
	if err := run(drops); err != nil {
		return err
	}
	loadErr := load()
	// For the index builds a small page cache on SQLite's writer and the
	// sorter's runs in temp files, not in memory: SQLite's in-memory temp
	// files made the largest build (10.7 million token rows) 2.3x slower
	// (34.5 s instead of 14.7 s), a 32 MiB cache 1.5x slower than 4 MiB;
	// a million patients' builds took 33 s instead of 60. (A larger cache
	// while loading helped while NHS numbers were loaded in random order,
	// not since they are loaded in ascending order.) The writer's settings
	// come back even when a build failed.
	restore, err := s.indexBuildSettings(ctx)
	if err == nil {
		err = run(append(creates, "ANALYZE"))
	}
	if rerr := s.writerPragmas(ctx, restore...); err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	return loadErr
}

// indexBuildSettings sets SQLite's writer up for index builds and returns
// the PRAGMAs that undo it (also when setting up failed half way); nothing
// on PostgreSQL.
func (s *sqlStore) indexBuildSettings(ctx context.Context) (restore []string, err error) {
	if s.sqlite == nil {
		return nil, nil
	}
	var cache int64
	if err := s.sqlite.db.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cache); err != nil {
		return nil, err
	}
	restore = []string{"PRAGMA temp_store = MEMORY", fmt.Sprintf("PRAGMA cache_size = %d", cache)}
	return restore, s.writerPragmas(ctx, "PRAGMA temp_store = FILE", fmt.Sprintf("PRAGMA cache_size = %d", -indexBuildCacheKiB))
}

// writerPragmas runs PRAGMAs on SQLite's write connection outside any
// transaction (temp_store cannot change inside one).
func (s *sqlStore) writerPragmas(ctx context.Context, pragmas ...string) error {
	for _, p := range pragmas {
		if _, err := s.sqlite.db.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

// indexBuildCacheKiB is the SQLite writer's page cache while BulkLoad
// builds the indexes.
const indexBuildCacheKiB = 4 << 10

func (s *sqlStore) NextSequence(ctx context.Context, name string, n int64) (int64, error) {
	if n < 1 {
		return 0, fmt.Errorf("sequence %s: reserve at least 1", name)
	}
	var last int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return s.txRow(ctx, tx, "INSERT INTO sequences (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = sequences.value + ? RETURNING value", name, n, n).Scan(&last)
	})
	if err != nil {
		return 0, fmt.Errorf("sequence %s: %w", name, err)
	}
	return last - n + 1, nil
}
