package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

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
	st, err := OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st.(*sqlStore)
	if _, err := s.Apply(ctx, []Change{createChange("before")}); err != nil {
		t.Fatalf("a write before the failure: %v", err)
	}
	good := s.sqlite.walPath
	s.sqlite.walPath = good + ".missing/x" // the next fsync fails
	_, err = s.Apply(ctx, []Change{createChange("during")})
	if !errors.Is(err, ErrNotDurable) || !strings.Contains(err.Error(), "sync the write-ahead log") {
		t.Fatalf("a write whose fsync failed was answered %v", err)
	}
	s.sqlite.walPath = good // even if the disk recovers, writes stay refused
	if _, err := s.Apply(ctx, []Change{createChange("after")}); err == nil || !strings.Contains(err.Error(), "refused until restart") {
		t.Fatalf("a write after the failure was answered %v", err)
	}
	if _, err := s.QueueLeaves(ctx, 0, [][]byte{[]byte("{}")}, [][]byte{make([]byte, 32)}); err == nil {
		t.Fatal("an audit append after the failure was queued")
	}
	if rec, err := s.Read(ctx, "Basic", "before"); err != nil || rec.Version != 1 {
		t.Fatalf("read after the failure: %+v, %v", rec, err)
	}
	if _, err := s.Read(ctx, "Basic", "after"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused write is readable: %v", err)
	}
}

// Jobs queued one after another run in that order, and each wait reports
// its own job's outcome.
func TestSQLiteQueuedWritesRunInOrder(t *testing.T) {
	ctx := context.Background()
	st, err := OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st.(*sqlStore)
	var waits []func() error
	for i := 0; i < 50; i++ {
		body := [][]byte{[]byte(`{"n":` + string(rune('0'+i%10)) + `}`)}
		wait, err := s.QueueLeaves(ctx, int64(i), body, [][]byte{make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, wait)
	}
	// numbered out of place: refused, and nothing stored for it
	bad, err := s.QueueLeaves(ctx, 7, [][]byte{[]byte(`{}`)}, [][]byte{make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range waits {
		if err := w(); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := bad(); !errors.Is(err, ErrLogMoved) {
		t.Fatalf("an append numbered 7 after 50 records: %v", err)
	}
	if n, err := s.LogSize(ctx); err != nil || n != 50 {
		t.Fatalf("log size %d, %v", n, err)
	}
}

// Every statement the writer runs per row is prepared once on its
// connection (an unprepared one would be parsed at every row).
func TestSQLiteWriterStatementsArePrepared(t *testing.T) {
	st, err := OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st.(*sqlStore)
	if len(indexRowSQL) != len(indexInsert) || len(indexRowSQL) == 0 {
		t.Fatalf("%d index row statements for %d index types", len(indexRowSQL), len(indexInsert))
	}
	for _, q := range writeStatements {
		if s.writeView.prepared(q) == nil {
			t.Errorf("not prepared on the write connection: %s", q)
		}
	}
}
