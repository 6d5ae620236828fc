package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/openspine/openspine/internal/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testSigner(t testing.TB) *Signer {
	t.Helper()
	s, err := NewSigner(DefaultOrigin, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestLog(t testing.TB, st Storage) *Log {
	t.Helper()
	l, err := NewLog(st, testSigner(t), LogOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func testRecord(i int) *Record {
	return &Record{
		Time: time.Date(2026, 11, 24, 9, 0, 0, i*1000, time.UTC), RequestID: fmt.Sprint("req-", i),
		AppID: "app-1", UserID: "555000000001", Service: "pds", Action: "read", Method: "GET",
		Route: "/Patient/{id}", Status: 200, Patients: []string{fmt.Sprint(9000000000 + i)},
	}
}

// appendN appends n records from the given number of goroutines.
func appendN(t testing.TB, l *Log, n, workers int) []*Record {
	t.Helper()
	recs := make([]*Record, n)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				recs[i] = testRecord(i)
				if err := l.Append(context.Background(), recs[i]); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	return recs
}

// mth is RFC 6962's Merkle Tree Hash, written from its definition: an
// independent check of the log's roots.
func mth(leaves [][]byte) []byte {
	h := rfc6962.DefaultHasher
	switch n := len(leaves); n {
	case 0:
		return h.EmptyRoot()
	case 1:
		return leaves[0]
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		return h.HashChildren(mth(leaves[:k]), mth(leaves[k:]))
	}
}

func storedLeaves(t testing.TB, st Storage) [][]byte {
	n, _ := st.LogSize(context.Background())
	bodies, err := st.Leaves(context.Background(), 0, n)
	if err != nil {
		t.Fatal(err)
	}
	hashes := make([][]byte, len(bodies))
	for i, b := range bodies {
		hashes[i] = rfc6962.DefaultHasher.HashLeaf(b)
	}
	return hashes
}

// checkAppended checks that the records appended by appendN got every
// index once, that each stored body is the record told its index, and that
// the log's root is RFC 6962's over the stored leaves.
func checkAppended(t *testing.T, l *Log, st Storage, recs []*Record) {
	t.Helper()
	n := int64(len(recs))
	seen := make([]bool, n)
	for _, r := range recs {
		if r.Index < 0 || r.Index >= n || seen[r.Index] {
			t.Fatalf("index %d out of range or repeated", r.Index)
		}
		seen[r.Index] = true
	}
	bodies, err := st.Leaves(context.Background(), 0, n)
	if err != nil || int64(len(bodies)) != n {
		t.Fatalf("%d bodies stored, %v", len(bodies), err)
	}
	for i, b := range bodies {
		var r Record
		if err := json.Unmarshal(b, &r); err != nil || r.Index != int64(i) {
			t.Fatalf("body %d says index %d (%v)", i, r.Index, err)
		}
		if want := recs[(int(r.Time.Nanosecond()) / 1000)]; want.Index != r.Index || want.RequestID != r.RequestID {
			t.Fatalf("body %d is %s, but %s was told index %d", i, r.RequestID, want.RequestID, want.Index)
		}
	}
	size, root := l.Root()
	if size != n || !bytes.Equal(root, mth(storedLeaves(t, st))) {
		t.Fatalf("root of %d records differs from RFC 6962's", size)
	}
}

func TestConcurrentAppend(t *testing.T) {
	st := newMemStorage()
	st.delay = 200 * time.Microsecond // a commit's cost: Appends queue up meanwhile
	l := newTestLog(t, st)
	const n = 2000
	recs := appendN(t, l, n, 50)
	checkAppended(t, l, st, recs)
	if st.appends >= n/2 {
		t.Errorf("%d storage appends for %d records: no group commit", st.appends, n)
	}
	t.Logf("%d records in %d storage appends", n, st.appends)
}

func TestReopen(t *testing.T) {
	st := newMemStorage()
	l, err := NewLog(st, testSigner(t), LogOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 700, 7)
	size, root := l.Root()
	if err := l.Close(); err != nil { // signs a last checkpoint
		t.Fatal(err)
	}
	if err := l.Append(context.Background(), testRecord(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	l2 := newTestLog(t, st)
	if s2, r2 := l2.Root(); s2 != size || !bytes.Equal(r2, root) {
		t.Fatalf("reopened at %d, want %d, or another root", s2, size)
	}
	if l2.Tampered() != nil || l2.Latest() == nil {
		t.Fatalf("reopened log: tampered %v, latest %q", l2.Tampered(), l2.Latest())
	}
	r := testRecord(700)
	if err := l2.Append(context.Background(), r); err != nil || r.Index != 700 {
		t.Fatalf("append after reopen: index %d, %v", r.Index, err)
	}
	if _, root := l2.Root(); !bytes.Equal(root, mth(storedLeaves(t, st))) {
		t.Fatal("root differs after reopening")
	}
}

func TestSubscribe(t *testing.T) {
	l := newTestLog(t, newMemStorage())
	all, cancelAll := l.Subscribe(100)
	defer cancelAll()
	slow, cancelSlow := l.Subscribe(1) // never read: the appender must not wait
	for i := 0; i < 50; i++ {
		if err := l.Append(context.Background(), testRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ {
		r := <-all
		if r.Index != int64(i) || r.RequestID != fmt.Sprint("req-", i) {
			t.Fatalf("record %d delivered as %d %s", i, r.Index, r.RequestID)
		}
	}
	if len(slow) != 1 {
		t.Fatalf("slow subscriber holds %d records", len(slow))
	}
	cancelSlow()
	cancelSlow()
	l.Close()
	if _, ok := <-all; ok {
		t.Fatal("subscription open after Close")
	}
}

func TestAppendFailure(t *testing.T) {
	st := newMemStorage()
	l := newTestLog(t, st)
	st.fail = errors.New("disk full")
	r := testRecord(0)
	if err := l.Append(context.Background(), r); err == nil {
		t.Fatal("append succeeded on a failing store")
	}
	// committed, but the acknowledgement lost: the record is kept
	st.failAft = true
	if err := l.Append(context.Background(), r); err != nil || r.Index != 0 {
		t.Fatalf("append committed despite the error: index %d, %v", r.Index, err)
	}
	st.fail = nil
	if err := l.Append(context.Background(), r); err != nil || r.Index != 1 {
		t.Fatalf("append after recovery: index %d, %v", r.Index, err)
	}
	if l.Tampered() != nil {
		t.Fatal(l.Tampered())
	}
	if _, root := l.Root(); !bytes.Equal(root, mth(storedLeaves(t, st))) {
		t.Fatal("root differs after failures")
	}
}

// insertBehindTheLogsBack appends ten records through l and signs a
// checkpoint, then stores an eleventh record in st directly, as someone
// with access to the database could.
func insertBehindTheLogsBack(t *testing.T, l *Log, st interface{ setRow(int64, memRow) }) {
	t.Helper()
	appendN(t, l, 10, 1)
	if _, err := l.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(&Record{Index: 10, Service: "pds", Action: "read"})
	st.setRow(10, memRow{body, rfc6962.DefaultHasher.HashLeaf(body)})
}

func TestInsertedBehindTheLogsBack(t *testing.T) {
	st := newMemStorage()
	l := newTestLog(t, st)
	insertBehindTheLogsBack(t, l, st)
	if _, err := l.Checkpoint(context.Background()); err == nil || l.Tampered() == nil {
		t.Fatal("the log signed a record it did not write")
	}
	r := testRecord(11)
	if err := l.Append(context.Background(), r); err != nil || r.Index != 11 {
		t.Fatalf("appends go on after a foreign insertion: index %d, %v", r.Index, err)
	}
}

// A queued log does not read the stored size when it signs (see
// Checkpoint): its next batch, stored after a foreign record, takes the
// record into the tree, and then it refuses to sign.
func TestQueuedInsertedBehindTheLogsBack(t *testing.T) {
	st := newQueuedMem()
	l := newTestLog(t, st)
	insertBehindTheLogsBack(t, l, st)
	r := testRecord(10)
	if err := l.Append(context.Background(), r); err != nil || r.Index != 11 {
		t.Fatalf("appends go on after a foreign insertion: index %d, %v", r.Index, err)
	}
	if size, root := l.Root(); size != 12 || !bytes.Equal(root, mth(storedLeaves(t, st))) {
		t.Fatalf("the tree (%d records) is not the stored log's", size)
	}
	if _, err := l.Checkpoint(context.Background()); err == nil || l.Tampered() == nil {
		t.Fatal("the log signed a record it did not write")
	}
}

func TestTamperedAtStart(t *testing.T) {
	st := newMemStorage()
	l := newTestLog(t, st)
	appendN(t, l, 20, 2)
	l.Close()
	row := st.row(5)
	body := bytes.Replace(row.body, []byte(`"read"`), []byte(`"search"`), 1)
	st.setRow(5, memRow{body, rfc6962.DefaultHasher.HashLeaf(body)})
	l2 := newTestLog(t, st)
	if l2.Tampered() == nil {
		t.Fatal("a rewritten record went unnoticed at start")
	}
	if _, err := l2.Checkpoint(context.Background()); err == nil {
		t.Fatal("signed a checkpoint over a rewritten log")
	}
	if err := l2.Append(context.Background(), testRecord(20)); err != nil {
		t.Fatal("appends must go on:", err)
	}
}

func TestSharedStorage(t *testing.T) {
	st := sharedMem{newMemStorage()}
	a, b := newTestLog(t, st), newTestLog(t, st)
	var wg sync.WaitGroup
	for _, l := range []*Log{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); appendN(t, l, 300, 10) }()
	}
	wg.Wait()
	for _, l := range []*Log{a, b} {
		if _, err := l.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		if size, root := l.Root(); size != 600 || !bytes.Equal(root, mth(storedLeaves(t, st))) {
			t.Fatalf("log at %d with a root that is not the store's", size)
		}
	}
	rep, err := Verify(context.Background(), st, testSigner(t).PublicKey())
	if err != nil || !rep.OK() {
		t.Fatalf("%v\n%v", err, rep)
	}
}

func TestQueuedStorageAppendsInOrder(t *testing.T) {
	st := newQueuedMem()
	st.durable = 2 * time.Millisecond // batches queue behind a slow fsync
	st.work = 200 * time.Microsecond  // and records arrive while the writer is busy
	l := newTestLog(t, st)
	if l.queued == nil {
		t.Fatal("the log did not take the queued path")
	}
	const n = 1500
	recs := appendN(t, l, n, 50)
	checkAppended(t, l, st, recs)
	if l.Tampered() != nil {
		t.Fatal(l.Tampered())
	}
	if st.queuedN >= n/2 {
		t.Fatalf("%d records in %d appends: those that arrive while the storage is busy do not share one", n, st.queuedN)
	}
	t.Logf("%d records in %d queued appends", n, st.queuedN)
}

// Records committed but not yet durable are visible in the storage while
// their batch is in flight: a checkpoint signed meanwhile must not take
// them for records added behind the log's back (it did: under load the log
// then refused every later checkpoint as tampered).
func TestQueuedStorageCheckpointsWhileBatchesAreInFlight(t *testing.T) {
	st := newQueuedMem()
	st.durable = 2 * time.Millisecond
	l := newTestLog(t, st)
	done := make(chan struct{})
	var recs []*Record
	go func() {
		defer close(done)
		recs = appendN(t, l, 1500, 50)
	}()
	signed := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		if _, err := l.Checkpoint(context.Background()); err != nil {
			t.Fatalf("checkpoint %d while appending: %v", signed, err)
		}
		signed++
		time.Sleep(200 * time.Microsecond)
	}
	checkAppended(t, l, st, recs)
	if l.Tampered() != nil {
		t.Fatal(l.Tampered())
	}
	if _, err := l.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(context.Background(), st, testSigner(t).PublicKey())
	if err != nil || !rep.OK() {
		t.Fatalf("%v\n%v", err, rep)
	}
	t.Logf("%d checkpoints signed while appending", signed)
}

func TestQueuedStorageFailureFailsItsBatchAndResumesAtTheStoredEnd(t *testing.T) {
	st := newQueuedMem()
	st.durable = time.Millisecond
	l := newTestLog(t, st)
	appendN(t, l, 100, 10)
	st.mu.Lock()
	st.failNext = 1
	st.mu.Unlock()
	// concurrent appends: the failing batch fails, none is stored out of
	// place, and later appends continue the log
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed, ok := 0, 0
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := l.Append(context.Background(), testRecord(1000+i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
			} else {
				ok++
			}
		}(i)
	}
	wg.Wait()
	if failed == 0 {
		t.Fatal("no append failed although the storage failed a batch")
	}
	after := testRecord(5000)
	if err := l.Append(context.Background(), after); err != nil {
		t.Fatalf("append after the failure: %v", err)
	}
	size, root := l.Root()
	stored, _ := st.LogSize(context.Background())
	if size != stored || size != int64(100+ok+1) || after.Index != size-1 {
		t.Fatalf("tree %d, stored %d, %d succeeded, last index %d", size, stored, 100+ok+1, after.Index)
	}
	if !bytes.Equal(root, mth(storedLeaves(t, st))) {
		t.Fatal("root differs from the stored leaves after a failure")
	}
	if l.Tampered() != nil {
		t.Fatal(l.Tampered())
	}
	t.Logf("%d failed, %d appended", failed, ok)
}

func TestQueuedStorageLostAcknowledgementIsASuccessButNotDurableIsNot(t *testing.T) {
	st := newQueuedMem()
	l := newTestLog(t, st)
	appendN(t, l, 10, 2)
	st.mu.Lock()
	st.lostAck = 1
	st.mu.Unlock()
	r := testRecord(100)
	if err := l.Append(context.Background(), r); err != nil || r.Index != 10 {
		t.Fatalf("a stored batch whose answer was lost: index %d, %v", r.Index, err)
	}
	if size, root := l.Root(); size != 11 || !bytes.Equal(root, mth(storedLeaves(t, st))) || l.Tampered() != nil {
		t.Fatalf("after a lost answer: size %d, tampered %v", size, l.Tampered())
	}
	st.mu.Lock()
	st.notDur = 1
	st.mu.Unlock()
	if err := l.Append(context.Background(), testRecord(101)); !errors.Is(err, store.ErrNotDurable) {
		t.Fatalf("a stored but not durable batch was answered %v", err)
	}
}

// Closing a queued log while records are being appended: every Append
// returns (stored, or refused as closed), Close waits for the appends
// queued with the storage, every record answered as stored is in the
// tree and the store, and the last checkpoint signs them all.
func TestQueuedCloseUnderLoad(t *testing.T) {
	st := newQueuedMem()
	st.durable = time.Millisecond
	st.work = 100 * time.Microsecond
	l, err := NewLog(st, testSigner(t), LogOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var stored []*Record
	closed := 0
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				r := testRecord(w*100000 + i)
				err := l.Append(context.Background(), r)
				mu.Lock()
				if err == nil {
					stored = append(stored, r)
				} else if errors.Is(err, ErrClosed) {
					closed++
				}
				mu.Unlock()
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
					return
				}
			}
		}()
	}
	time.Sleep(30 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	size, root := l.Root()
	if closed != 32 || size != int64(len(stored)) {
		t.Fatalf("%d appenders refused as closed (want 32); tree %d, %d answered stored", closed, size, len(stored))
	}
	if n, _ := st.LogSize(context.Background()); n != size || !bytes.Equal(root, mth(storedLeaves(t, st))) {
		t.Fatalf("store holds %d records, tree %d, or another root", n, size)
	}
	cps, err := st.Checkpoints(context.Background())
	if err != nil || len(cps) == 0 {
		t.Fatalf("no last checkpoint: %v", err)
	}
	cp, err := ParseCheckpoint(cps[len(cps)-1], testSigner(t).PublicKey())
	if err != nil || cp.Size != size {
		t.Fatalf("last checkpoint %+v, %v; want size %d", cp, err, size)
	}
}
