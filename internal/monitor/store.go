package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/store"
)

// index is the in-memory view of the stored alerts: the latest version of
// each, and the newest alert of each rule and key (for deduplication).
type index struct {
	mu      sync.Mutex
	alerts  map[string]*Alert
	byKey   map[string]string // rule|key -> id
	lastSeq int64             // newest store sequence read by sync

	syncMu sync.Mutex // one sync at a time
}

func newIndex() *index {
	return &index{alerts: map[string]*Alert{}, byKey: map[string]string{}}
}

func dedupeKey(rule, key string) string { return rule + "|" + key }

// put keeps a if it is newer than what the index holds.
func (ix *index) put(a *Alert) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if cur, ok := ix.alerts[a.ID]; ok && cur.Version >= a.Version {
		return
	}
	ix.alerts[a.ID] = a
	k := dedupeKey(a.Rule, a.Key)
	if id, ok := ix.byKey[k]; !ok || id == a.ID || !ix.alerts[id].First.After(a.First) {
		ix.byKey[k] = a.ID
	}
}

func (ix *index) get(id string) *Alert {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.alerts[id]
}

func (ix *index) latest(rule, key string) *Alert {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if id, ok := ix.byKey[dedupeKey(rule, key)]; ok {
		return ix.alerts[id]
	}
	return nil
}

// list returns the alerts matching f, most recent activity first.
func (ix *index) list(f Filter) []*Alert {
	ix.mu.Lock()
	var out []*Alert
	for _, a := range ix.alerts {
		if f.match(a) {
			out = append(out, a)
		}
	}
	ix.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Last.Equal(out[j].Last) {
			return out[i].Last.After(out[j].Last)
		}
		return out[i].ID > out[j].ID
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}

func decodeAlert(rec store.Record) (*Alert, error) {
	var a Alert
	if err := json.Unmarshal(rec.Body, &a); err != nil {
		return nil, fmt.Errorf("alert %s: %w", rec.ID, err)
	}
	a.ID, a.Version = rec.ID, rec.Version
	return &a, nil
}

// sync reads the alert versions written since the last sync (by this
// process or another), newest first, into the index.
func (m *Monitor) sync(ctx context.Context) error {
	ix := m.index
	ix.syncMu.Lock()
	defer ix.syncMu.Unlock()
	ix.mu.Lock()
	last := ix.lastSeq
	ix.mu.Unlock()
	var newest, before int64
	for {
		recs, err := m.st.History(ctx, store.HistoryQuery{Type: AlertType, Before: before, Count: 500})
		if err != nil {
			return fmt.Errorf("monitor: reading alerts: %w", err)
		}
		for _, rec := range recs {
			if rec.Seq <= last {
				recs = nil
				break
			}
			newest = max(newest, rec.Seq)
			before = rec.Seq
			if rec.Deleted {
				continue
			}
			if cur := ix.get(rec.ID); cur != nil && cur.Version >= rec.Version {
				continue // newest first: an older version of an alert already read
			}
			a, err := decodeAlert(rec)
			if err != nil {
				return err
			}
			ix.put(a)
		}
		if len(recs) < 500 {
			break
		}
	}
	ix.mu.Lock()
	ix.lastSeq = max(ix.lastSeq, newest)
	ix.mu.Unlock()
	return nil
}

func render(a *Alert) func(int64, time.Time) ([]byte, error) {
	return func(version int64, t time.Time) ([]byte, error) {
		a.Version, a.Updated = version, t
		if version == 1 {
			a.Created = t
		}
		return json.Marshal(a)
	}
}

// create stores a new alert; when it already exists (the same records
// replayed) the stored one is returned with created false.
func (m *Monitor) create(ctx context.Context, a *Alert) (*Alert, bool, error) {
	out, err := m.st.Apply(ctx, []store.Change{{Op: store.Create, Type: AlertType, ID: a.ID, Render: render(a)}})
	if errors.Is(err, store.ErrExists) {
		rec, err := m.st.Read(ctx, AlertType, a.ID)
		if err != nil {
			return nil, false, err
		}
		cur, err := decodeAlert(rec)
		if err != nil {
			return nil, false, err
		}
		m.index.put(cur)
		return cur, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	a.Version = out[0].Version
	m.index.put(a)
	return a, true, nil
}

// errPrecondition: the caller's If-Match no longer holds.
var errPrecondition = fhir.NewError(http.StatusPreconditionFailed, fhir.CodeVersionMismatch, "the alert has changed since that version")

// update reads the current alert, applies mutate and writes it with
// IfMatch, retrying when someone else wrote in between (unless the caller
// gave ifMatch, which must then equal the current version).
func (m *Monitor) update(ctx context.Context, id string, ifMatch int64, mutate func(*Alert) error) (*Alert, error) {
	for attempt := 0; ; attempt++ {
		rec, err := m.st.Read(ctx, AlertType, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fhir.NotFound("alert", id)
		}
		if err != nil {
			return nil, err
		}
		a, err := decodeAlert(rec)
		if err != nil {
			return nil, err
		}
		m.index.put(a.clone())
		if ifMatch > 0 && a.Version != ifMatch {
			return nil, errPrecondition
		}
		if err := mutate(a); err != nil {
			return nil, err
		}
		out, err := m.st.Apply(ctx, []store.Change{{Op: store.Update, Type: AlertType, ID: id, IfMatch: a.Version, Render: render(a)}})
		var vc *store.VersionConflict
		if errors.As(err, &vc) {
			if ifMatch > 0 {
				return nil, errPrecondition
			}
			if attempt < 8 {
				continue
			}
			return nil, fhir.NewError(http.StatusConflict, fhir.CodeVersionMismatch, "the alert is changing too fast; try again")
		}
		if err != nil {
			return nil, err
		}
		a.Version = out[0].Version
		m.index.put(a)
		return a.clone(), nil
	}
}

// read returns the current stored alert.
func (m *Monitor) read(ctx context.Context, id string) (*Alert, error) {
	rec, err := m.st.Read(ctx, AlertType, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fhir.NotFound("alert", id)
	}
	if err != nil {
		return nil, err
	}
	a, err := decodeAlert(rec)
	if err != nil {
		return nil, err
	}
	m.index.put(a.clone())
	return a, nil
}

type logSizer interface {
	LogSize(ctx context.Context) (int64, error)
}

// logSize is the tree size for inclusion-proof links: the audit log's
// size when the store keeps it, else past the newest record seen.
func (m *Monitor) logSize(ctx context.Context) int64 {
	if ls, ok := m.st.(logSizer); ok {
		if n, err := ls.LogSize(ctx); err == nil && n > m.maxIndex.Load() {
			return n
		}
	}
	return m.maxIndex.Load() + 1
}
