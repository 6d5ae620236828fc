package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/openspine/openspine/internal/store"
)

// applicationType is the store record type of registered applications
// (not a FHIR type: never served by a FHIR endpoint).
const applicationType = "_Application"

// StoreRegistry keeps registered applications in the spine's store, so
// that every server process sees the same registrations.
type StoreRegistry struct{ Store store.Store }

// Application implements Registry.
func (r StoreRegistry) Application(ctx context.Context, id string) (*Application, error) {
	if !appIDPattern.MatchString(id) {
		return nil, ErrUnknownApplication
	}
	rec, err := r.Store.Read(ctx, applicationType, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.Deleted) {
		return nil, ErrUnknownApplication
	}
	if err != nil {
		return nil, err
	}
	var a Application
	if err := json.Unmarshal(rec.Body, &a); err != nil {
		return nil, fmt.Errorf("application %s: %w", id, err)
	}
	return &a, nil
}

// Register validates a and stores it (replacing an earlier registration).
func (r StoreRegistry) Register(ctx context.Context, a *Application) error {
	if err := a.Validate(); err != nil {
		return err
	}
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	_, err = r.Store.Apply(ctx, []store.Change{{Op: store.Update, Type: applicationType, ID: a.ID, AllowCreate: true,
		Render: func(int64, time.Time) ([]byte, error) { return body, nil }}})
	return err
}

// StoreReplay is a ReplayCache shared by every process through the store.
type StoreReplay struct{ Store store.Store }

// Seen implements ReplayCache.
func (r StoreReplay) Seen(ctx context.Context, key string, until time.Time) (bool, error) {
	fresh, err := r.Store.Claim(ctx, "jti|"+key, until)
	return !fresh, err
}

// StoreLimiter is a Limiter whose buckets live in the store (PostgreSQL:
// shared by every server process). Each process reserves tokens in chunks
// (a tenth of a second's worth, at most a quarter of the burst) and spends
// them locally, so a request costs a database write only once per chunk;
// reserved tokens unused after a second are forfeited (never over-grant).
type StoreLimiter struct {
	store store.Store
	mu    sync.Mutex
	local map[string]*reserved
}

type reserved struct {
	mu      sync.Mutex // held while this key's tokens are refilled: one refill at a time
	tokens  int
	expires time.Time
}

// NewStoreLimiter creates a limiter over st.
func NewStoreLimiter(st store.Store) *StoreLimiter {
	return &StoreLimiter{store: st, local: map[string]*reserved{}}
}

// Take implements Limiter.
func (l *StoreLimiter) Take(ctx context.Context, key string, rate float64, burst int) (bool, time.Duration, error) {
	l.mu.Lock()
	r := l.local[key]
	if r == nil {
		if len(l.local) > 100000 {
			l.local = map[string]*reserved{}
		}
		r = &reserved{}
		l.local[key] = r
	}
	l.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.tokens > 0 && now.Before(r.expires) {
		r.tokens--
		return true, 0, nil
	}
	chunk := max(1, min(burst/4, int(rate/10)))
	ok, wait, err := l.store.TakeToken(ctx, key, rate, burst, chunk)
	if err == nil && !ok && chunk > 1 {
		chunk = 1
		ok, wait, err = l.store.TakeToken(ctx, key, rate, burst, 1)
	}
	if err != nil || !ok {
		return ok, wait, err
	}
	r.tokens, r.expires = chunk-1, now.Add(time.Second)
	return true, 0, nil
}
