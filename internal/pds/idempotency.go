package pds

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/idempotency"
	"github.com/openspine/openspine/internal/store"
)

// idempotencyType is the internal record type (never served) that keeps the
// answer to each write under its X-Request-ID (idempotency), so that a
// retried write returns the first answer instead of being applied twice.
// A write is looked up before it is applied (readWrite); a concurrent
// duplicate that commits first makes the write's record fail (applyOnce).
const idempotencyType = "_PDSRequest"

// replayed returns the stored answer of an earlier request with the same key.
func (s *Service) replayed(ctx context.Context, key string) (*idempotency.Answer, error) {
	return idempotency.Lookup(ctx, s.store, idempotencyType, key)
}

// idempotencyChange records a; version, when set, is read at render time
// (the patient change before it in the same Apply has rendered by then).
func idempotencyChange(key string, a *idempotency.Answer, version *int64) store.Change {
	return idempotency.Change(idempotencyType, key, func() ([]byte, error) {
		if version != nil {
			a.Version = *version
		}
		a.At = time.Now().UTC()
		return a.Encode(), nil
	})
}

// answerReplay writes the first answer again.
func (s *Service) answerReplay(w http.ResponseWriter, r *http.Request, rp *idempotency.Answer) {
	if rp.ID == "" {
		fhir.Write(w, rp.Status, rp.Body)
		return
	}
	rec, err := s.store.ReadVersion(r.Context(), "Patient", rp.ID, rp.Version)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	res, err := fhir.DecodeStored(rec.Body)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	if rp.Status == http.StatusCreated {
		w.Header().Set("Location", s.eng.BaseURL(r)+"/Patient/"+rp.ID)
	}
	writePatient(w, r, rp.Status, rec, res)
}

// applyOnce applies changes plus the idempotency record; when a concurrent
// duplicate committed first, it answers with that one's result instead.
func (s *Service) applyOnce(w http.ResponseWriter, r *http.Request, key string, changes []store.Change, rp *idempotency.Answer) ([]store.Outcome, bool, error) {
	var version int64
	if len(changes) > 0 {
		inner := changes[0].Render
		changes[0].Render = func(v int64, t time.Time) ([]byte, error) {
			version = v
			return inner(v, t)
		}
	}
	all := append(changes, idempotencyChange(key, rp, &version))
	out, err := s.store.Apply(r.Context(), all)
	var ce *store.ChangeError
	if errors.As(err, &ce) && ce.Index == len(all)-1 && errors.Is(ce.Err, store.ErrExists) {
		if prev, perr := s.replayed(r.Context(), key); perr == nil && prev != nil {
			s.answerReplay(w, r, prev)
			return nil, true, nil
		}
	}
	return out, false, err
}

// readWrite reads and decodes the body of a write (PATCH, POST) whose
// media type is one of ctypes. When the request's X-Request-ID was already
// answered, it answers again with the first result and handled is true.
func (s *Service) readWrite(w http.ResponseWriter, r *http.Request, ctypes ...string) (doc any, key string, handled bool) {
	fail := func(err error) (any, string, bool) {
		fhir.WriteError(w, r, err)
		return nil, "", true
	}
	if err := fhir.CheckContentType(r, ctypes...); err != nil {
		return fail(err)
	}
	body, err := fhir.ReadBody(w, r, 1<<20)
	if err != nil {
		return fail(err)
	}
	key = idempotency.RequestKey(r)
	rp, err := s.replayed(r.Context(), key)
	if err != nil {
		return fail(err)
	}
	if rp != nil {
		s.answerReplay(w, r, rp)
		return nil, "", true
	}
	if doc, err = fhir.DecodeValue(body); err != nil {
		return fail(err)
	}
	return doc, key, false
}

func etagVersion(h string) (int64, bool) {
	if len(h) < 5 || h[:3] != `W/"` || h[len(h)-1] != '"' {
		return 0, false
	}
	v, err := strconv.ParseInt(h[3:len(h)-1], 10, 64)
	return v, err == nil && v > 0
}
