package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// openTestSQLite opens a SQLite store in a fresh folder, closed at the test's end.
func openTestSQLite(t *testing.T) *sqlStore {
	t.Helper()
	st, err := OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.(*sqlStore)
}

func createChange(id string) Change {
	return Change{Op: Create, Type: "Basic", ID: id, Render: func(v int64, at time.Time) ([]byte, error) {
		return []byte(`{"resourceType":"Basic","id":"` + id + `"}`), nil
	}}
}

// When the write-ahead log cannot be made durable, the batch is not
// acknowledged and every later write is refused (a later fsync would prove
// nothing: the kernel may have dropped the unsynced pages); reads go on.
func TestSQLiteWritesStopAfterAFailedSync(t *testing.T) {
	ctx := context.Background()
	s := openTestSQLite(t)
	if _, err := s.Apply(ctx, []Change{createChange("before")}); err != nil {
		t.Fatalf("a write before the failure: %v", err)
	}
	good := s.sqlite.walPath
	s.sqlite.walPath = good + ".missing/x" // the next fsync fails
	_, err := s.Apply(ctx, []Change{createChange("during")})
	if !errors.Is(err, ErrNotDurable) || !strings.Contains(err.Error(), "sync the write-ahead log") {
		t.Fatalf("a write whose fsync failed was answered %v", err)
	}
	s.sqlite.walPath = good // even if the disk recovers, writes stay refused
	if _, err := s.Apply(ctx, []Change{createChange("after")}); err == nil || !strings.Contains(err.Error(), "refused until restart") {
		t.Fatalf("a write after the failure was answered %v", err)
	}
	one := func(int64) ([][]byte, [][]byte, error) {
		return [][]byte{[]byte("{}")}, [][]byte{make([]byte, 32)}, nil
	}
	if err := s.QueueLeavesFunc(one, func(int64, error) { t.Error("an append refused at the queue was answered") }); err == nil {
		t.Fatal("an audit append after the failure was queued")
	}
	if rec, err := s.Read(ctx, "Basic", "before"); err != nil || rec.Version != 1 {
		t.Fatalf("read after the failure: %+v, %v", rec, err)
	}
	if _, err := s.Read(ctx, "Basic", "after"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused write is readable: %v", err)
	}
}

// Appends queued one after another run in that order: each is built with
// the index where the log then ends, and their outcomes come in order.
func TestSQLiteQueuedWritesRunInOrder(t *testing.T) {
	ctx := context.Background()
	s := openTestSQLite(t)
	const n = 50
	type outcome struct {
		first int64
		err   error
	}
	outcomes := make(chan outcome, n)
	built := make([]int64, n)
	for i := range n {
		build := func(first int64) ([][]byte, [][]byte, error) {
			built[i] = first
			return [][]byte{[]byte(`{"n":` + strconv.Itoa(i) + `}`), []byte(`{}`)}, [][]byte{make([]byte, 32), make([]byte, 32)}, nil
		}
		if err := s.QueueLeavesFunc(build, func(first int64, err error) { outcomes <- outcome{first, err} }); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		o := <-outcomes
		if o.err != nil || o.first != int64(2*i) || built[i] != o.first {
			t.Fatalf("append %d: outcome %+v, built at %d", i, o, built[i])
		}
	}
	// a build that fails fails its append alone, and stores nothing
	boom := errors.New("boom")
	if err := s.QueueLeavesFunc(func(int64) ([][]byte, [][]byte, error) { return nil, nil, boom },
		func(_ int64, err error) { outcomes <- outcome{0, err} }); err != nil {
		t.Fatal(err)
	}
	if o := <-outcomes; !errors.Is(o.err, boom) {
		t.Fatalf("a failed build was answered %v", o.err)
	}
	if size, err := s.LogSize(ctx); err != nil || size != 2*n {
		t.Fatalf("log size %d, %v", size, err)
	}
	if b, err := s.Leaves(ctx, 2*n-2, 2*n-1); err != nil || string(b[0]) != `{"n":49}` {
		t.Fatalf("last append's first record: %q, %v", b, err)
	}
}

// Every statement the writer runs per row is prepared once on its
// connection (an unprepared one would be parsed at every row).
func TestSQLiteWriterStatementsArePrepared(t *testing.T) {
	s := openTestSQLite(t)
	if len(indexRowsSQL) != len(indexInsert) || len(indexTypes) != len(indexInsert) || len(indexTypes) != len(tableFor) || len(indexRowsSQL) == 0 {
		t.Fatalf("%d index row statements for %d index types", len(indexRowsSQL), len(indexInsert))
	}
	for _, q := range writeStatements {
		if s.writeView.prepared(q) == nil {
			t.Errorf("not prepared on the write connection: %s", q)
		}
	}
}

// A data folder whose audit trail is still in spine.db has it moved, with
// its checkpoints, index and alert resources, into audit.db on first open;
// spine.db keeps its other resources and no audit rows; opening again moves
// nothing twice.
func TestSQLiteAuditTrailMovesToItsOwnFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	bodies := [][]byte{[]byte(`{"n":0}`), []byte(`{"n":1}`), []byte(`{"n":2}`)}
	hashes := [][]byte{[]byte("h0"), []byte("h1"), []byte("h2")}
	if _, err := st.(*sqlStore).AppendLeaves(ctx, bodies, hashes); err != nil {
		t.Fatal(err)
	}
	if err := st.(*sqlStore).PutCheckpoint(ctx, 3, []byte("checkpoint at 3")); err != nil {
		t.Fatal(err)
	}
	if err := st.(*sqlStore).IndexAudit(ctx, []AuditKey{{Key: "patient|9000000009", Index: 1}}, 2); err != nil {
		t.Fatal(err)
	}
	alert := Change{Op: Create, Type: "_Alert", ID: "a1", Render: func(v int64, at time.Time) ([]byte, error) { return []byte(`{"alert":1}`), nil }}
	if _, err := st.Apply(ctx, []Change{alert, createChange("kept")}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	for round := 0; round < 2; round++ {
		ast, err := OpenSQLiteAudit(ctx, dir, []string{"_Alert"})
		if err != nil {
			t.Fatal(err)
		}
		a := ast.(*sqlStore)
		if n, err := a.LogSize(ctx); err != nil || n != 3 {
			t.Fatalf("round %d: audit.db log size %d, %v; want 3", round, n, err)
		}
		got, err := a.Leaves(ctx, 0, 3)
		if err != nil || len(got) != 3 || string(got[2]) != `{"n":2}` {
			t.Fatalf("round %d: leaves %q, %v", round, got, err)
		}
		if cps, err := a.Checkpoints(ctx); err != nil || len(cps) != 1 || string(cps[0]) != "checkpoint at 3" {
			t.Fatalf("round %d: checkpoints %q, %v", round, cps, err)
		}
		if idxs, err := a.AuditLookup(ctx, "patient|9000000009", 0, 10); err != nil || len(idxs) != 1 || idxs[0] != 1 {
			t.Fatalf("round %d: index lookup %v, %v", round, idxs, err)
		}
		if rec, err := a.Read(ctx, "_Alert", "a1"); err != nil || string(rec.Body) != `{"alert":1}` {
			t.Fatalf("round %d: alert %q, %v", round, rec.Body, err)
		}
		if _, err := a.Read(ctx, "Basic", "kept"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("round %d: a patient-data resource was moved too: %v", round, err)
		}
		if err := ast.Close(); err != nil {
			t.Fatal(err)
		}
	}
	st, err = OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.(*sqlStore).LogSize(ctx); err != nil || n != 0 {
		t.Fatalf("spine.db still holds %d audit records (%v)", n, err)
	}
	if _, err := st.Read(ctx, "_Alert", "a1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("spine.db still holds the alert: %v", err)
	}
	if _, err := st.Read(ctx, "Basic", "kept"); err != nil {
		t.Fatalf("spine.db lost its own resource: %v", err)
	}
}

// Jobs that share a batch: one that fails after writing leaves nothing,
// the others are committed, and each is answered with its own outcome
// (the writer runs a batch without savepoints first and again with them
// when a job fails).
func TestSQLiteFailingJobLeavesTheRestOfItsBatch(t *testing.T) {
	// jobs run as they arrive (write, submit), and jobs with a callback,
	// which run at the commit (enqueue): the same rules for both
	for _, deferred := range []bool{false, true} {
		ctx := context.Background()
		s := openTestSQLite(t)
		boom := errors.New("boom")
		var waits []func() error
		for i := 0; i < 60; i++ {
			key := "k" + string(rune('a'+i/26)) + string(rune('a'+i%26))
			fail := i%7 == 3
			fn := func(ctx context.Context, tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO claims (key, until) VALUES (?, 0)", key); err != nil {
					return err
				}
				if fail {
					return boom
				}
				return nil
			}
			var wait func() error
			var err error
			if deferred {
				ch := make(chan error, 1)
				err = s.enqueue(ctx, fn, func(err error) { ch <- err })
				wait = func() error { return <-ch }
			} else {
				wait, err = s.sqlite.enqueue(ctx, fn)
			}
			if err != nil {
				t.Fatal(err)
			}
			waits = append(waits, wait)
		}
		for i, w := range waits {
			err := w()
			if fail := i%7 == 3; fail != errors.Is(err, boom) || (!fail && err != nil) {
				t.Fatalf("deferred %v: job %d answered %v", deferred, i, err)
			}
		}
		var n int
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM claims").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := 60 - 9; n != want { // i%7 == 3 for 9 of 0..59
			t.Fatalf("deferred %v: %d rows stored, want %d", deferred, n, want)
		}
	}
}

// BulkLoad changes the writer's page cache and temp store for the index
// builds, and gives them back afterwards.
func TestSQLiteBulkLoadRestoresTheWriterSettings(t *testing.T) {
	ctx := context.Background()
	s := openTestSQLite(t)
	settings := func() (cache, temp int64) {
		t.Helper()
		if err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cache); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&temp)
		}); err != nil {
			t.Fatal(err)
		}
		return
	}
	cache, temp := settings()
	err := s.BulkLoad(ctx, func() error {
		_, err := s.Apply(ctx, []Change{createChange("a")})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, tm := settings(); c != cache || tm != temp || temp != 2 || cache == -indexBuildCacheKiB {
		t.Errorf("after the load: cache %d temp_store %d, before %d %d (temp_store 2 = memory)", c, tm, cache, temp)
	}
}

// Under a steady stream of writes the write-ahead log starts again from its
// beginning again and again (a RESTART checkpoint once it passes its limit,
// and the file cut back to the limit: journal_size_limit) instead of
// growing with everything ever written: SQLite alone never restarts it
// while writes keep coming. Every write is still there.
func TestSQLiteWriteAheadLogStaysBounded(t *testing.T) {
	every, limit := checkpointEvery, walLimit
	checkpointEvery, walLimit = 5*time.Millisecond, 256<<10
	t.Cleanup(func() { checkpointEvery, walLimit = every, limit })
	ctx := context.Background()
	dir := t.TempDir()
	st, err := OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*sqlStore)
	defer s.Close()
	var wg sync.WaitGroup
	var last, largest int64
	shrank := 0
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
			if fi, err := os.Stat(filepath.Join(dir, "spine.db-wal")); err == nil {
				if fi.Size() < last {
					shrank++
				}
				last, largest = fi.Size(), max(largest, fi.Size())
			}
		}
	}()
	const writers, each = 8, 400
	body := strings.Repeat("x", 2000)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				c := Change{Op: Create, Type: "Basic", ID: fmt.Sprintf("w%d-%d", w, i), Render: func(v int64, at time.Time) ([]byte, error) {
					return []byte(`{"resourceType":"Basic","text":"` + body + `"}`), nil
				}}
				if _, err := s.Apply(ctx, []Change{c}); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(done)
	<-watched
	if shrank < 3 {
		t.Fatalf("the write-ahead log shrank %d times under 3,200 writes (largest %d bytes, limit %d)", shrank, largest, walLimit)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM resources WHERE type = 'Basic'").Scan(&n); err != nil || n != writers*each {
		t.Fatalf("%d writes stored, want %d (%v)", n, writers*each, err)
	}
	t.Logf("the write-ahead log was cut back %d times while writing, largest %d bytes", shrank, largest)
}

// Every acknowledged write waited for an fsync of its database's log, and
// each is timed under that file's name, as is its commit's batch.
func TestSQLiteFsyncsAreTimedPerFile(t *testing.T) {
	count := func(name string) uint64 {
		families, err := prometheus.DefaultGatherer.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "file" && l.GetValue() == "spine.db" {
						return m.GetHistogram().GetSampleCount()
					}
				}
			}
		}
		return 0
	}
	s := openTestSQLite(t)
	names := []string{"spine_store_fsync_seconds", "spine_store_commit_batch_size"}
	var before []uint64
	for _, n := range names {
		before = append(before, count(n))
	}
	if _, err := s.Apply(context.Background(), []Change{createChange("f1")}); err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		if after := count(n); after <= before[i] {
			t.Fatalf("%s{file=\"spine.db\"}: %d observations before the write, %d after", n, before[i], after)
		}
	}
}

// countObserver counts observations (a prometheus.Observer).
type countObserver struct {
	mu  sync.Mutex
	n   int
	sum float64
}

func (c *countObserver) Observe(v float64) {
	c.mu.Lock()
	c.n++
	c.sum += v
	c.mu.Unlock()
}

// Concurrent writes are committed one transaction per fsync: what arrives
// while a batch waits for the disk is committed together after it, not in
// transactions of its own that the same fsync covers.
func TestSQLiteOneTransactionPerFsync(t *testing.T) {
	ctx := context.Background()
	s := openTestSQLite(t)
	commits, fsyncs := &countObserver{}, &countObserver{}
	s.sqlite.batchSizes, s.sqlite.fsyncs = commits, fsyncs // before any job: the writer reads them after one
	const writers, each = 8, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := s.Apply(ctx, []Change{createChange(fmt.Sprintf("w%d-%d", w, i))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	commits.mu.Lock()
	fsyncs.mu.Lock()
	defer commits.mu.Unlock()
	defer fsyncs.mu.Unlock()
	if commits.sum != writers*each {
		t.Fatalf("%v jobs committed, want %d", commits.sum, writers*each)
	}
	if commits.n != fsyncs.n {
		t.Fatalf("%d transactions committed for %d fsyncs", commits.n, fsyncs.n)
	}
	t.Logf("%d writes in %d transactions, one per fsync", writers*each, commits.n)
}
