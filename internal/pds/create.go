package pds

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/idempotency"
	"github.com/openspine/openspine/internal/matching"
	"github.com/openspine/openspine/internal/nhsnumber"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/trace"
)

// createMatchThreshold: a registration whose details score at least this
// against an existing patient is answered with the match, not created.
const createMatchThreshold = 0.9

// allocationSequence names the durable counter of allocated NHS numbers.
const allocationSequence = "pds.nhs-number"

// allocate reserves the next NHS number of the allocation range. The
// counter is committed before the number is used, so a number is never
// handed out twice, even across a crash (a crash can only skip one).
func (s *Service) allocate(ctx context.Context) (string, error) {
	for tries := 0; tries < 100; tries++ {
		n, err := s.store.NextSequence(ctx, allocationSequence, 1)
		if err != nil {
			return "", err
		}
		prefix := s.Allocation.Low + uint64(n) - 1
		if prefix > s.Allocation.High {
			return "", fhir.NewError(http.StatusServiceUnavailable, fhir.CodeServiceUnavailable, "the NHS number allocation range is exhausted")
		}
		if nhs, ok := nhsnumber.FromNine(fmt.Sprintf("%09d", prefix)); ok {
			return nhs, nil
		}
	}
	return "", errors.New("no valid NHS number in 100 consecutive prefixes")
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := checkHeaders(r); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	v, key, handled := s.readWrite(w, r, "application/fhir+json", "application/json")
	if handled {
		return
	}
	req, ok := v.(map[string]any)
	if !ok {
		fhir.WriteError(w, r, fhir.Invalid("the body must be a Patient object"))
		return
	}
	if rt, present := req["resourceType"]; present && rt != "Patient" {
		fhir.WriteError(w, r, fhir.Invalid("resourceType must be Patient"))
		return
	}
	for _, k := range []string{"id", "identifier", "meta"} {
		if _, present := req[k]; present {
			fhir.WriteError(w, r, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidValue, "Invalid value - '%s' may not be supplied: the NHS number is allocated by PDS", k))
			return
		}
	}
	for _, k := range []string{"name", "gender", "birthDate"} {
		if _, present := req[k]; !present {
			fhir.WriteError(w, r, fhir.NewError(http.StatusBadRequest, fhir.CodeMissingValue, "Missing value - '%s'", k).At("Patient."+k))
			return
		}
	}
	req["resourceType"] = "Patient"
	// Give list items ids, as PDS does.
	for _, list := range []string{"name", "address", "telecom"} {
		for _, item := range search.Walk(req, list) {
			if m, ok := item.(map[string]any); ok && m["id"] == nil {
				m["id"] = trace.NewUUID()[:8]
			}
		}
	}
	req["identifier"] = []any{map[string]any{"system": SystemNHSNumber, "value": "9000000009"}} // placeholder for validation
	if re := validatePatient(req, "9000000009"); re != nil {
		fhir.WriteError(w, r, re.Err)
		return
	}
	// Is the person already registered?
	p := person(req)
	mq := matching.Query{Family: p.Name.Family, Given: p.Name.Given, Gender: p.Gender, BirthDate: p.BirthDate, Postcode: p.Postcode}
	matches, err := s.candidates(ctx, mq)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	if len(matches) > 0 {
		code, text := CodeSingleMatch, "a single patient already matches these details; nothing was created"
		if len(matches) > 1 {
			code, text = CodeMultipleMatches, strconv.Itoa(len(matches))+" patients already match these details; nothing was created"
		}
		oo := &fhir.Error{Status: http.StatusOK, Code: code, IssueType: "multiple-matches", Severity: "information", Diagnostics: text}
		outcome := fhir.Marshal(oo.Outcome())
		_, replayedNow, err := s.applyOnce(w, r, key, nil, &idempotency.Answer{Status: http.StatusOK, Body: outcome})
		if replayedNow {
			return
		}
		if err != nil {
			fhir.WriteError(w, r, err)
			return
		}
		fhir.Write(w, http.StatusOK, outcome)
		return
	}
	for attempt := 0; attempt < 20; attempt++ {
		nhs, err := s.allocate(ctx)
		if err != nil {
			fhir.WriteError(w, r, err)
			return
		}
		res := fhir.Clone(map[string]any(req)).(map[string]any)
		res["identifier"] = []any{map[string]any{"system": SystemNHSNumber, "value": nhs}}
		res["meta"] = map[string]any{"security": []any{map[string]any{"system": SystemConfidentiality, "code": "U", "display": "unrestricted"}}}
		audit.Patients(ctx, nhs)
		c, err := s.eng.Prepare("Patient", nhs, res)
		if err != nil {
			fhir.WriteError(w, r, err)
			return
		}
		c.Op = store.Create
		out, replayedNow, err := s.applyOnce(w, r, key, []store.Change{c}, &idempotency.Answer{Status: http.StatusCreated, ID: nhs})
		if replayedNow {
			return
		}
		var ce *store.ChangeError
		if errors.As(err, &ce) && ce.Index == 0 && errors.Is(ce.Err, store.ErrExists) {
			continue // the number is taken (e.g. by seeded data): take the next
		}
		if err != nil {
			fhir.WriteError(w, r, s.eng.StoreError(err))
			return
		}
		final, err := fhir.DecodeStored(out[0].Body)
		if err != nil {
			fhir.WriteError(w, r, err)
			return
		}
		w.Header().Set("Location", s.eng.BaseURL(r)+"/Patient/"+nhs)
		writePatient(w, r, http.StatusCreated, out[0].Record, final)
		return
	}
	fhir.WriteError(w, r, fhir.NewError(http.StatusServiceUnavailable, fhir.CodeServiceUnavailable, "could not allocate a free NHS number"))
}

// candidates returns the existing patients matching mq above the creation threshold.
func (s *Service) candidates(ctx context.Context, mq matching.Query) ([]Match, error) {
	q := &Query{Family: mq.Family, Given: mq.Given, Gender: mq.Gender, Postcode: mq.Postcode, Fuzzy: true, MaxResults: 50}
	if mq.BirthDate != "" {
		q.BirthDate = []dateCond{{"eq", mq.BirthDate}}
	}
	res, err := s.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	var out []Match
	for _, m := range res.Matches {
		if m.Score >= createMatchThreshold {
			out = append(out, m)
		}
	}
	if res.TooMany {
		return make([]Match, 2), nil
	}
	return out, nil
}
