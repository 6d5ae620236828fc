package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/store/storetest"
)

var orgParams = []search.Param{
	{Name: "name", Type: search.String, Paths: []string{"name"}},
	{Name: "identifier", Type: search.Token, Paths: []string{"identifier"}},
	{Name: "active", Type: search.Token, Paths: []string{"active"}},
	{Name: "partof", Type: search.Reference, Paths: []string{"partOf"}, Targets: []string{"Organization"}},
	{Name: "founded", Type: search.Date, Paths: []string{"extension.valueDate"}},
	{Name: "beds", Type: search.Number, Paths: []string{"extension.valueInteger"}},
}

type registry map[string][]search.Param

func (r registry) Params(typ string) (map[string]search.Param, bool) {
	ps, ok := r[typ]
	if !ok {
		return nil, false
	}
	m := map[string]search.Param{}
	for _, p := range ps {
		m[p.Name] = p
	}
	return m, true
}

var reg = registry{"Organization": orgParams}

func change(op store.Op, id string, res map[string]any) store.Change {
	c := store.Change{Op: op, Type: "Organization", ID: id}
	if res != nil {
		res["resourceType"], res["id"] = "Organization", id
		c.Index = search.Extract(res, orgParams)
		c.Render = func(v int64, ts time.Time) ([]byte, error) {
			res["meta"] = map[string]any{"versionId": fmt.Sprint(v), "lastUpdated": ts.Format(time.RFC3339Nano)}
			return fhir.Marshal(res), nil
		}
	}
	return c
}

func org(name, ods string, extra map[string]any) map[string]any {
	m := map[string]any{"name": name, "identifier": []any{map[string]any{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": ods}}, "active": true}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func query(t *testing.T, raw string) *search.Query {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	q, err := search.Parse(reg, "Organization", v, false)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return q
}

func ids(refs []store.Ref) []string {
	out := []string{}
	for _, r := range refs {
		out = append(out, r.ID)
	}
	return out
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _, _ := b.Open(t)
		ctx := context.Background()
		apply := func(cs ...store.Change) []store.Outcome {
			t.Helper()
			out, err := s.Apply(ctx, cs)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			return out
		}
		out := apply(change(store.Create, "a", org("Leeds Teaching Hospitals", "RR8", nil)))
		if !out[0].Created || out[0].Version != 1 {
			t.Fatalf("create: %+v", out[0])
		}
		rec, err := s.Read(ctx, "Organization", "a")
		if err != nil || rec.Version != 1 || rec.Deleted {
			t.Fatalf("read: %+v %v", rec, err)
		}
		var body map[string]any
		if err := json.Unmarshal(rec.Body, &body); err != nil || body["name"] != "Leeds Teaching Hospitals" {
			t.Fatalf("body %s: %v", rec.Body, err)
		}
		if _, err := s.Read(ctx, "Organization", "zzz"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing read: %v", err)
		}
		if _, err := s.Apply(ctx, []store.Change{change(store.Create, "a", org("X", "X1", nil))}); !errors.Is(err, store.ErrExists) {
			t.Fatalf("duplicate create: %v", err)
		}
		// update with the right and a stale version
		c := change(store.Update, "a", org("Leeds Teaching Hospitals NHS Trust", "RR8", nil))
		c.IfMatch = 1
		if out := apply(c); out[0].Version != 2 {
			t.Fatalf("update version %d", out[0].Version)
		}
		c.IfMatch = 1
		var vc *store.VersionConflict
		if _, err := s.Apply(ctx, []store.Change{c}); !errors.As(err, &vc) || vc.Current != 2 {
			t.Fatalf("stale update: %v", err)
		}
		if _, err := s.Apply(ctx, []store.Change{change(store.Update, "nope", org("n", "N1", nil))}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update missing: %v", err)
		}
		v1, err := s.ReadVersion(ctx, "Organization", "a", 1)
		if err != nil || string(v1.Body) != string(rec.Body) {
			t.Fatalf("vread 1 differs from the first read: %v\n%s\n%s", err, v1.Body, rec.Body)
		}
		// search on every type
		apply(change(store.Create, "b", org("Leeds Community Healthcare", "RY6", map[string]any{"partOf": map[string]any{"reference": "Organization/a"},
			"extension": []any{map[string]any{"url": "x", "valueDate": "1999-04-01"}, map[string]any{"url": "y", "valueInteger": json.Number("120")}}})),
			change(store.Create, "c", org("Zoë's Surgery", "B82001", map[string]any{"active": false})))
		cases := map[string][]string{
			"name=leeds":               {"a", "b"},
			"name=LEEDS%20comm":        {"b"},
			"name=zoe":                 {"c"},
			"name:exact=Zoë's Surgery": {"c"},
			"name:exact=zoë's surgery": {},
			"name:contains=community":  {"b"},
			"identifier=RY6":           {"b"},
			"identifier=https://fhir.nhs.uk/Id/ods-organization-code|B82001": {"c"},
			"identifier=other|B82001":    {},
			"active=false":               {"c"},
			"active:not=false":           {"a", "b"},
			"partof=Organization/a":      {"b"},
			"partof=a":                   {"b"},
			"partof:missing=true":        {"a", "c"},
			"founded=1999":               {"b"},
			"founded=ge1999-04-01":       {"b"},
			"founded=lt1999-04-01":       {},
			"beds=120":                   {"b"},
			"beds=gt119":                 {"b"},
			"beds=lt100":                 {},
			"name=leeds,zoe&active=true": {"a", "b"},
			"name=leeds&name=leeds%20c":  {"b"},
			"_id=a,c":                    {"a", "c"},
			"name=leeds&_sort=-name":     {"a", "b"},
			"_sort=name":                 {"b", "a", "c"},
		}
		for raw, want := range cases {
			refs, err := s.Search(ctx, query(t, raw), 100)
			if err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			if fmt.Sprint(ids(refs)) != fmt.Sprint(want) {
				t.Errorf("%s: got %v want %v", raw, ids(refs), want)
			}
		}
		if n, err := s.Count(ctx, query(t, "name=leeds")); err != nil || n != 2 {
			t.Errorf("count: %d %v", n, err)
		}
		// include / revinclude
		inc := search.Include{SourceType: "Organization", Param: orgParams[3]}
		recs, err := s.Include(ctx, []store.Ref{{Type: "Organization", ID: "b"}}, inc, 10)
		if err != nil || len(recs) != 1 || recs[0].ID != "a" {
			t.Errorf("include: %v %v", recs, err)
		}
		recs, err = s.RevInclude(ctx, []store.Ref{{Type: "Organization", ID: "a"}}, inc, 10)
		if err != nil || len(recs) != 1 || recs[0].ID != "b" {
			t.Errorf("revinclude: %v %v", recs, err)
		}
		// conditional create
		cc := change(store.Create, "d", org("Leeds Community Healthcare", "RY6", nil))
		cc.IfNoneExist = query(t, "identifier=RY6")
		if out := apply(cc); !out[0].Existing || out[0].ID != "b" {
			t.Errorf("conditional create matched: %+v", out[0])
		}
		// delete keeps history and removes index rows
		if out := apply(change(store.Delete, "b", nil)); out[0].Version != 2 || !out[0].Deleted {
			t.Errorf("delete: %+v", out[0])
		}
		if refs, _ := s.Search(ctx, query(t, "identifier=RY6"), 10); len(refs) != 0 {
			t.Errorf("deleted still found: %v", refs)
		}
		if rec, err := s.Read(ctx, "Organization", "b"); err != nil || !rec.Deleted {
			t.Errorf("read deleted: %+v %v", rec, err)
		}
		if out := apply(change(store.Delete, "b", nil)); !out[0].NoOp {
			t.Errorf("second delete not a no-op")
		}
		hist, err := s.History(ctx, store.HistoryQuery{Type: "Organization", ID: "b", Count: 10})
		if err != nil || len(hist) != 2 || !hist[0].Deleted || hist[1].Version != 1 {
			t.Errorf("history: %+v %v", hist, err)
		}
		all, err := s.History(ctx, store.HistoryQuery{Count: 100})
		if err != nil || len(all) != 5 {
			t.Errorf("system history: %d %v", len(all), err)
		}
		page2, _ := s.History(ctx, store.HistoryQuery{Count: 100, Before: all[1].Seq})
		if len(page2) != 3 || page2[0].Seq != all[2].Seq {
			t.Errorf("history paging: %+v", page2)
		}
		// fetch keeps old versions
		recs, err = s.Fetch(ctx, []store.Ref{{Type: "Organization", ID: "a", Version: 1}, {Type: "Organization", ID: "b", Version: 1}})
		if err != nil || len(recs) != 2 || recs[1].ID != "b" {
			t.Errorf("fetch: %v %v", recs, err)
		}
		// version 0: the current version, whatever it is
		curA, err := s.Read(ctx, "Organization", "a")
		if err != nil || curA.Version < 2 {
			t.Fatalf("read a: %+v %v", curA.Ref, err)
		}
		recs, err = s.Fetch(ctx, []store.Ref{{Type: "Organization", ID: "zz"}, {Type: "Organization", ID: "b"}, {Type: "Organization", ID: "a"}})
		if err != nil || len(recs) != 2 || recs[0].ID != "b" || !recs[0].Deleted || recs[0].Version != 2 ||
			recs[1].ID != "a" || recs[1].Version != curA.Version || string(recs[1].Body) != string(curA.Body) {
			t.Errorf("fetch of current versions: %+v %v", recs, err)
		}
		// a failed batch leaves nothing behind
		_, err = s.Apply(ctx, []store.Change{change(store.Create, "e", org("E", "E1", nil)), change(store.Create, "a", org("dup", "D1", nil))})
		var ce *store.ChangeError
		if !errors.As(err, &ce) || ce.Index != 1 {
			t.Fatalf("batch: %v", err)
		}
		if _, err := s.Read(ctx, "Organization", "e"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("atomicity: e exists after failed batch")
		}
		// sequences
		first, err := s.NextSequence(ctx, "nhs", 10)
		second, err2 := s.NextSequence(ctx, "nhs", 1)
		if err != nil || err2 != nil || first != 1 || second != 11 {
			t.Errorf("sequence: %d %d %v %v", first, second, err, err2)
		}
		// reindex rebuilds rows from bodies
		n, err := s.Reindex(ctx, "Organization", func(b []byte) ([]search.Entry, error) {
			res, err := fhir.DecodeResource(b, "Organization")
			if err != nil {
				return nil, err
			}
			return search.Extract(res, orgParams[:1]), nil // only name
		})
		if err != nil || n != 2 {
			t.Errorf("reindex: %d %v", n, err)
		}
		if refs, _ := s.Search(ctx, query(t, "identifier=B82001"), 10); len(refs) != 0 {
			t.Errorf("reindex kept dropped params")
		}
		if refs, _ := s.Search(ctx, query(t, "name=zoe"), 10); len(refs) != 1 {
			t.Errorf("reindex lost name")
		}
	})
}

// TestConcurrentIfMatch: 50 concurrent conditional updates of one resource;
// stale ones fail, none is lost, the final version is 1 + successes.
func TestConcurrentIfMatch(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _, _ := b.Open(t)
		ctx := context.Background()
		if _, err := s.Apply(ctx, []store.Change{change(store.Create, "x", org("X", "X1", nil))}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, stale := 0, 0
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				rec, err := s.Read(ctx, "Organization", "x")
				if err != nil {
					t.Error(err)
					return
				}
				c := change(store.Update, "x", org(fmt.Sprint("X", i), "X1", nil))
				c.IfMatch = rec.Version
				_, err = s.Apply(ctx, []store.Change{c})
				var vc *store.VersionConflict
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.As(err, &vc):
					stale++
				default:
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
		rec, _ := s.Read(ctx, "Organization", "x")
		if ok+stale != 50 || rec.Version != int64(1+ok) || ok == 0 {
			t.Fatalf("ok=%d stale=%d final version=%d", ok, stale, rec.Version)
		}
		hist, _ := s.History(ctx, store.HistoryQuery{Type: "Organization", ID: "x", Count: 100})
		if len(hist) != 1+ok {
			t.Fatalf("history has %d versions, want %d", len(hist), 1+ok)
		}
	})
}

// Settings are kept across a reopen; an unset one reads as "".
func TestSettings(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		s, dsn, dir := b.Open(t)
		if v, err := s.Setting(ctx, "index/x"); err != nil || v != "" {
			t.Fatalf("unset: %q %v", v, err)
		}
		for _, v := range []string{"one", "two"} {
			if err := s.SetSetting(ctx, "index/x", v); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		s2, err := store.Open(ctx, dsn, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		if v, err := s2.Setting(ctx, "index/x"); err != nil || v != "two" {
			t.Fatalf("after reopen: %q %v", v, err)
		}
		if v, err := s2.Setting(ctx, "schema"); err != nil || v != "2" {
			t.Fatalf("schema setting: %q %v", v, err)
		}
	})
}

func TestClaimsAndBuckets(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, dsn, dir := b.Open(t)
		ctx := context.Background()
		// a second handle on the same database stands for another process
		s2, err := store.Open(ctx, dsn, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		until := time.Now().Add(time.Minute)
		if fresh, err := s.Claim(ctx, "app|jti-1", until); err != nil || !fresh {
			t.Fatalf("first claim: %v %v", fresh, err)
		}
		if fresh, err := s2.Claim(ctx, "app|jti-1", until); err != nil || fresh {
			t.Fatalf("replayed claim accepted by another process: %v %v", fresh, err)
		}
		if fresh, _ := s.Claim(ctx, "app|jti-2", time.Now().Add(-time.Second)); !fresh {
			t.Fatal("second key refused")
		}
		if fresh, _ := s2.Claim(ctx, "app|jti-2", until); !fresh {
			t.Fatal("expired claim not reusable")
		}
		// a burst of 3 shared by two processes, refilling at 1/s
		took := 0
		var wait time.Duration
		for i := 0; i < 6; i++ {
			st := s
			if i%2 == 1 {
				st = s2
			}
			ok, w, err := st.TakeToken(ctx, "app|pds", 1, 3, 1)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				took++
			} else {
				wait = w
			}
		}
		if took != 3 || wait <= 0 || wait > time.Second {
			t.Fatalf("took %d tokens of a burst of 3, wait %v", took, wait)
		}
	})
}

func TestAuditLeaves(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _, _ := b.Open(t)
		ctx := context.Background()
		type auditStorage interface {
			AppendLeaves(ctx context.Context, bodies, hashes [][]byte) (int64, error)
			Leaves(ctx context.Context, from, to int64) ([][]byte, error)
			LogSize(ctx context.Context) (int64, error)
		}
		as := s.(auditStorage)
		var wg sync.WaitGroup
		firsts := make(chan int64, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				f, err := as.AppendLeaves(ctx, [][]byte{[]byte(fmt.Sprint("a", i)), []byte(fmt.Sprint("b", i))}, [][]byte{{1}, {2}})
				if err != nil {
					t.Error(err)
				}
				firsts <- f
			}(i)
		}
		wg.Wait()
		close(firsts)
		seen := map[int64]bool{}
		for f := range firsts {
			if f%2 != 0 || seen[f] {
				t.Fatalf("batch starts at %d: batches interleaved or repeated", f)
			}
			seen[f] = true
		}
		n, _ := as.LogSize(ctx)
		bodies, err := as.Leaves(ctx, 0, n)
		if n != 40 || err != nil || len(bodies) != 40 {
			t.Fatalf("size %d, %d bodies, %v", n, len(bodies), err)
		}
	})
}

// A database of schema 1 (index rows keyed by type and parameter text) is
// migrated when opened: its index rows are kept, rewritten with ParamKey,
// and every search finds what it found before.
func TestSchema1IndexRowsAreMigrated(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		s, dsn, dir := b.Open(t)
		root := change(store.Create, "root", org("Leeds Teaching Hospitals", "RR8", map[string]any{
			"extension": []any{map[string]any{"url": "x", "valueDate": "1948-07-05"}, map[string]any{"url": "y", "valueInteger": json.Number("1500")}}}))
		child := change(store.Create, "child", org("St James's University Hospital", "RR813", map[string]any{
			"partOf": map[string]any{"reference": "Organization/root"}, "active": false}))
		other := change(store.Create, "other", org("Leeds Community Healthcare", "RY6", nil))
		if _, err := s.Apply(ctx, []store.Change{root, child, other}); err != nil {
			t.Fatal(err)
		}
		queries := []string{"name=leeds", "identifier=RR813", "active=false", "partof=Organization/root", "founded=1948", "beds=gt1000", "name:missing=false&active=true", "_sort=-name"}
		before := map[string][]string{}
		for _, raw := range queries {
			refs, err := s.Search(ctx, query(t, raw), 10)
			if err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			before[raw] = ids(refs)
		}
		s.Close()

		db := openDirect(t, b, dsn, dir)
		v1 := map[string]string{"sp_string": "norm, exact", "sp_token": "system, code", "sp_date": "lo, hi", "sp_number": "num", "sp_ref": "ref_type, ref_id"}
		types := map[string]string{"norm": "TEXT", "exact": "TEXT", "system": "TEXT", "code": "TEXT", "lo": "BIGINT", "hi": "BIGINT", "num": "DOUBLE PRECISION", "ref_type": "TEXT", "ref_id": "TEXT"}
		for table, cols := range v1 {
			ddl := "CREATE TABLE " + table + "_v1 (rid BIGINT NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL"
			for _, c := range strings.Split(cols, ", ") {
				ddl += ", " + c + " " + types[c] + " NOT NULL"
			}
			stmts := []string{ddl + ")"}
			for _, p := range orgParams {
				stmts = append(stmts, fmt.Sprintf("INSERT INTO %s_v1 SELECT rid, 'Organization', '%s', %s FROM %s WHERE pid = %d", table, p.Name, cols, table, store.ParamKey("Organization", p.Name)))
			}
			stmts = append(stmts, "DROP TABLE "+table, "ALTER TABLE "+table+"_v1 RENAME TO "+table)
			for _, q := range stmts {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		}
		if _, err := db.Exec("UPDATE meta SET value = '1' WHERE key = 'schema'"); err != nil {
			t.Fatal(err)
		}
		var tokens int
		if err := db.QueryRow("SELECT COUNT(*) FROM sp_token WHERE param = 'identifier'").Scan(&tokens); err != nil || tokens != 3 {
			t.Fatalf("schema 1 identifier rows: %d %v", tokens, err)
		}

		for round := 0; round < 2; round++ { // the second open finds schema 2
			s, err := store.Open(ctx, dsn, dir)
			if err != nil {
				t.Fatalf("open %d: %v", round, err)
			}
			for _, raw := range queries {
				refs, err := s.Search(ctx, query(t, raw), 10)
				if err != nil {
					t.Fatalf("%s: %v", raw, err)
				}
				if got := ids(refs); fmt.Sprint(got) != fmt.Sprint(before[raw]) || len(got) == 0 {
					t.Fatalf("after migration %s = %v, before %v", raw, got, before[raw])
				}
			}
			s.Close()
		}
		var v string
		if err := db.QueryRow("SELECT value FROM meta WHERE key = 'schema'").Scan(&v); err != nil || v != "2" {
			t.Fatalf("schema version %q %v", v, err)
		}
	})
}

// BulkLoad drops the search indexes, loads, and builds them again: after
// it every index of the schema exists and searches find what was loaded.
// Reindex then rebuilds the rows of more than two pages of resources that
// share timestamps (it pages by timestamp and rid).
func TestBulkLoadRebuildsTheIndexes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		s, dsn, dir := b.Open(t)
		err := s.BulkLoad(ctx, func() error {
			for i := 0; i < 4; i++ {
				var cs []store.Change
				for j := 0; j < 300; j++ {
					n := i*300 + j
					cs = append(cs, change(store.Create, fmt.Sprintf("o%04d", n), org(fmt.Sprintf("Practice %04d", n), fmt.Sprintf("Y%05d", n), map[string]any{"active": n%2 == 0})))
				}
				if _, err := s.Apply(ctx, cs); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		check := func(when string) {
			t.Helper()
			for raw, want := range map[string]int{"name=practice%20001": 10, "identifier=Y00042": 1, "active=true": 600, "name=practice": 1200} {
				refs, err := s.Search(ctx, query(t, raw), 2000)
				if err != nil || len(refs) != want {
					t.Fatalf("%s: %s: %d matches (want %d), %v", when, raw, len(refs), want, err)
				}
			}
		}
		check("after the load")
		n, err := s.Reindex(ctx, "Organization", func(b []byte) ([]search.Entry, error) {
			res, err := fhir.DecodeResource(b, "Organization")
			if err != nil {
				return nil, err
			}
			return search.Extract(res, orgParams), nil
		})
		if err != nil || n != 1200 {
			t.Fatalf("reindex: %d %v", n, err)
		}
		check("after a reindex")
		list := "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
		if b.Name == "sqlite" {
			list = "SELECT name FROM sqlite_master WHERE type = 'index'"
		}
		db := openDirect(t, b, dsn, dir)
		rows, err := db.Query(list)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for rows.Next() {
			var name string
			rows.Scan(&name)
			have[name] = true
		}
		rows.Close()
		for _, name := range []string{"resources_type_ts", "versions_type_seq", "sp_string_value", "sp_string_rid_value", "sp_token_value", "sp_token_rid_value",
			"sp_date_lo", "sp_date_rid_value", "sp_number_value", "sp_number_rid", "sp_ref_value", "sp_ref_target", "sp_ref_rid"} {
			if !have[name] {
				t.Errorf("index %s missing after the bulk load (have %v)", name, have)
			}
		}
	})
}

// An unversioned create is read like any other but leaves no version: no
// history, no read by version; a duplicate is refused all the same, and a
// change that is not a plain create cannot be unversioned.
func TestUnversionedRecords(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _, _ := b.Open(t)
		ctx := context.Background()
		body := []byte(`{"status":200}`)
		once := func(id string) store.Change {
			return store.Change{Op: store.Create, Type: "_Answer", ID: id, Unversioned: true,
				Render: func(int64, time.Time) ([]byte, error) { return body, nil }}
		}
		versioned := once("b")
		versioned.Unversioned = false
		if _, err := s.Apply(ctx, []store.Change{once("a"), versioned}); err != nil {
			t.Fatal(err)
		}
		rec, err := s.Read(ctx, "_Answer", "a")
		if err != nil || string(rec.Body) != string(body) || rec.Version != 1 {
			t.Fatalf("read: %+v, %v", rec, err)
		}
		if _, err := s.ReadVersion(ctx, "_Answer", "a", 1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("read by version of an unversioned record: %v", err)
		}
		if _, err := s.ReadVersion(ctx, "_Answer", "b", 1); err != nil {
			t.Fatalf("read by version of a versioned record: %v", err)
		}
		hist, err := s.History(ctx, store.HistoryQuery{Type: "_Answer", Count: 10})
		if err != nil || len(hist) != 1 || hist[0].ID != "b" {
			t.Fatalf("history %+v (%v), want b only", hist, err)
		}
		var ce *store.ChangeError
		if _, err := s.Apply(ctx, []store.Change{once("a")}); !errors.As(err, &ce) || !errors.Is(ce.Err, store.ErrExists) {
			t.Fatalf("a second create of an unversioned record: %v", err)
		}
		// several together (on PostgreSQL, one statement): written all, or,
		// when one exists or comes twice, none, and that one named
		if _, err := s.Apply(ctx, []store.Change{once("c"), once("d"), once("e")}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"c", "d", "e"} {
			if rec, err := s.Read(ctx, "_Answer", id); err != nil || rec.Version != 1 || string(rec.Body) != string(body) {
				t.Fatalf("%s: %+v, %v", id, rec, err)
			}
		}
		for _, batch := range [][]string{{"f", "g", "c", "h"}, {"f", "g", "f"}} {
			var changes []store.Change
			for _, id := range batch {
				changes = append(changes, once(id))
			}
			_, err := s.Apply(ctx, changes)
			if !errors.As(err, &ce) || !errors.Is(ce.Err, store.ErrExists) || ce.Index != 2 {
				t.Fatalf("%q: %v, want change 2 to exist", batch, err)
			}
			if _, err := s.Read(ctx, "_Answer", "f"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%q: a record of a refused batch was written: %v", batch, err)
			}
		}
		upd := once("a")
		upd.Op, upd.IfMatch = store.Update, 1
		if _, err := s.Apply(ctx, []store.Change{upd}); err == nil {
			t.Fatal("an unversioned update was applied")
		}
		// refused even where the condition matches (and would otherwise
		// answer with the existing resource)
		if _, err := s.Apply(ctx, []store.Change{change(store.Create, "leeds", org("Leeds", "RR8", nil))}); err != nil {
			t.Fatal(err)
		}
		conditional := change(store.Create, "other", org("Leeds", "RR9", nil))
		conditional.Unversioned, conditional.IfNoneExist = true, query(t, "name=Leeds")
		if _, err := s.Apply(ctx, []store.Change{conditional}); err == nil {
			t.Fatal("an unversioned conditional create was answered")
		}
	})
}

// An update writes only the index rows that change: rows it keeps are
// not deleted and inserted again (their physical ids stay), rows an older
// index rule left behind go, duplicates are kept as many times as wanted,
// and a deletion leaves none.
func TestUpdateWritesOnlyChangedIndexRows(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, dsn, dir := b.Open(t)
		ctx := context.Background()
		tok := func(p, code string) search.Entry {
			return search.Entry{Param: p, Type: search.Token, System: "https://example.org/s", Code: code}
		}
		entries := func(es ...search.Entry) []search.Entry { return es }
		version := int64(0)
		put := func(op store.Op, es []search.Entry) {
			t.Helper()
			c := store.Change{Op: op, Type: "Basic", ID: "x", IfMatch: version, Index: es,
				Render: func(v int64, _ time.Time) ([]byte, error) { return []byte(`{"resourceType":"Basic","id":"x"}`), nil }}
			out, err := s.Apply(ctx, []store.Change{c})
			if err != nil {
				t.Fatal(err)
			}
			version = out[0].Record.Version
		}
		put(store.Create, entries(tok("status", "active"), tok("patient", "9000000009"),
			search.Entry{Param: "authored", Type: search.Date, Lo: 1000, Hi: 1999},
			search.Entry{Param: "name", Type: search.String, Norm: "SMITH", Exact: "Smith"},
			search.Entry{Param: "quantity", Type: search.Number, Num: 2.5},
			search.Entry{Param: "subject", Type: search.Reference, RefType: "Patient", RefID: "9000000009"}))

		// another resource's rows after x's: a row of x written again
		// gets a new physical id (SQLite would reuse the largest rowid)
		other := store.Change{Op: store.Create, Type: "Basic", ID: "y", Index: entries(tok("status", "active"), tok("patient", "9000000017")),
			Render: func(int64, time.Time) ([]byte, error) { return []byte(`{"resourceType":"Basic","id":"y"}`), nil }}
		if _, err := s.Apply(ctx, []store.Change{other}); err != nil {
			t.Fatal(err)
		}

		ident := "ctid::text" // a row's physical id
		if b.Name == "sqlite" {
			ident = "CAST(rowid AS TEXT)"
		}
		db := openDirect(t, b, dsn, dir)
		var rid int64
		if err := db.QueryRow("SELECT rid FROM resources WHERE type = 'Basic' AND id = 'x'").Scan(&rid); err != nil {
			t.Fatal(err)
		}
		rowID := func(table, where string) string {
			t.Helper()
			var id string
			if err := db.QueryRow(fmt.Sprintf("SELECT %s FROM %s WHERE rid = %d AND %s", ident, table, rid, where)).Scan(&id); err != nil {
				t.Fatalf("%s %s: %v", table, where, err)
			}
			return id
		}
		patientRow, nameRow := rowID("sp_token", "code = '9000000009'"), rowID("sp_string", "norm = 'SMITH'")
		// a row an older index rule made, which the current one does not
		if _, err := db.Exec(fmt.Sprintf("INSERT INTO sp_token (rid, pid, system, code) VALUES (%d, 12345, 's', 'stale')", rid)); err != nil {
			t.Fatal(err)
		}
		put(store.Update, entries(tok("status", "completed"), tok("patient", "9000000009"), tok("dispenser", "FA565"), tok("dispenser", "FA565"),
			search.Entry{Param: "authored", Type: search.Date, Lo: 1000, Hi: 1999},
			search.Entry{Param: "expires", Type: search.Date, Lo: 5000, Hi: 5999},
			search.Entry{Param: "name", Type: search.String, Norm: "SMITH", Exact: "Smith"},
			search.Entry{Param: "subject", Type: search.Reference, RefType: "Patient", RefID: "9000000009"}))

		dump := func() []string {
			t.Helper()
			var out []string
			for table, cols := range map[string]string{"sp_token": "pid, code", "sp_date": "pid, lo", "sp_string": "pid, norm", "sp_number": "pid, num", "sp_ref": "pid, ref_id"} {
				rows, err := db.Query(fmt.Sprintf("SELECT %s FROM %s WHERE rid = %d", cols, table, rid))
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var pid int64
					var v any
					if err := rows.Scan(&pid, &v); err != nil {
						t.Fatal(err)
					}
					if bs, ok := v.([]byte); ok {
						v = string(bs)
					}
					out = append(out, fmt.Sprintf("%s %d %v", table, pid, v))
				}
				rows.Close()
			}
			slices.Sort(out)
			return out
		}
		key := func(p string) int64 { return store.ParamKey("Basic", p) }
		want := []string{
			fmt.Sprintf("sp_date %d 1000", key("authored")), fmt.Sprintf("sp_date %d 5000", key("expires")),
			fmt.Sprintf("sp_ref %d 9000000009", key("subject")), fmt.Sprintf("sp_string %d SMITH", key("name")),
			fmt.Sprintf("sp_token %d FA565", key("dispenser")), fmt.Sprintf("sp_token %d FA565", key("dispenser")),
			fmt.Sprintf("sp_token %d 9000000009", key("patient")), fmt.Sprintf("sp_token %d completed", key("status")),
		}
		slices.Sort(want)
		if got := dump(); !slices.Equal(got, want) {
			t.Fatalf("index rows after the update\n got %q\nwant %q", got, want)
		}
		if rowID("sp_token", "code = '9000000009'") != patientRow || rowID("sp_string", "norm = 'SMITH'") != nameRow {
			t.Fatal("rows the update kept were written again")
		}
		// one of two copies goes: the value's rows are written again, once
		put(store.Update, entries(tok("status", "completed"), tok("patient", "9000000009"), tok("dispenser", "FA565")))
		if n := len(dump()); n != 3 {
			t.Fatalf("%d rows after dropping a copy and four rows, want 3: %q", n, dump())
		}
		put(store.Delete, nil)
		if got := dump(); len(got) != 0 {
			t.Fatalf("index rows after the deletion: %q", got)
		}
	})
}

// TestConcurrentUpdatesKeepTheIndexExact: concurrent unconditional updates
// of one resource, each with its own index rows. Each update compares the
// rows stored with its own; one that waited for another's lock must
// compare with what that one left (on PostgreSQL the rows read with the
// lock come from before the wait and are read again), or rows of an
// earlier version stay behind. Afterwards the index holds exactly the
// rows of the version that was written last.
func TestConcurrentUpdatesKeepTheIndexExact(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, dsn, dir := b.Open(t)
		ctx := context.Background()
		put := func(op store.Op, code string) error {
			_, err := s.Apply(ctx, []store.Change{{Op: op, Type: "Basic", ID: "r",
				Index: []search.Entry{{Param: "code", Type: search.Token, System: "s", Code: "kept"}, {Param: "code", Type: search.Token, System: "s", Code: code}},
				Render: func(int64, time.Time) ([]byte, error) {
					return []byte(`{"resourceType":"Basic","id":"r","code":"` + code + `"}`), nil
				}}})
			return err
		}
		if err := put(store.Create, "start"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					if err := put(store.Update, fmt.Sprintf("w%d-%d", w, i)); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		rec, err := s.Read(ctx, "Basic", "r")
		if err != nil || rec.Version != 81 {
			t.Fatalf("final: %+v, %v; want version 81", rec, err)
		}
		var last struct{ Code string }
		if err := json.Unmarshal(rec.Body, &last); err != nil {
			t.Fatal(err)
		}
		db := openDirect(t, b, dsn, dir)
		got := texts(t, db, "SELECT code FROM sp_token WHERE rid = (SELECT rid FROM resources WHERE type = 'Basic' AND id = 'r')")
		want := []string{"kept", last.Code}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("index rows %q, want those of the last version %q", got, want)
		}
	})
}

// TestCreatesTogether: creates applied together (on PostgreSQL, one
// statement) each get their own index rows, version rows in the order
// given (none for an unversioned record), and outcomes that say so.
func TestCreatesTogether(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, dsn, dir := b.Open(t)
		ctx := context.Background()
		mk := func(id string, unversioned bool, es ...search.Entry) store.Change {
			return store.Change{Op: store.Create, Type: "Basic", ID: id, Unversioned: unversioned, Index: es,
				Render: func(v int64, _ time.Time) ([]byte, error) {
					return []byte(fmt.Sprintf(`{"resourceType":"Basic","id":%q,"v":%d}`, id, v)), nil
				}}
		}
		tok := func(code string) search.Entry {
			return search.Entry{Param: "code", Type: search.Token, System: "s", Code: code}
		}
		out, err := s.Apply(ctx, []store.Change{
			mk("a", false, tok("a1"), tok("a2")),
			mk("b", true, tok("b1")),
			mk("c", false, search.Entry{Param: "name", Type: search.String, Norm: "C", Exact: "c"}, search.Entry{Param: "date", Type: search.Date, Lo: 5, Hi: 6}),
			mk("d", false),
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range []string{"a", "b", "c", "d"} {
			o := out[i]
			if !o.Created || o.ID != id || o.Version != 1 || !strings.Contains(string(o.Body), `"id":"`+id+`"`) {
				t.Fatalf("outcome %d: %+v", i, o)
			}
		}
		if out[1].Seq != 0 || out[0].Seq == 0 || !(out[0].Seq < out[2].Seq && out[2].Seq < out[3].Seq) {
			t.Fatalf("seqs %d %d %d %d: want a < c < d and none for b", out[0].Seq, out[1].Seq, out[2].Seq, out[3].Seq)
		}
		hist, err := s.History(ctx, store.HistoryQuery{Type: "Basic", Count: 10})
		if err != nil || len(hist) != 3 || hist[0].ID != "d" || hist[1].ID != "c" || hist[2].ID != "a" {
			t.Fatalf("history %+v (%v), want d, c, a", hist, err)
		}
		db := openDirect(t, b, dsn, dir)
		got := texts(t, db, `SELECT r.id, 't:' || t.code FROM sp_token t JOIN resources r ON r.rid = t.rid
			UNION ALL SELECT r.id, 's:' || x.norm FROM sp_string x JOIN resources r ON r.rid = x.rid
			UNION ALL SELECT r.id, 'd:' || CAST(x.lo AS TEXT) FROM sp_date x JOIN resources r ON r.rid = x.rid`)
		want := []string{"a t:a1", "a t:a2", "b t:b1", "c d:5", "c s:C"}
		if !slices.Equal(got, want) {
			t.Fatalf("index rows %q, want %q", got, want)
		}
	})
}

// TestRecordsWithAnUpdate: records created together with an update after
// them (as the answers kept for retries are) are written with it, or not
// at all: when one exists (named), or when the update fails (named).
func TestRecordsWithAnUpdate(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _, _ := b.Open(t)
		ctx := context.Background()
		record := func(id string) store.Change {
			return store.Change{Op: store.Create, Type: "_Answer", ID: id, Unversioned: true,
				Render: func(int64, time.Time) ([]byte, error) { return []byte(`{"answer":"` + id + `"}`), nil }}
		}
		update := func(ifMatch int64, name string) store.Change {
			c := change(store.Update, "u", org(name, "U1", nil))
			c.IfMatch = ifMatch
			return c
		}
		if _, err := s.Apply(ctx, []store.Change{change(store.Create, "u", org("First", "U1", nil))}); err != nil {
			t.Fatal(err)
		}
		out, err := s.Apply(ctx, []store.Change{record("r1"), record("r2"), update(1, "Second")})
		if err != nil {
			t.Fatal(err)
		}
		if !out[0].Created || out[1].ID != "r2" || out[1].Version != 1 || out[2].Version != 2 || out[2].Seq == 0 {
			t.Fatalf("outcomes %+v", out)
		}
		if rec, err := s.Read(ctx, "_Answer", "r2"); err != nil || string(rec.Body) != `{"answer":"r2"}` {
			t.Fatalf("r2: %+v, %v", rec, err)
		}
		hits, err := s.Search(ctx, query(t, "name=Second"), 10)
		if err != nil || len(hits) != 1 {
			t.Fatalf("search after the update: %v, %v", hits, err)
		}
		var ce *store.ChangeError
		var vc *store.VersionConflict
		for _, tc := range []struct {
			changes []store.Change
			index   int
			what    func(error) bool
		}{
			{[]store.Change{record("r3"), record("r1"), update(2, "Third")}, 1, func(err error) bool { return errors.Is(err, store.ErrExists) }},
			{[]store.Change{record("r3"), record("r3"), update(2, "Third")}, 1, func(err error) bool { return errors.Is(err, store.ErrExists) }},
			{[]store.Change{record("r3"), update(1, "Third")}, 1, func(err error) bool { return errors.As(err, &vc) && vc.Current == 2 }},
		} {
			_, err := s.Apply(ctx, tc.changes)
			if !errors.As(err, &ce) || ce.Index != tc.index || !tc.what(ce.Err) {
				t.Fatalf("%d changes: %v, want change %d to fail", len(tc.changes), err, tc.index)
			}
			if _, err := s.Read(ctx, "_Answer", "r3"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a record of a refused change set was written: %v", err)
			}
			if rec, _ := s.Read(ctx, "Organization", "u"); rec.Version != 2 {
				t.Fatalf("the update of a refused change set was applied: version %d", rec.Version)
			}
		}
	})
}

// TestIndexRowsOfEveryKindAreReplaced: an update that keeps one row of
// each kind of index row and changes another deletes and inserts rows of
// every kind (each with its own column types: on PostgreSQL they travel as
// typed arrays), and a creation writes rows of every kind.
func TestIndexRowsOfEveryKindAreReplaced(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, dsn, dir := b.Open(t)
		ctx := context.Background()
		entries := func(v string, n float64, lo int64) []search.Entry {
			return []search.Entry{
				{Param: "name", Type: search.String, Norm: "KEPT", Exact: "Kept"},
				{Param: "name", Type: search.String, Norm: strings.ToUpper(v), Exact: v},
				{Param: "code", Type: search.Token, System: "s", Code: "kept"},
				{Param: "code", Type: search.Token, System: "s", Code: v},
				{Param: "date", Type: search.Date, Lo: 1, Hi: 2},
				{Param: "date", Type: search.Date, Lo: lo, Hi: lo + 9},
				{Param: "value", Type: search.Number, Num: 0.5},
				{Param: "value", Type: search.Number, Num: n},
				{Param: "subject", Type: search.Reference, RefType: "Patient", RefID: "kept"},
				{Param: "subject", Type: search.Reference, RefType: "Patient", RefID: v},
			}
		}
		body := func(int64, time.Time) ([]byte, error) { return []byte(`{"resourceType":"Basic","id":"k"}`), nil }
		if _, err := s.Apply(ctx, []store.Change{{Op: store.Create, Type: "Basic", ID: "k", Index: entries("first", 1.25, 100), Render: body}}); err != nil {
			t.Fatal(err)
		}
		db := openDirect(t, b, dsn, dir)
		dump := func() []string {
			t.Helper()
			var out []string
			for table, cols := range map[string]string{"sp_string": "norm || '/' || exact", "sp_token": "system || '/' || code",
				"sp_date": "CAST(lo AS TEXT) || '/' || CAST(hi AS TEXT)", "sp_number": "CAST(num AS TEXT)", "sp_ref": "ref_type || '/' || ref_id"} {
				out = append(out, texts(t, db, "SELECT '"+table+"', "+cols+" FROM "+table+" WHERE rid = (SELECT rid FROM resources WHERE type = 'Basic' AND id = 'k')")...)
			}
			slices.Sort(out)
			return out
		}
		want := func(v string, n string, lo, hi string) []string {
			w := []string{"sp_string KEPT/Kept", "sp_string " + strings.ToUpper(v) + "/" + v, "sp_token s/kept", "sp_token s/" + v,
				"sp_date 1/2", "sp_date " + lo + "/" + hi, "sp_number 0.5", "sp_number " + n, "sp_ref Patient/kept", "sp_ref Patient/" + v}
			slices.Sort(w)
			return w
		}
		if got, w := dump(), want("first", "1.25", "100", "109"); !slices.Equal(got, w) {
			t.Fatalf("after the creation\n got %q\nwant %q", got, w)
		}
		if _, err := s.Apply(ctx, []store.Change{{Op: store.Update, Type: "Basic", ID: "k", IfMatch: 1, Index: entries("second", 2.75, 200), Render: body}}); err != nil {
			t.Fatal(err)
		}
		if got, w := dump(), want("second", "2.75", "200", "209"); !slices.Equal(got, w) {
			t.Fatalf("after the update\n got %q\nwant %q", got, w)
		}
	})
}

// texts runs a query of text columns on db and returns its rows, each
// row's columns joined by a space, sorted.
func texts(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join(vals, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// openDirect opens the database behind a store of backend b (dsn and dir
// as b.Open gave them) directly, as an operator or an attacker would, for
// tests that look at or change the tables; closed at the test's end.
func openDirect(t *testing.T, b storetest.Backend, dsn, dir string) *sql.DB {
	t.Helper()
	driver, source := "pgx", dsn
	if b.Name == "sqlite" {
		driver, source = "sqlite3", dir+"/spine.db?_busy_timeout=10000"
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestPostgresPoolSize: a PostgreSQL URL's pool_max_conns bounds the
// connections a store opens, however many requests it serves at once;
// the rest of the URL (the schema) still applies; a bad value is refused.
func TestPostgresPoolSize(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(storetest.NewPostgresSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf("spine-pool-test-%d", time.Now().UnixNano())
	q := u.Query()
	q.Set("application_name", app)
	for _, bad := range []string{"0", "1001", "many", ""} {
		q.Set("pool_max_conns", bad)
		u.RawQuery = q.Encode()
		if s, err := store.OpenPostgres(ctx, u.String()); err == nil || !strings.Contains(err.Error(), "pool_max_conns") {
			if s != nil {
				s.Close()
			}
			t.Fatalf("pool_max_conns=%q: %v, want it refused", bad, err)
		}
	}
	q.Set("pool_max_conns", "2")
	u.RawQuery = q.Encode()
	s, err := store.OpenPostgres(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Apply(ctx, []store.Change{change(store.Create, "o1", org("Leeds", "RR8", nil))}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := s.Read(ctx, "Organization", "o1"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	admin, err := sql.Open("pgx", storetest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var open int
	if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if open < 1 || open > 2 {
		t.Fatalf("%d connections open after 16 concurrent readers, want 1 or 2 (pool_max_conns=2)", open)
	}
	var stored int
	if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM "+q.Get("search_path")+".resources WHERE type = 'Organization'").Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("the test's schema holds %d organisations (%v), want the 1 created: the URL's search_path was lost", stored, err)
	}
}
