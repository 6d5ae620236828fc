package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openspine/openspine/internal/search"
)

// dialect is what differs between the databases in SQL text.
type dialect struct {
	name      string
	pk        string // auto-assigned integer primary key
	text      string // byte-ordered text
	blob      string
	clustered string // suffix of a table stored as its primary key (" WITHOUT ROWID" on SQLite)
	numbered  bool   // $1 placeholders instead of ?
	prepare   bool   // keep prepared statements (SQLite; pgx caches its own)
	least     string // the two-argument minimum function: MIN (SQLite) or LEAST
	// noIndex prefixes a column to keep the planner from using its index
	// ("+" on SQLite; PostgreSQL's planner needs no such hint).
	noIndex string
	// isUnique reports a unique-constraint violation.
	isUnique func(error) bool
}

// sqlStore is the SQL implementation shared by both databases.
type sqlStore struct {
	d  dialect
	db *sql.DB // reads (and, on PostgreSQL, writes)
	// write runs fn in a transaction that is committed durably before it returns.
	write func(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error
	// enqueue queues fn for the writer, which runs it last in its
	// transaction and hands its durable outcome to then; such writes run,
	// and are answered, in the order queued (SQLite only, nil elsewhere).
	enqueue func(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error, then func(error)) error
	// sqlite is the single writer (SQLite only).
	sqlite *sqliteWriter
	// lockType serialises conditional creates of one type (PostgreSQL).
	lockType func(ctx context.Context, tx *sql.Tx, typ string) error
	closeFn  func() error
	// writeView holds the statements prepared on the write connection
	// (SQLite keeps separate read and write pools).
	writeView *sqlStore

	rebound sync.Map // query with ? -> query for this dialect
	stmts   sync.Map // rebound query -> *sql.Stmt (when d.prepare)
	stmtMu  sync.Mutex
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// rb converts ? placeholders for the dialect, caching the result.
func (s *sqlStore) rb(q string) string {
	if !s.d.numbered {
		return q
	}
	if v, ok := s.rebound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	out := b.String()
	if len(q) < 4096 {
		s.rebound.Store(q, out)
	}
	return out
}

// stmt returns a prepared statement for a static query (SQLite only).
func (s *sqlStore) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if v, ok := s.stmts.Load(q); ok {
		return v.(*sql.Stmt), nil
	}
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if v, ok := s.stmts.Load(q); ok {
		return v.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	s.stmts.Store(q, st)
	return st, nil
}

// prepared returns the statement prepared ahead for q, or nil.
func (s *sqlStore) prepared(q string) *sql.Stmt {
	if !s.d.prepare {
		return nil
	}
	if v, ok := s.stmts.Load(q); ok {
		return v.(*sql.Stmt)
	}
	return nil
}

// queryRow runs a static single-row query on the read pool.
func (s *sqlStore) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if s.d.prepare {
		if st, err := s.stmt(ctx, q); err == nil {
			return st.QueryRowContext(ctx, args...)
		}
	}
	return s.db.QueryRowContext(ctx, s.rb(q), args...)
}

func (s *sqlStore) Backend() string { return s.d.name }

func (s *sqlStore) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

func (s *sqlStore) Close() error { return s.closeFn() }

func (s *sqlStore) migrate(ctx context.Context, q querier) error {
	stmts := schemaFor(s.d)
	if _, err := q.ExecContext(ctx, stmts[0]); err != nil { // the meta table
		return fmt.Errorf("create schema: %w", err)
	}
	var v string
	err := q.QueryRowContext(ctx, s.rb("SELECT value FROM meta WHERE key = ?"), "schema").Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		v = ""
	case err != nil:
		return err
	case v == "1":
		if err := s.inTx(ctx, q, s.migrateIndexRows); err != nil {
			return fmt.Errorf("migrate schema 1 to %s: %w", schemaVersion, err)
		}
		v = schemaVersion
	case v != schemaVersion:
		return fmt.Errorf("database schema version %s, this server needs %s", v, schemaVersion)
	}
	for _, stmt := range stmts[1:] {
		if _, err := q.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	if v == "" {
		_, err = q.ExecContext(ctx, s.rb("INSERT INTO meta (key, value) VALUES (?, ?)"), "schema", schemaVersion)
	}
	return err
}

// inTx runs fn in q's transaction, or in a new one when q is a database.
func (s *sqlStore) inTx(ctx context.Context, q querier, fn func(ctx context.Context, q querier) error) error {
	db, ok := q.(*sql.DB)
	if !ok {
		return fn(ctx, q)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// migrateIndexRows rewrites schema 1's index tables, keyed by (type,
// param) text, as schema 2's, keyed by ParamKey(type, param); the indexes
// are then created with the rest of the schema.
func (s *sqlStore) migrateIndexRows(ctx context.Context, q querier) error {
	for _, t := range indexTypes {
		table, cols := tableFor[t], strings.TrimPrefix(indexInsert[t].cols, "rid, pid, ")
		var create string
		for _, stmt := range schemaFor(s.d) {
			if strings.HasPrefix(stmt, "CREATE TABLE IF NOT EXISTS "+table+" (") {
				create = strings.Replace(stmt, " "+table+" (", " "+table+"_v2 (", 1)
			}
		}
		if _, err := q.ExecContext(ctx, create); err != nil {
			return err
		}
		rows, err := q.QueryContext(ctx, "SELECT DISTINCT type, param FROM "+table)
		if err != nil {
			return err
		}
		var pairs [][2]string
		for rows.Next() {
			var p [2]string
			if err := rows.Scan(&p[0], &p[1]); err != nil {
				rows.Close()
				return err
			}
			pairs = append(pairs, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, p := range pairs {
			if _, err := q.ExecContext(ctx, s.rb("INSERT INTO "+table+"_v2 (rid, pid, "+cols+") SELECT rid, ?, "+cols+" FROM "+table+" WHERE type = ? AND param = ?"),
				ParamKey(p[0], p[1]), p[0], p[1]); err != nil {
				return err
			}
		}
		for _, stmt := range []string{"DROP TABLE " + table, "ALTER TABLE " + table + "_v2 RENAME TO " + table} {
			if _, err := q.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
	}
	_, err := q.ExecContext(ctx, s.rb("UPDATE meta SET value = ? WHERE key = ?"), schemaVersion, "schema")
	return err
}

const readQuery = "SELECT version, ts, deleted, body FROM resources WHERE type = ? AND id = ?"

func (s *sqlStore) Read(ctx context.Context, typ, id string) (Record, error) {
	defer observe("read", time.Now())
	r := Record{Ref: Ref{Type: typ, ID: id}}
	var ts int64
	var deleted int
	err := s.queryRow(ctx, readQuery, typ, id).Scan(&r.Version, &ts, &deleted, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("read %s/%s: %w", typ, id, err)
	}
	r.Updated, r.Deleted = time.UnixMilli(ts).UTC(), deleted != 0
	return r, nil
}

// versionsWithBodies is the version table with each version's body: its
// own once superseded, the resource's while it is current (see
// keepVersionBody).
const versionsWithBodies = " FROM versions v LEFT JOIN resources r ON r.type = v.type AND r.id = v.id AND r.version = v.version"

// versionBody is the body column of versionsWithBodies.
const versionBody = "CASE WHEN v.deleted = 0 AND length(v.body) = 0 THEN r.body ELSE v.body END"

const readVersionQuery = "SELECT v.seq, v.ts, v.deleted, " + versionBody + versionsWithBodies + " WHERE v.type = ? AND v.id = ? AND v.version = ?"

func (s *sqlStore) ReadVersion(ctx context.Context, typ, id string, version int64) (Record, error) {
	defer observe("vread", time.Now())
	r := Record{Ref: Ref{Type: typ, ID: id, Version: version}}
	var ts int64
	var deleted int
	err := s.queryRow(ctx, readVersionQuery, typ, id, version).Scan(&r.Seq, &ts, &deleted, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("vread %s/%s/%d: %w", typ, id, version, err)
	}
	r.Updated, r.Deleted = time.UnixMilli(ts).UTC(), deleted != 0
	return r, nil
}

func scanRecords(rows *sql.Rows) ([]Record, error) {
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var ts int64
		var deleted int
		if err := rows.Scan(&r.Seq, &r.Type, &r.ID, &r.Version, &ts, &deleted, &r.Body); err != nil {
			return nil, err
		}
		r.Updated, r.Deleted = time.UnixMilli(ts).UTC(), deleted != 0
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *sqlStore) Fetch(ctx context.Context, refs []Ref) ([]Record, error) {
	defer observe("fetch", time.Now())
	// The current rows first, in one query per type through the (type, id)
	// key (an IN list the index walks; the pages reads keep warm); the
	// version table only for versions that are no longer current.
	byRef := make(map[Ref]Record, len(refs))
	var current map[Ref]Record // by type and id, when a ref asks for Version 0
	byType := map[string][]any{}
	for _, r := range refs {
		byType[r.Type] = append(byType[r.Type], r.ID)
		if r.Version == 0 && current == nil {
			current = make(map[Ref]Record, len(refs))
		}
	}
	for typ, ids := range byType {
		for start := 0; start < len(ids); start += 500 {
			chunk := ids[start:min(start+500, len(ids))]
			rows, err := s.db.QueryContext(ctx, s.rb("SELECT 0, type, id, version, ts, deleted, body FROM resources WHERE type = ? AND id IN ("+placeholders(len(chunk))+")"), append([]any{typ}, chunk...)...)
			if err != nil {
				return nil, fmt.Errorf("fetch: %w", err)
			}
			recs, err := scanRecords(rows)
			if err != nil {
				return nil, fmt.Errorf("fetch: %w", err)
			}
			for _, rec := range recs {
				byRef[rec.Ref] = rec
				if current != nil {
					current[Ref{Type: rec.Type, ID: rec.ID}] = rec
				}
			}
		}
	}
	out := make([]Record, 0, len(refs))
	for _, r := range refs {
		if rec, ok := byRef[r]; ok {
			out = append(out, rec)
			continue
		}
		if r.Version == 0 {
			if rec, ok := current[r]; ok {
				out = append(out, rec)
			}
			continue
		}
		rec := Record{Ref: r}
		var ts int64
		var deleted int
		err := s.queryRow(ctx, readVersionQuery, r.Type, r.ID, r.Version).Scan(&rec.Seq, &ts, &deleted, &rec.Body)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("fetch %s/%s/%d: %w", r.Type, r.ID, r.Version, err)
		}
		rec.Updated, rec.Deleted = time.UnixMilli(ts).UTC(), deleted != 0
		out = append(out, rec)
	}
	return out, nil
}

func (s *sqlStore) History(ctx context.Context, q HistoryQuery) ([]Record, error) {
	defer observe("history", time.Now())
	var where []string
	var args []any
	if q.Type != "" {
		where, args = append(where, "v.type = ?"), append(args, q.Type)
		if q.ID != "" {
			where, args = append(where, "v.id = ?"), append(args, q.ID)
		}
	}
	if q.Before > 0 {
		where, args = append(where, "v.seq < ?"), append(args, q.Before)
	}
	if q.Since > 0 {
		where, args = append(where, "v.ts >= ?"), append(args, q.Since)
	}
	query := "SELECT v.seq, v.type, v.id, v.version, v.ts, v.deleted, " + versionBody + versionsWithBodies
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY v.seq DESC LIMIT ?"
	args = append(args, q.Count)
	rows, err := s.db.QueryContext(ctx, s.rb(query), args...)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return scanRecords(rows)
}

func (s *sqlStore) Search(ctx context.Context, q *search.Query, limit int) ([]Ref, error) {
	defer observe("search", time.Now())
	return s.search(ctx, s.db, q, limit)
}

func (s *sqlStore) search(ctx context.Context, db querier, q *search.Query, limit int) ([]Ref, error) {
	where, args := buildWhere(s.d, q)
	order, oargs := buildOrder(q)
	query := "SELECT r.id, r.version FROM resources r WHERE " + where + " ORDER BY " + order + " LIMIT ?"
	args = append(append(args, oargs...), limit)
	rows, err := db.QueryContext(ctx, s.rb(query), args...)
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", q.Type, err)
	}
	defer rows.Close()
	var out []Ref
	for rows.Next() {
		r := Ref{Type: q.Type}
		if err := rows.Scan(&r.ID, &r.Version); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *sqlStore) Count(ctx context.Context, q *search.Query) (int, error) {
	defer observe("count", time.Now())
	where, args := buildWhere(s.d, q)
	var n int
	err := s.db.QueryRowContext(ctx, s.rb("SELECT COUNT(*) FROM resources r WHERE "+where), args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", q.Type, err)
	}
	return n, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func (s *sqlStore) Include(ctx context.Context, src []Ref, inc search.Include, limit int) ([]Record, error) {
	if len(src) == 0 {
		return nil, nil
	}
	args := []any{inc.SourceType, ParamKey(inc.SourceType, inc.Param.Name)}
	for _, r := range src {
		args = append(args, r.ID)
	}
	query := `SELECT 0, r2.type, r2.id, r2.version, r2.ts, r2.deleted, r2.body
FROM resources r1 JOIN sp_ref x ON x.rid = r1.rid JOIN resources r2 ON r2.type = x.ref_type AND r2.id = x.ref_id
WHERE r1.type = ? AND x.pid = ? AND r1.id IN (` + placeholders(len(src)) + `) AND r2.deleted = 0`
	if inc.TargetType != "" {
		query += " AND x.ref_type = ?"
		args = append(args, inc.TargetType)
	}
	query += " LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.rb(query), args...)
	if err != nil {
		return nil, fmt.Errorf("include: %w", err)
	}
	return scanRecords(rows)
}

func (s *sqlStore) RevInclude(ctx context.Context, targets []Ref, inc search.Include, limit int) ([]Record, error) {
	byType := map[string][]any{}
	for _, t := range targets {
		if inc.TargetType == "" || inc.TargetType == t.Type {
			byType[t.Type] = append(byType[t.Type], t.ID)
		}
	}
	var out []Record
	for typ, ids := range byType {
		args := append([]any{ParamKey(inc.SourceType, inc.Param.Name), typ}, ids...)
		args = append(args, inc.SourceType, limit)
		query := `SELECT 0, r.type, r.id, r.version, r.ts, r.deleted, r.body
FROM sp_ref x JOIN resources r ON r.rid = x.rid
WHERE x.pid = ? AND x.ref_type = ? AND x.ref_id IN (` + placeholders(len(ids)) + `) AND r.type = ? AND r.deleted = 0 LIMIT ?`
		rows, err := s.db.QueryContext(ctx, s.rb(query), args...)
		if err != nil {
			return nil, fmt.Errorf("revinclude: %w", err)
		}
		recs, err := scanRecords(rows)
		if err != nil {
			return nil, fmt.Errorf("revinclude: %w", err)
		}
		out = append(out, recs...)
	}
	return out, nil
}
