package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
// shared by every server process).
type StoreLimiter struct{ Store store.Store }

// Take implements Limiter.
func (l StoreLimiter) Take(ctx context.Context, key string, rate float64, burst int) (bool, time.Duration, error) {
	return l.Store.TakeToken(ctx, key, rate, burst)
}
