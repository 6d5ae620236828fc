package eps

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/nhsnumber"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/trace"
)

// ExtStatusEvent is OpenSpine's extension carrying a prescription's history on a tracking Task.
const ExtStatusEvent = "https://fhir.openspine.org/StructureDefinition/Extension-EPS-StatusHistory"

// maxTracked bounds the prescriptions returned by one tracking search.
const maxTracked = 100

// mayTrack says whether the caller may see a prescription: the patient it
// is for, the prescribing organisation, its nominated pharmacy and any
// pharmacy that has held it (anyone, without authentication).
func mayTrack(ctx context.Context, p *prescription) bool {
	pr := auth.From(ctx)
	switch {
	case pr == nil:
		return true
	case pr.IsPatient():
		return pr.NHSNumber == p.Patient
	case pr.IsUser():
		org := strings.ToUpper(pr.OrgODS)
		if org == strings.ToUpper(p.Prescriber.ODS) || org == p.Nominated {
			return true
		}
		for _, ods := range p.dispensers() {
			if ods == org {
				return true
			}
		}
		return false
	}
	return pr.Mode == auth.ModeApplication
}

// loadAnyID loads a prescription by its long-form (UUID) or short-form id;
// invalid is the answer to an id of neither form.
func (s *Service) loadAnyID(ctx context.Context, id string, invalid error) (*prescription, error) {
	switch {
	case trace.ValidUUID(id):
		return s.load(ctx, strings.ToLower(id))
	case ShortFormProblem(id) == "check":
		return nil, epsError(CodeInvalidCheckDigit, "the check character of prescription id %s is wrong", id)
	case ShortFormProblem(id) == "":
		return s.loadShort(ctx, id)
	}
	return nil, invalid
}

// handleTrackOne returns the tracking Task of one prescription by its
// long-form id (or short-form id).
func (s *Service) handleTrackOne(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		if err := checkHeaders(r); err != nil {
			return err
		}
		id := r.PathValue("id")
		p, err := s.loadAnyID(r.Context(), id, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidResourceID, "%q is not a prescription id", id))
		if errors.Is(err, errNoPrescription) || (err == nil && !mayTrack(r.Context(), p)) {
			return fhir.NewError(http.StatusNotFound, fhir.CodeResourceNotFound, "prescription %s was not found", id)
		}
		if err != nil {
			return err
		}
		audit.Patients(r.Context(), p.Patient)
		fhir.WriteResource(w, http.StatusOK, p.task())
		return nil
	}()
	if err != nil {
		writeError(w, r, err)
	}
}

// handleTrack searches tracking Tasks: by prescription id
// (focus:identifier, identifier or group-identifier: short- or long-form)
// or by patient (patient:identifier or patient, an NHS number), optionally
// with business-status.
func (s *Service) handleTrack(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		if err := checkHeaders(r); err != nil {
			return err
		}
		q := r.URL.Query()
		var id, nhs, status string
		for k, vs := range q {
			if len(vs) != 1 {
				return fhir.InvalidSearch("%s may be given once", k)
			}
			v := vs[0]
			if i := strings.LastIndexByte(v, '|'); i >= 0 {
				v = v[i+1:]
			}
			switch k {
			case "focus:identifier", "identifier", "group-identifier":
				// A check character '+' sent unescaped arrives as a space.
				id = strings.ReplaceAll(v, " ", "+")
			case "patient:identifier", "patient", "for:identifier", "for":
				nhs = v
			case "business-status":
				status = v
			case "_format":
			default:
				return fhir.InvalidSearch("unknown search parameter %q: use focus:identifier, patient:identifier or business-status", k)
			}
		}
		var ps []*prescription
		switch {
		case id != "":
			p, err := s.loadAnyID(r.Context(), id, fhir.InvalidSearch("%q is not a prescription id", id))
			if err != nil && !errors.Is(err, errNoPrescription) {
				return err
			}
			if p != nil && (nhs == "" || p.Patient == nhs) {
				ps = append(ps, p)
			}
		case nhs != "":
			if !nhsnumber.Valid(nhs) {
				return fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidResourceID, "%q is not a valid NHS number", nhs)
			}
			if pr := auth.From(r.Context()); pr.IsPatient() && pr.NHSNumber != nhs {
				return auth.Forbidden("patients can only track their own prescriptions")
			}
			sq, err := search.Parse(s.eng, prescriptionType, url.Values{"patient": {nhs}}, false)
			if err != nil {
				return err
			}
			refs, err := s.store.Search(r.Context(), sq, maxTracked)
			if err != nil {
				return err
			}
			recs, err := s.store.Fetch(r.Context(), refs)
			if err != nil {
				return err
			}
			for _, rec := range recs {
				p, err := decodePrescription(rec)
				if err != nil {
					return err
				}
				ps = append(ps, p)
			}
		default:
			return fhir.InvalidSearch("search by prescription id (focus:identifier) or by patient (patient:identifier)")
		}
		var entries []any
		for _, p := range ps {
			if !mayTrack(r.Context(), p) || (status != "" && p.current().Status != status) {
				continue
			}
			audit.Patients(r.Context(), p.Patient)
			entries = append(entries, map[string]any{"fullUrl": s.eng.BaseURL(r) + "/Task/" + p.ID, "resource": p.task(),
				"search": map[string]any{"mode": "match"}})
		}
		b := map[string]any{"resourceType": "Bundle", "type": "searchset", "total": len(entries),
			"timestamp": time.Now().UTC().Format(time.RFC3339)}
		if len(entries) > 0 {
			b["entry"] = entries
		}
		fhir.WriteResource(w, http.StatusOK, b)
		return nil
	}()
	if err != nil {
		writeError(w, r, err)
	}
}

var taskStatus = map[string]string{
	StatusAwaitingRelease: "requested", StatusToBeDispensed: "requested", StatusWithDispenser: "accepted",
	StatusWithDispenserActive: "in-progress", StatusExpired: "failed", StatusCancelled: "cancelled",
	StatusDispensed: "completed", StatusNotDispensed: "completed", StatusClaimed: "completed", StatusNoClaimed: "completed",
	StatusRepeatFuture: "draft", StatusFuture: "draft", StatusCancelledFuture: "cancelled",
}

func businessStatus(code string) map[string]any {
	return map[string]any{"coding": []any{map[string]any{"system": SystemBusinessStatus, "code": code, "display": statusDisplay[code]}}}
}

func ts(t time.Time) string { return t.UTC().Format(fhir.InstantFormat) }

// task renders a prescription for tracking: a Task whose businessStatus
// is the current issue's status, with every line item (input) and issue
// (output), and the history.
func (p *prescription) task() map[string]any {
	cur := p.current()
	t := map[string]any{
		"resourceType":    "Task",
		"id":              p.ID,
		"identifier":      []any{map[string]any{"system": SystemLongForm, "value": p.ID}},
		"groupIdentifier": map[string]any{"system": SystemShortForm, "value": p.ShortForm},
		"status":          taskStatus[cur.Status],
		"businessStatus":  businessStatus(cur.Status),
		"intent":          "order",
		"focus":           map[string]any{"type": "Bundle", "identifier": map[string]any{"system": SystemUUID, "value": p.OrderMessage}},
		"for":             map[string]any{"identifier": map[string]any{"system": SystemNHSNumber, "value": p.Patient}},
		"authoredOn":      ts(p.Authored),
		"requester": map[string]any{"identifier": map[string]any{"system": SystemRole, "value": p.Prescriber.Role},
			"display": orDash(p.Prescriber.Name) + " (" + p.Prescriber.ODS + ")"},
		"code": map[string]any{"coding": []any{map[string]any{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}}},
	}
	if len(p.History) > 0 {
		t["lastModified"] = ts(p.History[len(p.History)-1].At)
	}
	if cur.Dispenser != nil {
		t["owner"] = map[string]any{"identifier": map[string]any{"system": SystemODS, "value": cur.Dispenser.ODS}}
	} else if p.Nominated != "" {
		t["performerType"] = []any{map[string]any{"coding": []any{map[string]any{"system": SystemSiteType, "code": p.SiteType}}}}
		t["owner"] = map[string]any{"identifier": map[string]any{"system": SystemODS, "value": p.Nominated}}
	}
	var inputs []any
	for i, it := range p.Items {
		in := map[string]any{
			"type":           map[string]any{"coding": []any{map[string]any{"system": SystemSNOMED, "code": it.Code, "display": it.Display}}},
			"valueReference": map[string]any{"type": "MedicationRequest", "identifier": map[string]any{"system": SystemItem, "value": it.ID}},
		}
		if i < len(cur.Items) {
			st := cur.Items[i]
			exts := []any{map[string]any{"url": "dispenseStatus", "valueCoding": map[string]any{"system": SystemItemStatus, "code": st.Status, "display": itemDisplay[st.Status]}}}
			if st.CancelPending != nil {
				exts = append(exts, map[string]any{"url": "pendingCancellation", "valueBoolean": true})
			}
			in["extension"] = []any{map[string]any{"url": "https://fhir.nhs.uk/StructureDefinition/Extension-EPS-DispensingInformation", "extension": exts}}
		}
		inputs = append(inputs, in)
	}
	t["input"] = inputs
	var outputs []any
	for _, is := range p.Issues {
		o := map[string]any{
			"type":        map[string]any{"coding": []any{map[string]any{"system": SystemBusinessStatus, "code": is.Status, "display": statusDisplay[is.Status]}}},
			"valueString": "issue " + strconv.Itoa(is.Number) + " of " + strconv.Itoa(len(p.Issues)),
			"extension": []any{map[string]any{"url": ExtRepeatInfo, "extension": []any{
				map[string]any{"url": "numberOfRepeatsAllowed", "valueUnsignedInt": len(p.Issues)},
				map[string]any{"url": "numberOfRepeatsIssued", "valueUnsignedInt": is.Number},
			}}},
		}
		if is.Dispenser != nil {
			o["valueString"] = o["valueString"].(string) + ", dispenser " + is.Dispenser.ODS
		}
		outputs = append(outputs, o)
	}
	t["output"] = outputs
	var hist []any
	for _, ev := range p.History {
		e := []any{map[string]any{"url": "event", "valueCode": ev.Event}, map[string]any{"url": "statusDate", "valueDateTime": ts(ev.At)}}
		if ev.Status != "" {
			e = append(e, map[string]any{"url": "status", "valueCoding": map[string]any{"system": SystemBusinessStatus, "code": ev.Status, "display": statusDisplay[ev.Status]}})
		}
		if ev.Issue > 0 {
			e = append(e, map[string]any{"url": "issue", "valueUnsignedInt": ev.Issue})
		}
		if ev.Org != "" {
			e = append(e, map[string]any{"url": "organization", "valueIdentifier": map[string]any{"system": SystemODS, "value": ev.Org}})
		}
		if ev.Outcome != "" {
			e = append(e, map[string]any{"url": "outcome", "valueCoding": map[string]any{"system": SystemStatusHistory, "code": ev.Outcome, "display": cancelDisplay[ev.Outcome]}})
		}
		if ev.Item != "" {
			e = append(e, map[string]any{"url": "item", "valueIdentifier": map[string]any{"system": SystemItem, "value": ev.Item}})
		}
		if ev.Message != "" {
			e = append(e, map[string]any{"url": "message", "valueIdentifier": map[string]any{"system": SystemUUID, "value": ev.Message}})
		}
		if ev.Replaces != "" {
			e = append(e, map[string]any{"url": "replacementOf", "valueIdentifier": map[string]any{"system": SystemUUID, "value": ev.Replaces}})
		}
		hist = append(hist, map[string]any{"url": ExtStatusEvent, "extension": e})
	}
	t["extension"] = hist
	return t
}
