package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/openspine/openspine/internal/store"
)

var (
	recordsAppended = promauto.NewCounter(prometheus.CounterOpts{
		Name: "spine_audit_records_appended_total", Help: "Audit records durably appended to the log.",
	})
	appendErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "spine_audit_append_errors_total", Help: "Audit records whose append failed (the request was not released).",
	})
	batchSize = promauto.NewHistogram(prometheus.HistogramOpts{
		Name: "spine_audit_batch_size", Help: "Audit records committed together in one group commit.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
	})
	appendSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name: "spine_audit_append_seconds", Help: "Time from Append to the record being durable.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	logSize = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "spine_audit_log_size", Help: "Records in the audit log.",
	})
	subscriberDrops = promauto.NewCounter(prometheus.CounterOpts{
		Name: "spine_audit_subscriber_dropped_total", Help: "Audit records not delivered to a subscriber whose buffer was full.",
	})
	checkpointsSigned = promauto.NewCounter(prometheus.CounterOpts{
		Name: "spine_audit_checkpoints_total", Help: "Checkpoints signed.",
	})
)

var (
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("audit log closed")
	// ErrTampered is returned by Checkpoint when the log will not sign.
	ErrTampered = errors.New("audit log altered: checkpoints refused")
)

// SharedStorage is implemented by a Storage that several processes may
// append to (PostgreSQL: every spine process on one database); SharedLog
// says whether this one is. AppendLeavesFunc calls build, inside the
// transaction that appends (holding the log's lock), with the index the
// first record will get, and stores what it returns. With it the records'
// bodies carry their true indexes however many processes write, and the
// Log takes the others' records into its tree; without it the Log assumes
// it is the only writer and treats records it did not write as inserted
// behind its back.
type SharedStorage interface {
	SharedLog() bool
	AppendLeavesFunc(ctx context.Context, build func(first int64) (bodies, hashes [][]byte, err error)) (first int64, err error)
}

// QueuedStorage is implemented by a Storage whose appends run one after
// another on a single writer, in the order they are queued, and become
// durable in that order (SQLite). QueueLeavesFunc queues an append and
// returns at once: build is called in the append's transaction with the
// index the first record gets (again, should the transaction be run
// again); then is called once with the outcome when the records are
// durable or have failed, in the order the appends were queued, and must
// not block. With it the Log keeps one append queued at a time, which
// takes, when the writer comes to it, every record that arrived meanwhile:
// no goroutine of the Log's own stands between a request and the writer.
type QueuedStorage interface {
	QueueLeavesFunc(build func(first int64) (bodies, hashes [][]byte, err error), then func(first int64, err error)) error
}

// LogOptions tune a Log; zero values take the defaults.
type LogOptions struct {
	MaxBatch  int              // records per group commit (512); a queued log's append takes every record waiting
	QueueSize int              // Appends waiting for the appender (4096); a queued log has no appender
	Logger    *slog.Logger     // slog.Default()
	Now       func() time.Time // time.Now, for checkpoint times
}

// Log is the append-only audit log.
type Log struct {
	st     Storage
	shared SharedStorage // st, when it is one
	queued QueuedStorage // st, when it is one (and not shared)
	signer *Signer
	opts   LogOptions
	hasher *rfc6962.Hasher
	rf     *compact.RangeFactory

	closeMu sync.RWMutex // held to enqueue; Close takes it to close the queue
	closed  bool
	queue   chan *pending // to the appender (a log that is not queued)
	done    chan struct{} // closed when the appender has drained the queue

	// a queued log's records waiting for the storage's next append, and
	// whether that append is queued (it takes them all when it runs)
	waitMu   sync.Mutex
	waiting  []*pending
	draining bool
	drains   sync.WaitGroup // appends queued and not yet answered

	writeMu sync.Mutex // one writer of the tree: the appender or catchUp
	cpMu    sync.Mutex // one checkpoint at a time: sizes only grow

	mu         sync.RWMutex
	tree       *compact.Range // every leaf: the current root
	tiles      [][]byte       // root of every complete tile of 2^tileLevel leaves
	latest     []byte         // latest checkpoint
	latestSize int64
	tampered   error

	subMu sync.Mutex
	subs  map[chan Record]struct{}
}

type pending struct {
	rec   Record
	start time.Time
	done  chan error // buffered: the appender never waits
}

// tileLevel sets the tiles the log keeps in memory to serve proofs: one
// hash per 256 leaves (32 bytes each: 125 KB per million records); nodes
// below are recomputed from at most 255 stored leaf hashes.
const tileLevel = 8

// NewLog loads the tree from the stored leaf hashes and starts the
// appender. If the stored leaves do not reproduce the latest stored
// checkpoint, the log still appends but refuses to sign (see Tampered).
func NewLog(st Storage, signer *Signer, opts LogOptions) (*Log, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 4096
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Log{
		st: st, signer: signer, opts: opts, hasher: rfc6962.DefaultHasher,
		done: make(chan struct{}), subs: map[chan Record]struct{}{},
	}
	if sh, ok := st.(SharedStorage); ok && sh.SharedLog() {
		l.shared = sh
	} else {
		l.queued, _ = st.(QueuedStorage)
	}
	l.rf = &compact.RangeFactory{Hash: l.hasher.HashChildren}
	l.tree = l.rf.NewEmptyRange(0)
	if err := l.load(context.Background()); err != nil {
		return nil, err
	}
	if l.queued == nil {
		l.queue = make(chan *pending, opts.QueueSize)
		go l.run()
	} else {
		close(l.done) // no appender and no queue: see addWaiting
	}
	return l, nil
}

// load builds the tree from the stored leaf hashes and checks it against
// the latest stored checkpoint.
func (l *Log) load(ctx context.Context) error {
	var last *Checkpoint
	cps, err := l.st.Checkpoints(ctx)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if len(cps) > 0 {
		cp, err := ParseCheckpoint(cps[len(cps)-1], l.signer.PublicKey())
		if err != nil {
			l.tampered = fmt.Errorf("audit log: the latest stored checkpoint does not verify with this key: %w", err)
		} else {
			last = &cp
			l.latest, l.latestSize = cp.Text, cp.Size
		}
	}
	check := func() { // l.mu held
		if last != nil && int64(l.tree.End()) == last.Size && l.tampered == nil && !bytes.Equal(l.rootLocked(), last.Root) {
			l.tampered = fmt.Errorf("audit log: the stored leaves do not reproduce the root of the checkpoint of size %d signed at %s: records altered", last.Size, last.Time.Format(time.RFC3339))
		}
	}
	check()
	l.writeMu.Lock()
	err = l.catchUpLocked(ctx, -1, true, check)
	l.writeMu.Unlock()
	if err != nil {
		return err
	}
	if last != nil && last.Size > int64(l.tree.End()) && l.tampered == nil {
		l.tampered = fmt.Errorf("audit log: the latest checkpoint commits to %d records but %d are stored: records deleted", last.Size, l.tree.End())
	}
	if l.tampered != nil {
		l.opts.Logger.Error("audit log altered: checkpoints refused until it is investigated (spine audit verify)", "err", l.tampered)
	}
	return nil
}

// catchUp brings the tree up to the stored size: records appended by other
// processes or, for a Log that is the only writer, inserted behind its back.
func (l *Log) catchUp(ctx context.Context) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	return l.catchUpLocked(ctx, -1, false, nil)
}

// catchUpLocked appends to the tree the leaf hashes stored from its end up
// to index to (the stored size if to < 0); each, if not nil, runs after
// every leaf with l.mu held. writeMu held.
func (l *Log) catchUpLocked(ctx context.Context, to int64, loading bool, each func()) error {
	if to < 0 {
		size, err := l.st.LogSize(ctx)
		if err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
		to = size
	}
	from := int64(l.tree.End())
	if to <= from {
		return nil
	}
	for at := from; at < to; {
		hashes, err := l.st.LeafHashes(ctx, at, min(at+4096, to))
		if err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
		if len(hashes) == 0 {
			return fmt.Errorf("audit log: leaf %d is missing", at)
		}
		l.mu.Lock()
		for _, h := range hashes {
			l.appendLeaf(h)
			if each != nil {
				each()
			}
		}
		l.mu.Unlock()
		at += int64(len(hashes))
	}
	logSize.Set(float64(to))
	if !loading && l.shared == nil {
		l.mu.Lock()
		if l.tampered == nil {
			l.tampered = fmt.Errorf("audit log: records [%d, %d) were added to the store by another writer", from, to)
		}
		l.mu.Unlock()
		l.opts.Logger.Error("audit log: records added behind the log's back", "from", from, "to", to)
	}
	return nil
}

// appendLeaf adds a leaf hash to the tree, keeping the tile roots; l.mu held.
func (l *Log) appendLeaf(h []byte) {
	l.tree.Append(h, func(id compact.NodeID, hash []byte) {
		if id.Level == tileLevel {
			l.tiles = append(l.tiles, hash)
		}
	})
}

// Root returns the current tree size and root hash.
func (l *Log) Root() (size int64, root []byte) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return int64(l.tree.End()), l.rootLocked()
}

func (l *Log) rootLocked() []byte {
	if l.tree.End() == 0 {
		return l.hasher.EmptyRoot()
	}
	root, _ := l.tree.GetRootHash(nil)
	return root
}

// Tampered reports why the log will not sign checkpoints: its stored
// leaves no longer reproduce its latest checkpoint, or records were added
// to the store by someone else. Nil when all is well.
func (l *Log) Tampered() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.tampered
}

// Append stores r durably in the log and sets r.Index. It returns once the
// record is committed, or with an error (the caller must then not release
// the response). Concurrent Appends share one storage transaction.
func (l *Log) Append(ctx context.Context, r *Record) error {
	p := &pending{rec: *r, start: time.Now(), done: make(chan error, 1)}
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return ErrClosed
	}
	if l.queued != nil {
		l.addWaiting(p)
	} else {
		select {
		case l.queue <- p:
		case <-ctx.Done():
			l.closeMu.RUnlock()
			return ctx.Err()
		}
	}
	l.closeMu.RUnlock()
	select {
	case err := <-p.done:
		if err != nil {
			return err
		}
		r.Index = p.rec.Index
		return nil
	case <-ctx.Done():
		return ctx.Err() // it may still be committed
	}
}

// run is the appender: it commits everything queued, up to MaxBatch
// records at a time, until the queue is closed and drained.
func (l *Log) run() {
	defer close(l.done)
	for p := range l.queue {
		l.commit(l.gather(p))
	}
}

// gather makes a batch of p and what is queued behind it, up to MaxBatch
// records. It is called when the appender is ready for the next batch, so
// that what arrived while the previous one was stored goes in one.
func (l *Log) gather(p *pending) []*pending {
	batch := append(make([]*pending, 0, 16), p)
	for len(batch) < l.opts.MaxBatch {
		select {
		case p, ok := <-l.queue:
			if !ok {
				return batch
			}
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

// addWaiting adds p to the records waiting for a queued log's next append, and
// queues that append if it is not queued yet. closeMu held (read).
func (l *Log) addWaiting(p *pending) {
	l.waitMu.Lock()
	l.waiting = append(l.waiting, p)
	queued := l.draining
	l.draining = true
	l.waitMu.Unlock()
	if queued {
		return
	}
	var batch []*pending
	take := func() []*pending { // once, by the append or its outcome
		if batch == nil {
			l.waitMu.Lock()
			batch, l.waiting, l.draining = l.waiting, nil, false
			l.waitMu.Unlock()
		}
		return batch
	}
	var hashes [][]byte
	build := func(first int64) ([][]byte, [][]byte, error) {
		b := take()
		bodies := make([][]byte, len(b))
		hashes = make([][]byte, len(b))
		for i, p := range b {
			p.rec.Index = first + int64(i)
			var err error
			if bodies[i], err = json.Marshal(&p.rec); err != nil {
				return nil, nil, fmt.Errorf("audit record: %w", err)
			}
			hashes[i] = l.hasher.HashLeaf(bodies[i])
		}
		return bodies, hashes, nil
	}
	then := func(first int64, err error) {
		defer l.drains.Done()
		b := take()
		if err != nil && (len(hashes) != len(b) || !l.durableAnyway(err, first, hashes)) {
			l.failBatch(b, err)
			return
		}
		if err := l.joinTree(first, hashes); err != nil {
			l.failBatch(b, err)
			return
		}
		l.settleBatch(b, first)
	}
	l.drains.Add(1)
	if err := l.queued.QueueLeavesFunc(build, then); err != nil {
		l.drains.Done()
		l.failBatch(take(), err)
	}
}

// durableAnyway tells whether a batch whose append failed with err is
// stored all the same: a commit whose acknowledgement was lost (a dropped
// connection). Never when the storage says it is not durable.
func (l *Log) durableAnyway(err error, first int64, hashes [][]byte) bool {
	return !errors.Is(err, store.ErrNotDurable) && l.storedAt(context.Background(), first, hashes)
}

// joinTree adds to the tree the leaf hashes of a queued log's durable
// batch stored from index first. Stored records between the tree's end
// and first (a failed batch that was stored all the same, or records
// inserted behind the log's back) are taken in first, which marks the log
// as tampered (see catchUpLocked).
func (l *Log) joinTree(first int64, hashes [][]byte) error {
	ctx := context.Background()
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.RLock()
	end := int64(l.tree.End())
	l.mu.RUnlock()
	if first > end {
		if err := l.catchUpLocked(ctx, first, false, nil); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if int64(l.tree.End()) != first {
		// cannot happen: batches are stored where the log ends, and
		// answered in that order
		l.opts.Logger.Error("audit log: a durable batch does not continue the tree", "first", first, "tree", l.tree.End())
		return fmt.Errorf("audit log: a batch stored at %d does not continue the tree of %d records", first, l.tree.End())
	}
	for _, h := range hashes {
		l.appendLeaf(h)
	}
	return nil
}

// commit appends one batch and answers its waiters.
func (l *Log) commit(batch []*pending) {
	ctx := context.Background()
	l.writeMu.Lock()
	first, hashes, err := l.store(ctx, batch)
	if err == nil {
		l.mu.Lock()
		for _, h := range hashes {
			l.appendLeaf(h)
		}
		l.mu.Unlock()
	}
	l.writeMu.Unlock()
	if err != nil {
		l.failBatch(batch, err)
		return
	}
	l.settleBatch(batch, first)
}

// failBatch answers every waiter of a batch that was not stored.
func (l *Log) failBatch(batch []*pending, err error) {
	appendErrors.Add(float64(len(batch)))
	l.opts.Logger.Error("audit append failed", "records", len(batch), "err", err)
	for _, p := range batch {
		p.done <- fmt.Errorf("audit append: %w", err)
	}
}

// settleBatch answers the waiters of a batch stored durably from index
// first (already in the tree) and passes the records to the subscribers.
func (l *Log) settleBatch(batch []*pending, first int64) {
	batchSize.Observe(float64(len(batch)))
	recordsAppended.Add(float64(len(batch)))
	logSize.Set(float64(first + int64(len(batch))))
	now := time.Now()
	for i, p := range batch {
		p.rec.Index = first + int64(i)
		appendSeconds.Observe(now.Sub(p.start).Seconds())
		p.done <- nil
	}
	l.publish(batch)
}

// store writes the batch; on success the tree has been brought up to
// first, where the batch's hashes go. writeMu held.
func (l *Log) store(ctx context.Context, batch []*pending) (first int64, hashes [][]byte, err error) {
	expected := int64(l.tree.End())
	build := func(first int64) (bodies, hashes [][]byte, err error) {
		bodies, hashes = make([][]byte, len(batch)), make([][]byte, len(batch))
		for i, p := range batch {
			p.rec.Index = first + int64(i)
			if bodies[i], err = json.Marshal(&p.rec); err != nil {
				return nil, nil, fmt.Errorf("audit record: %w", err)
			}
			hashes[i] = l.hasher.HashLeaf(bodies[i])
		}
		return bodies, hashes, nil
	}
	if l.shared != nil {
		first, err = l.shared.AppendLeavesFunc(ctx, func(f int64) ([][]byte, [][]byte, error) {
			b, h, err := build(f)
			hashes = h
			return b, h, err
		})
	} else {
		var bodies [][]byte
		if bodies, hashes, err = build(expected); err != nil {
			return 0, nil, err
		}
		first, err = l.st.AppendLeaves(ctx, bodies, hashes)
		if err != nil && l.committedAnyway(ctx, expected, hashes) {
			first, err = expected, nil
		}
	}
	if err != nil {
		if cerr := l.catchUpLocked(ctx, -1, false, nil); cerr != nil {
			l.opts.Logger.Error("audit log resync failed", "err", cerr)
		}
		return 0, nil, err
	}
	if first != expected {
		if l.shared == nil {
			l.opts.Logger.Error("audit log: records stored at other indexes than their bodies say", "said", expected, "stored", first)
		}
		if err := l.catchUpLocked(ctx, first, false, nil); err != nil {
			return 0, nil, err
		}
	}
	return first, hashes, nil
}

// storedAt tells whether the stored leaves from index at are hashes.
func (l *Log) storedAt(ctx context.Context, at int64, hashes [][]byte) bool {
	stored, err := l.st.LeafHashes(ctx, at, at+int64(len(hashes)))
	if err != nil || len(stored) != len(hashes) {
		return false
	}
	for i := range stored {
		if !bytes.Equal(stored[i], hashes[i]) {
			return false
		}
	}
	return true
}

// committedAnyway tells whether a batch whose append failed is stored all
// the same (a commit whose acknowledgement was lost).
func (l *Log) committedAnyway(ctx context.Context, at int64, hashes [][]byte) bool {
	size, err := l.st.LogSize(ctx)
	return err == nil && size == at+int64(len(hashes)) && l.storedAt(ctx, at, hashes)
}

// Subscribe delivers every record appended from now on, in index order,
// through a channel with the given buffer. The appender never waits: when
// the buffer is full the record is dropped for that subscriber (counted
// in spine_audit_subscriber_dropped_total). cancel ends the subscription
// and closes the channel; Close closes them all.
func (l *Log) Subscribe(buffer int) (records <-chan Record, cancel func()) {
	ch := make(chan Record, max(buffer, 1))
	l.subMu.Lock()
	if l.subs == nil { // closed
		close(ch)
	} else {
		l.subs[ch] = struct{}{}
	}
	l.subMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			l.subMu.Lock()
			if _, ok := l.subs[ch]; ok {
				delete(l.subs, ch)
				close(ch)
			}
			l.subMu.Unlock()
		})
	}
}

func (l *Log) publish(batch []*pending) {
	l.subMu.Lock()
	defer l.subMu.Unlock()
	for ch := range l.subs {
		for _, p := range batch {
			select {
			case ch <- p.rec:
			default:
				subscriberDrops.Inc()
			}
		}
	}
}

// Close stops accepting records, waits until every queued one is
// committed, closes the subscriptions, and signs a last checkpoint if the
// log grew since the latest. Close it before closing the store.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		l.drains.Wait()
		<-l.done
		return nil
	}
	l.closed = true
	if l.queue != nil {
		close(l.queue)
	}
	l.closeMu.Unlock()
	l.drains.Wait()
	<-l.done
	l.subMu.Lock()
	for ch := range l.subs {
		close(ch)
	}
	l.subs = nil
	l.subMu.Unlock()
	l.mu.RLock()
	due := l.latestSize != int64(l.tree.End()) || l.latest == nil
	l.mu.RUnlock()
	if due && l.Tampered() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := l.Checkpoint(ctx); err != nil {
			return err
		}
	}
	return nil
}
