package eps

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
)

// expiryBatch bounds the prescriptions one pass of the sweep reads.
const expiryBatch = 200

// Expire ends every prescription issue whose validity has passed by now
// (status 0004 Expired; its open items 0006). It returns how many
// prescriptions changed. A prescription changed concurrently is left for
// the next sweep.
func (s *Service) Expire(ctx context.Context, now time.Time) (int, error) {
	now = now.UTC()
	q, err := search.Parse(s.eng, prescriptionType, url.Values{"expires": {"le" + now.Format("2006-01-02T15:04:05Z")}}, false)
	if err != nil {
		return 0, err
	}
	total := 0
	skipped := map[string]bool{}
	for {
		refs, err := s.store.Search(ctx, q, expiryBatch+len(skipped))
		if err != nil {
			return total, err
		}
		progress := false
		for _, ref := range refs {
			if skipped[ref.ID] {
				continue
			}
			changed, err := s.expireOne(ctx, ref.ID, now)
			if err != nil {
				return total, err
			}
			if changed {
				total++
				progress = true
			} else {
				skipped[ref.ID] = true
			}
		}
		if !progress || len(refs) < expiryBatch {
			return total, nil
		}
	}
}

func (s *Service) expireOne(ctx context.Context, id string, now time.Time) (bool, error) {
	p, err := s.load(ctx, id)
	if errors.Is(err, errNoPrescription) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	changed := false
	for i := range p.Issues {
		is := &p.Issues[i]
		wasFuture := future(is.Status)
		if is.expire(now) {
			changed = true
			p.record(event{At: now, Event: evExpired, Issue: is.Number, Status: is.Status, Items: is.itemStatuses()})
			// An issue of a repeat dispensing prescription that expired
			// undispensed (a Schedule 4 controlled drug's 28 days) makes
			// way for the next, if that is still valid.
			if !wasFuture {
				p.openNext(is, now)
			}
		}
	}
	if !changed {
		return false, nil
	}
	_, err = s.store.Apply(ctx, []store.Change{p.change()})
	var vc *store.VersionConflict
	if errors.As(err, &vc) {
		return false, nil
	}
	return err == nil, err
}

// Run sweeps for expired prescriptions every ExpiryInterval until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.ExpiryInterval)
	defer t.Stop()
	for {
		if n, err := s.Expire(ctx, s.now()); err != nil {
			if ctx.Err() != nil {
				return
			}
			slog.ErrorContext(ctx, "eps: expiry sweep failed", "err", err)
		} else if n > 0 {
			slog.InfoContext(ctx, "eps: prescriptions expired", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
