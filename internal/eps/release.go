package eps

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/trace"
)

// param returns the Parameters.parameter named name.
func param(doc map[string]any, name string) map[string]any {
	for _, p := range arr(doc, "parameter") {
		if m, ok := p.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	return nil
}

// handleRelease downloads prescriptions for the calling pharmacy: one by
// its short-form id (group-identifier), or up to MaxRelease of those
// nominated to it.
func (s *Service) handleRelease(w http.ResponseWriter, r *http.Request) {
	rq := s.begin(w, r)
	if rq == nil {
		return
	}
	if err := s.release(rq); err != nil {
		s.refuse(rq, err)
	}
}

func (s *Service) release(rq *request) error {
	doc := rq.doc
	if str(doc, "resourceType") != "Parameters" {
		return fhir.Invalid("a Parameters resource was expected").At("resourceType")
	}
	if st := str(param(doc, "status"), "valueCode"); st != "accepted" {
		return fhir.Invalid("parameter status must be accepted, not %q", st).At("Parameters.parameter.where(name='status')")
	}
	owner := param(doc, "owner")
	var d party
	if org := obj(owner, "resource"); org != nil {
		d.ODS = identifier(org["identifier"], SystemODS)
		d.Name = str(org, "name")
		if tel := arr(org, "telecom"); len(tel) > 0 {
			d.Tel = str(tel[0], "value")
		}
	} else {
		d.ODS = identifier(owner["valueIdentifier"], SystemODS)
	}
	if agent := obj(param(doc, "agent"), "resource"); agent != nil {
		d.Role = identifier(agent["identifier"], SystemRole)
		d.User = identifier(obj(agent, "practitioner")["identifier"], SystemUser)
	}
	d, err := dispenser(rq.ctx(), d)
	if err != nil {
		return err
	}
	d.ODS = strings.ToUpper(d.ODS)
	if gi := param(doc, "group-identifier"); gi != nil {
		short := identifier(gi["valueIdentifier"], SystemShortForm)
		if err := checkShortForm(short, "Parameters.parameter.where(name='group-identifier')"); err != nil {
			return err
		}
		return s.releaseOne(rq, short, d)
	}
	return s.releaseNominated(rq, d)
}

func (s *Service) releaseOne(rq *request, short string, d party) error {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if done, err := s.replayed(rq, attempt); err != nil || done {
			return err
		}
		now := s.now()
		p, err := s.loadFor(rq, short, "", "")
		if err != nil {
			return err
		}
		releaseID := trace.NewUUID()
		is := p.current()
		if err := is.release(d, releaseID, now); err != nil {
			return err
		}
		p.record(event{At: now, Event: evReleased, Issue: is.Number, Status: is.Status, Items: is.itemStatuses(), Org: d.ODS, Role: d.Role, Message: releaseID})
		resp, err := s.releaseResponse(rq.ctx(), releaseID, now, []*prescription{p})
		if err != nil {
			return err
		}
		err = s.commit(rq, []store.Change{p.change()}, http.StatusOK, resp)
		if errors.Is(err, errConflict) {
			continue
		}
		return err
	}
	return busy()
}

func (s *Service) releaseNominated(rq *request, d party) error {
	ctx := rq.ctx()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if done, err := s.replayed(rq, attempt); err != nil || done {
			return err
		}
		now := s.now()
		q, err := search.Parse(s.eng, prescriptionType, url.Values{
			"nominated": {d.ODS}, "available": {"le" + now.Format("2006-01-02T15:04:05Z")},
		}, false)
		if err != nil {
			return err
		}
		refs, err := s.store.Search(ctx, q, s.MaxRelease)
		if err != nil {
			return err
		}
		if len(refs) == 0 {
			return s.commit(rq, nil, http.StatusOK, noMorePrescriptions())
		}
		for i := range refs {
			refs[i].Version = 0 // the current: one released since the search is skipped below
		}
		recs, err := s.fetch(ctx, refs)
		if err != nil {
			return err
		}
		releaseID := trace.NewUUID()
		var released []*prescription
		var changes []store.Change
		for _, p := range recs {
			is := p.current()
			if p.Nominated != d.ODS || is.release(d, releaseID, now) != nil {
				continue // changed since the search; the next request sees the truth
			}
			audit.Patients(ctx, p.Patient)
			p.record(event{At: now, Event: evReleased, Issue: is.Number, Status: is.Status, Items: is.itemStatuses(), Org: d.ODS, Role: d.Role, Message: releaseID})
			released = append(released, p)
			changes = append(changes, p.change())
		}
		if len(released) == 0 {
			continue
		}
		resp, err := s.releaseResponse(ctx, releaseID, now, released)
		if err != nil {
			return err
		}
		err = s.commit(rq, changes, http.StatusOK, resp)
		if errors.Is(err, errConflict) {
			continue
		}
		return err
	}
	return busy()
}

// fetch reads the prescriptions refs name (Version 0: the current ones) in
// one store read.
func (s *Service) fetch(ctx context.Context, refs []store.Ref) ([]*prescription, error) {
	recs, err := s.store.Fetch(ctx, refs)
	if err != nil {
		return nil, err
	}
	out := make([]*prescription, 0, len(recs))
	for _, rec := range recs {
		if rec.Deleted {
			continue
		}
		p, err := decodePrescription(rec)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func noMorePrescriptions() map[string]any {
	_, oo := outcome(epsError(CodeNoMorePrescriptions, "no more prescriptions are waiting for this pharmacy"))
	return oo
}

// releaseResponse is the contract's answer to a release: Parameters with
// passedPrescriptions (a searchset Bundle of prescription-order Bundles)
// and failedPrescriptions.
func (s *Service) releaseResponse(ctx context.Context, releaseID string, now time.Time, ps []*prescription) (map[string]any, error) {
	ts := now.Format(fhir.InstantFormat)
	orders, err := s.ordersOf(ctx, ps)
	if err != nil {
		return nil, err
	}
	var entries []any
	for i, p := range ps {
		doc, err := p.released(orders[i], releaseID, ts)
		if err != nil {
			return nil, err
		}
		entries = append(entries, map[string]any{"fullUrl": "urn:uuid:" + p.ID, "resource": doc})
	}
	passed := map[string]any{"resourceType": "Bundle", "id": releaseID, "meta": map[string]any{"lastUpdated": ts},
		"identifier": map[string]any{"system": SystemUUID, "value": releaseID}, "type": "searchset", "total": len(entries)}
	if len(entries) > 0 {
		passed["entry"] = entries
	}
	failedID := trace.NewUUID()
	failed := map[string]any{"resourceType": "Bundle", "id": failedID, "meta": map[string]any{"lastUpdated": ts},
		"identifier": map[string]any{"system": SystemUUID, "value": failedID}, "type": "searchset", "total": 0}
	return map[string]any{"resourceType": "Parameters", "parameter": []any{
		map[string]any{"name": "passedPrescriptions", "resource": passed},
		map[string]any{"name": "failedPrescriptions", "resource": failed},
	}}, nil
}

// released is the signed order as a dispenser receives it: the
// MessageHeader answers the release and, for repeat dispensing, says which
// issue this is (Extension-EPS-RepeatInformation). The signed content
// (the MedicationRequests) is unchanged, so the signature still verifies.
func (p *prescription) released(order []byte, releaseID, ts string) (map[string]any, error) {
	// checked when it was received: decoded as stored data
	doc, err := fhir.DecodeStored(order)
	if err != nil {
		return nil, fmt.Errorf("the order of prescription %s: %w", p.ID, err)
	}
	doc["meta"] = map[string]any{"lastUpdated": ts}
	entries := arr(doc, "entry")
	if len(entries) > 0 {
		if h := obj(entries[0], "resource"); h != nil {
			h["response"] = map[string]any{"identifier": releaseID, "code": "ok"}
			if is := p.holding(); is != nil {
				var exts []any
				for _, e := range arr(h, "extension") {
					if str(e, "url") != ExtRepeatInfo {
						exts = append(exts, e)
					}
				}
				h["extension"] = append(exts, map[string]any{"url": ExtRepeatInfo, "extension": []any{
					map[string]any{"url": "numberOfRepeatsAllowed", "valueUnsignedInt": len(p.Issues)},
					map[string]any{"url": "numberOfRepeatsIssued", "valueUnsignedInt": is.Number},
				}})
			}
		}
	}
	return doc, nil
}
