package pds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/openspine/openspine/internal/engine"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/nhsnumber"
	"github.com/openspine/openspine/internal/population"
	"github.com/openspine/openspine/internal/store"
)

// relatedType holds, under a patient's NHS number, the people PDS holds
// as related to them: an internal record ({"resourceType": relatedType,
// "id": NHS number, "relatedPerson": [RelatedPerson...]}), read whole and
// never searched, written once (by `spine seed` or a load); the API has
// no route that changes it.
const relatedType = "_RelatedPeople"

// maxRelated bounds the related people one patient's record may hold.
const maxRelated = 100

// RelatedPeople is the record that stores the related people of the
// patient with NHS number nhs, for Load. Each must be a RelatedPerson with
// an id and a patient identifier (the subject's or, for a related person
// given by reference, their own NHS number).
func RelatedPeople(nhs string, people []fhir.Resource) fhir.Resource {
	list := make([]any, len(people))
	for i, p := range people {
		list[i] = map[string]any(p)
	}
	return fhir.Resource{"resourceType": relatedType, "id": nhs, "relatedPerson": list}
}

// SeedRelated is the related-people record of a generated patient, nil
// when they have none or are a superseded record (a read of those goes to
// the surviving record, whose related people are its own).
func SeedRelated(p population.Patient) fhir.Resource {
	if len(p.Related) == 0 || p.SupersededBy != "" {
		return nil
	}
	people := make([]fhir.Resource, len(p.Related))
	for i, rp := range p.Related {
		people[i] = rp.FHIR(p.NHSNumber)
	}
	return RelatedPeople(p.NHSNumber, people)
}

// relatedChange checks a related-people record and makes its write.
func relatedChange(res fhir.Resource) (store.Change, error) {
	id, _ := res["id"].(string)
	if !nhsnumber.Valid(id) {
		return store.Change{}, fmt.Errorf("related people: %q is not a valid NHS number", id)
	}
	list, _ := res["relatedPerson"].([]any)
	if len(list) == 0 || len(list) > maxRelated {
		return store.Change{}, fmt.Errorf("related people of %s: %d given, 1 to %d allowed", id, len(list), maxRelated)
	}
	seen := map[string]bool{}
	for _, v := range list {
		rp, _ := v.(map[string]any)
		rid, _ := rp["id"].(string)
		if rp["resourceType"] != "RelatedPerson" || rid == "" || seen[rid] {
			return store.Change{}, fmt.Errorf("related people of %s: each must be a RelatedPerson with an id of its own", id)
		}
		seen[rid] = true
		pat, _ := rp["patient"].(map[string]any)
		ident, _ := pat["identifier"].(map[string]any)
		if v, _ := ident["value"].(string); ident["system"] != SystemNHSNumber || !nhsnumber.Valid(v) {
			return store.Change{}, fmt.Errorf("related people of %s: RelatedPerson %s has no patient NHS number", id, rid)
		}
		rel, _ := rp["relationship"].([]any)
		if len(rel) != 1 {
			return store.Change{}, fmt.Errorf("related people of %s: RelatedPerson %s needs one relationship", id, rid)
		}
	}
	body := fhir.Marshal(res)
	return store.Change{Op: store.Create, Type: relatedType, ID: id, Unversioned: true,
		Render: func(int64, time.Time) ([]byte, error) { return body, nil }}, nil
}

// handleRelated serves GET /Patient/{id}/RelatedPerson: the patient's
// related people in a searchset Bundle. A superseded number answers with
// the surviving record's; a restricted patient's (but to the patient
// themself), and a patient's without any, is an empty Bundle (the
// contract's rule for restricted patients, and its sandbox's answer for
// none).
func (s *Service) handleRelated(w http.ResponseWriter, r *http.Request) {
	rec, head, err := s.readAccess(r)
	var people []any
	if err == nil && (head.security() != "R" || isSelf(r.Context(), rec.ID)) {
		people, err = s.relatedPeople(r.Context(), rec.ID)
	}
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	base := s.eng.BaseURL(r)
	entries := make([]engine.Entry, 0, len(people))
	for _, v := range people {
		rp, _ := v.(map[string]any)
		rid, _ := rp["id"].(string)
		if pat, ok := rp["patient"].(map[string]any); ok {
			ident, _ := pat["identifier"].(map[string]any)
			if nhs, _ := ident["value"].(string); nhs != "" {
				pat["reference"] = base + "/Patient/" + nhs
			}
		}
		entries = append(entries, engine.Entry{FullURL: base + "/Patient/" + rec.ID + "/RelatedPerson/" + rid, Resource: fhir.Marshal(rp)})
	}
	fhir.Write(w, http.StatusOK, engine.BundleJSON("searchset", len(entries), nil, entries))
}

// relatedPeople reads the related people stored for NHS number nhs (none:
// an empty list).
func (s *Service) relatedPeople(ctx context.Context, nhs string) ([]any, error) {
	rec, err := s.store.Read(ctx, relatedType, nhs)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.Deleted) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var stored struct {
		RelatedPerson []any `json:"relatedPerson"`
	}
	if err := json.Unmarshal(rec.Body, &stored); err != nil {
		return nil, fmt.Errorf("stored related people of %s: %w", nhs, err)
	}
	return stored.RelatedPerson, nil
}
