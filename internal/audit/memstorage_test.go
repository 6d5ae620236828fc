package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/openspine/openspine/internal/store"
)

// memStorage is an in-memory Storage with the SQL store's semantics: rows
// keyed by index, the size is the highest index + 1, and a range read
// fails when a row is missing before the last one it returns (a missing
// tail is a short read). Tests alter it directly, as one would the
// database.
type memStorage struct {
	mu      sync.Mutex
	rows    map[int64]memRow
	n       int64 // highest index + 1
	cps     [][]byte
	delay   time.Duration // per AppendLeaves: a durable commit's cost
	fail    error         // AppendLeaves fails with it (after storing, if failAfter)
	failAft bool
	appends int // AppendLeaves calls
}

type memRow struct{ body, leaf []byte }

func newMemStorage() *memStorage { return &memStorage{rows: map[int64]memRow{}} }

func (m *memStorage) sizeLocked() int64 { return m.n }

// recount recomputes the size after an alteration.
func (m *memStorage) recount() {
	m.n = 0
	for i := range m.rows {
		m.n = max(m.n, i+1)
	}
}

func (m *memStorage) AppendLeaves(ctx context.Context, bodies, hashes [][]byte) (int64, error) {
	if len(bodies) != len(hashes) {
		return 0, errors.New("bodies and hashes differ in number")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.delay > 0 {
		time.Sleep(m.delay)
	}
	m.appends++
	if m.fail != nil && !m.failAft {
		return 0, m.fail
	}
	first := m.sizeLocked()
	for i := range bodies {
		m.rows[first+int64(i)] = memRow{clone(bodies[i]), clone(hashes[i])}
	}
	m.n = first + int64(len(bodies))
	if m.fail != nil {
		return 0, m.fail
	}
	return first, nil
}

func (m *memStorage) column(from, to int64, leaf bool) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out [][]byte
	next := from
	for i := from; i < to; i++ {
		r, ok := m.rows[i]
		if !ok {
			continue
		}
		if i != next {
			return nil, fmt.Errorf("audit log: index %d is missing (found %d)", next, i)
		}
		next++
		if leaf {
			out = append(out, clone(r.leaf))
		} else {
			out = append(out, clone(r.body))
		}
	}
	return out, nil
}

func (m *memStorage) LeafHashes(ctx context.Context, from, to int64) ([][]byte, error) {
	return m.column(from, to, true)
}

func (m *memStorage) Leaves(ctx context.Context, from, to int64) ([][]byte, error) {
	return m.column(from, to, false)
}

func (m *memStorage) LogSize(ctx context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sizeLocked(), nil
}

func (m *memStorage) PutCheckpoint(ctx context.Context, size int64, cp []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cps = append(m.cps, clone(cp))
	return nil
}

func (m *memStorage) Checkpoints(ctx context.Context) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]byte, len(m.cps))
	for i, c := range m.cps {
		out[i] = clone(c)
	}
	return out, nil
}

// Direct alterations, as an intruder with database access would make.

func (m *memStorage) row(i int64) memRow {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rows[i]
}

func (m *memStorage) setRow(i int64, r memRow) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows[i] = r
	m.recount()
}

// deleteRow removes row i; renumber moves the rows after it down by one.
func (m *memStorage) deleteRow(i int64, renumber bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.sizeLocked()
	delete(m.rows, i)
	if renumber {
		for j := i + 1; j < n; j++ {
			m.rows[j-1] = m.rows[j]
		}
		delete(m.rows, n-1)
	}
	m.recount()
}

// insertRow moves rows i.. up by one and stores r at i.
func (m *memStorage) insertRow(i int64, r memRow) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for j := m.sizeLocked() - 1; j >= i; j-- {
		m.rows[j+1] = m.rows[j]
	}
	m.rows[i] = r
	m.recount()
}

func (m *memStorage) swapRows(i, j int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows[i], m.rows[j] = m.rows[j], m.rows[i]
}

// sharedMem adds AppendLeavesFunc: the indexes are chosen inside the
// append, as a store shared by several processes does.
type sharedMem struct{ *memStorage }

func (sharedMem) SharedLog() bool { return true }

func (s sharedMem) AppendLeavesFunc(ctx context.Context, build func(first int64) (bodies, hashes [][]byte, err error)) (int64, error) {
	m := s.memStorage
	m.mu.Lock()
	defer m.mu.Unlock()
	m.appends++
	first := m.sizeLocked()
	bodies, hashes, err := build(first)
	if err != nil {
		return 0, err
	}
	for i := range bodies {
		m.rows[first+int64(i)] = memRow{clone(bodies[i]), clone(hashes[i])}
	}
	m.n = first + int64(len(bodies))
	return first, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// queuedMem is a QueuedStorage over memStorage that behaves as SQLite's
// writer does: appends run one after another in the order queued, each
// numbered from where the log then ends, and each is answered, in order,
// only after a separate durability delay, while the next ones already run.
type queuedMem struct {
	*memStorage
	jobs     chan func()
	answers  chan func()   // in order, each after its durability delay
	durable  time.Duration // the fsync: then is called this long after the append
	work     time.Duration // each append keeps the writer busy this long
	failNext int           // the next so many appends fail (guarded by mu)
	lostAck  int           // the next so many appends are stored but answered with an error
	notDur   int           // the next so many appends are stored but answered "not durable"
	queuedN  int           // QueueLeavesFunc calls
}

func newQueuedMem() *queuedMem {
	q := &queuedMem{memStorage: newMemStorage(), jobs: make(chan func(), 64), answers: make(chan func(), 64)}
	go func() {
		for j := range q.jobs {
			j()
		}
	}()
	go func() {
		for a := range q.answers {
			a()
		}
	}()
	return q
}

func (q *queuedMem) QueueLeavesFunc(build func(first int64) ([][]byte, [][]byte, error), then func(first int64, err error)) error {
	q.mu.Lock()
	q.queuedN++
	q.mu.Unlock()
	q.jobs <- func() {
		q.mu.Lock()
		first, fail, lost, notDur := q.n, q.failNext > 0, q.lostAck > 0, q.notDur > 0
		if fail {
			q.failNext--
		} else if lost {
			q.lostAck--
		} else if notDur {
			q.notDur--
		}
		q.mu.Unlock()
		bodies, hashes, err := build(first)
		time.Sleep(q.work)
		switch {
		case err != nil:
		case fail:
			err = errors.New("disk full")
		default:
			_, err = q.AppendLeaves(context.Background(), bodies, hashes)
			if err == nil && lost {
				err = errors.New("connection reset after commit")
			} else if err == nil && notDur {
				err = fmt.Errorf("%w: fsync failed", store.ErrNotDurable)
			}
		}
		due := time.Now().Add(q.durable)
		q.answers <- func() {
			time.Sleep(time.Until(due))
			then(first, err)
		}
	}
	return nil
}
