package eps

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/idempotency"
	"github.com/openspine/openspine/internal/store"
)

// answerType keeps the answer to each applied message (idempotency), keyed
// by its X-Request-ID and by the message's own identifier.
const answerType = "_EPSAnswer"

// maxBody bounds request bodies.
const maxBody = 1 << 20

// request is one write in progress.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	body []byte
	doc  map[string]any
	hash string
	keys []string // answer keys to record
	// applied: commit applied this request's own changes (not a
	// duplicate's answer given again)
	applied bool
}

func (rq *request) ctx() context.Context { return rq.r.Context() }

// checkHeaders applies the contract's header rules: X-Request-ID is
// mandatory and a UUID; the client accepts FHIR JSON.
func checkHeaders(r *http.Request) error {
	if err := idempotency.CheckRequestID(r); err != nil {
		return err
	}
	return fhir.CheckAccept(r)
}

// begin reads a write: headers, media type, body. It answers a request
// it refuses (a body that does not decode included) and returns nil.
//
// De-duplication is optimistic: a write is not looked up before it is
// applied. Its answer is recorded under its keys (its X-Request-ID, and
// its message's identifier: messageKey) in the same transaction as its
// changes, with keys that must be new; a retry of a write that was
// applied fails there, or is refused by the state it finds, and either
// way is answered with the recorded answer (commit, refuse). Nearly every
// write is new: looking each one's keys up first cost a store read per
// key (7 in a prescription's life).
func (s *Service) begin(w http.ResponseWriter, r *http.Request) *request {
	fail := func(err error) *request {
		writeError(w, r, err)
		return nil
	}
	if err := checkHeaders(r); err != nil {
		return fail(err)
	}
	if err := fhir.CheckContentType(r, "application/fhir+json", "application/json"); err != nil {
		return fail(err)
	}
	body, err := fhir.ReadBody(w, r, maxBody)
	if err != nil {
		return fail(err)
	}
	rq := &request{w: w, r: r, body: body, hash: idempotency.Hash(string(body))}
	rq.keys = append(rq.keys, idempotency.RequestKey(r))
	v, err := fhir.DecodeValue(body)
	if err != nil {
		s.refuse(rq, err)
		return nil
	}
	doc, ok := v.(map[string]any)
	if !ok {
		s.refuse(rq, fhir.Invalid("the body is not a JSON object"))
		return nil
	}
	rq.doc = doc
	return rq
}

// messageKey adds the message's own identifier as a de-duplication key: a
// message already applied is answered again; the same identifier on
// different content is refused (see replay).
func (s *Service) messageKey(rq *request, kind, id string) {
	if id != "" {
		rq.keys = append(rq.keys, msgKeyPrefix+idempotency.Hash(kind, id))
	}
}

// msgKeyPrefix starts the keys of message identifiers, which must come
// with the same content to be answered again.
const msgKeyPrefix = "msg-"

// replay answers with the recorded answer under key, if any. A message
// identifier's answer is given only to the same content: another message
// reusing the identifier is refused (409).
func (s *Service) replay(rq *request, key string) (bool, error) {
	sameBody := strings.HasPrefix(key, msgKeyPrefix)
	a, err := idempotency.Lookup(rq.ctx(), s.store, answerType, key)
	if err != nil || a == nil {
		return false, err
	}
	if sameBody && a.Hash != rq.hash {
		return false, fhir.NewError(http.StatusConflict, fhir.CodeDuplicate, "a different message with this identifier was already processed")
	}
	fhir.Write(rq.w, a.Status, a.Body)
	return true, nil
}

// replayed answers with the answer of a duplicate of this request (same
// X-Request-ID or message identifier) that was applied before or while it
// was being retried.
func (s *Service) replayed(rq *request, attempt int) (bool, error) {
	if attempt == 0 {
		return false, nil
	}
	for _, k := range rq.keys {
		if done, err := s.replay(rq, k); err != nil || done {
			return done, err
		}
	}
	return false, nil
}

// refuse answers a refused write, unless it is a duplicate of one applied
// before (a retry, refused by the state the first made): then with that
// one's answer, or 409 if it reuses a message identifier on another
// content.
func (s *Service) refuse(rq *request, err error) {
	done, rerr := s.replayed(rq, 1)
	if done {
		return
	}
	var fe *fhir.Error
	if errors.As(rerr, &fe) && fe.Code == fhir.CodeDuplicate {
		err = rerr
	}
	writeError(rq.w, rq.r, err)
}

// errConflict says a prescription changed between read and write: the
// caller re-reads and tries again.
var errConflict = errors.New("concurrent change")

// commit applies changes with the answer recorded under the request's
// keys, then sends the answer. A duplicate of a request applied before
// (a retry, or a concurrent copy that committed first) is answered with
// that one's answer. The answer records go first, so that a duplicate
// fails on them before anything else.
func (s *Service) commit(rq *request, changes []store.Change, status int, body any) error {
	raw := fhir.Marshal(body)
	// serialised here, not in the store's single writer
	a := idempotency.Answer{Status: status, Body: raw, Hash: rq.hash, At: s.now()}
	stored := a.Encode()
	all := make([]store.Change, 0, len(rq.keys)+len(changes))
	for _, k := range rq.keys {
		all = append(all, idempotency.Change(answerType, k, func() ([]byte, error) { return stored, nil }))
	}
	all = append(all, changes...)
	_, err := s.store.Apply(rq.ctx(), all)
	if err != nil {
		var ce *store.ChangeError
		var vc *store.VersionConflict
		switch {
		case errors.As(err, &ce) && errors.Is(ce.Err, store.ErrExists):
			// A duplicate was applied first: answer as it was answered.
			for _, k := range rq.keys {
				done, rerr := s.replay(rq, k)
				if done {
					return nil
				}
				if rerr != nil {
					return rerr
				}
			}
			if ce.Index >= len(rq.keys) {
				return errExists
			}
			return errConflict
		case errors.As(err, &vc):
			return errConflict
		}
		return s.eng.StoreError(err)
	}
	rq.applied = true
	fhir.Write(rq.w, status, raw)
	return nil
}

var errExists = errors.New("exists")

// maxAttempts bounds re-reads after concurrent changes.
const maxAttempts = 50

// checkAction applies the policy to an action known only from the body
// ($process-message); without an authenticated principal (no auth
// middleware) everything is allowed.
func checkAction(ctx context.Context, action string) error {
	if auth.From(ctx) == nil {
		return nil
	}
	return auth.Check(ctx, "eps", action)
}

// dispenser is the pharmacy acting: the organisation of the signed-in
// user's role when authenticated, else the one the message names.
func dispenser(ctx context.Context, named party) (party, error) {
	named.ODS = strings.ToUpper(named.ODS)
	p := auth.From(ctx)
	if p == nil || p.OrgODS == "" {
		if named.ODS == "" {
			return named, fhir.Missing("the dispensing organisation (its ODS code) is missing")
		}
		return named, nil
	}
	org := strings.ToUpper(p.OrgODS)
	if named.ODS != "" && named.ODS != org {
		return named, auth.Forbidden("the message names organisation %s but the selected role belongs to %s", named.ODS, org)
	}
	named.ODS = org
	if named.Role == "" {
		named.Role = p.RoleProfileID
	}
	if named.User == "" {
		named.User = p.UserID
	}
	return named, nil
}
