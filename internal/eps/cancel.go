package eps

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/trace"
)

// processCancel applies a prescription-order-update: each MedicationRequest
// names a line item to cancel (all of them: the whole prescription). The
// answer is the contract's prescription-order-response Bundle with an
// outcome (R-xxxx) per item; 400 when an item was not cancelled.
func (s *Service) processCancel(rq *request, b *bundle) error {
	ctx := rq.ctx()
	o, err := parseOrder(b, true)
	if err != nil {
		return err
	}
	audit.Patients(ctx, o.NHS)
	if err := s.checkPrescriberIsCaller(ctx, o); err != nil {
		return err
	}
	if _, err := s.prescriber(ctx, o); err != nil {
		return err
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if done, err := s.replayed(rq, attempt); err != nil || done {
			return err
		}
		now := s.now()
		p, err := s.loadShort(ctx, o.ShortForm)
		if errors.Is(err, errNoPrescription) || (err == nil && ((o.LongForm != "" && p.ID != o.LongForm) || p.Patient != o.NHS)) {
			return s.commit(rq, nil, http.StatusBadRequest, cancelNotFound(o))
		}
		if err != nil {
			return err
		}
		if !strings.EqualFold(p.Prescriber.ODS, o.Prescriber.ODS) {
			return auth.Forbidden("only the prescribing organisation (%s) may cancel this prescription", p.Prescriber.ODS)
		}
		outcomes := make([]string, len(o.Items))
		changed := false
		for k, it := range o.Items {
			cur := p.current()
			i := cur.item(it.ID)
			if i < 0 {
				outcomes[k] = CancelNotFound
				continue
			}
			before := cur.Items[i]
			outcomes[k] = cur.cancelItem(i, o.Prescriber, o.Reasons[k], now)
			if cur.Items[i].Status != before.Status || (cur.Items[i].CancelPending != nil) != (before.CancelPending != nil) {
				changed = true
			}
			// Later issues of a repeat dispensing prescription are cancelled outright.
			for n := cur.Number; n < len(p.Issues); n++ {
				if future(p.Issues[n].Status) && p.Issues[n].cancelItem(i, o.Prescriber, o.Reasons[k], now) == CancelDone {
					changed = true
				}
			}
			p.record(event{At: now, Event: evCancel, Issue: cur.Number, Status: cur.Status, Items: cur.itemStatuses(),
				Org: o.Prescriber.ODS, Role: o.Prescriber.Role, Message: b.id, Outcome: outcomes[k], Reason: o.Reasons[k], Item: it.ID})
		}
		status := http.StatusOK
		for _, oc := range outcomes {
			if oc != CancelDone && oc != CancelMarked && oc != CancelMarkedActive {
				status = http.StatusBadRequest
			}
		}
		var changes []store.Change
		if changed || status == http.StatusOK {
			changes = append(changes, p.change())
		}
		err = s.commit(rq, changes, status, cancelResponse(b, o, outcomes, now))
		if errors.Is(err, errConflict) {
			continue
		}
		return err
	}
	return busy()
}

func busy() error {
	return fhir.NewError(http.StatusServiceUnavailable, fhir.CodeServiceUnavailable, "the prescription is changing too often to apply this message; retry it")
}

// cancelNotFound is the contract's answer when the prescription is unknown.
func cancelNotFound(o *order) map[string]any {
	return map[string]any{"resourceType": "OperationOutcome", "issue": []any{map[string]any{
		"severity": "error", "code": "not-found",
		"details": map[string]any{"coding": []any{map[string]any{
			"system": SystemStatusHistory, "code": CancelNotFound, "display": cancelDisplay[CancelNotFound]}}},
		"diagnostics": "prescription " + o.ShortForm + " was not found",
	}}}
}

var cancelRequestStatus = map[string]string{
	CancelDone: "cancelled", CancelMarked: "active", CancelMarkedActive: "active", CancelDispensed: "completed",
	CancelExpired: "stopped", CancelAlready: "cancelled", CancelOtherPrescribe: "unknown", CancelNotFound: "unknown",
	CancelNotDispensed: "stopped", CancelUnable: "unknown",
}

// cancelResponse is the prescription-order-response Bundle: the
// MessageHeader, the request's Patient and prescriber resources and one
// MedicationRequest per item with its outcome in the status history
// extension.
func cancelResponse(b *bundle, o *order, outcomes []string, now time.Time) map[string]any {
	when := now.Format(signatureTime)
	respCode := "ok"
	for _, oc := range outcomes {
		if cancelRequestStatus[oc] != "cancelled" && cancelRequestStatus[oc] != "active" {
			respCode = "fatal-error"
		}
	}
	var entries, focus []any
	for _, e := range b.entries[1:] {
		if e.typ == "MedicationRequest" || e.typ == "Provenance" {
			continue
		}
		entries = append(entries, map[string]any{"fullUrl": e.fullURL, "resource": e.res})
	}
	for k, mr := range o.MRs {
		c := fhir.Clone(mr).(map[string]any)
		c["status"] = cancelRequestStatus[outcomes[k]]
		exts, _ := c["extension"].([]any)
		c["extension"] = append(exts, map[string]any{"url": ExtStatusHistory, "extension": []any{
			map[string]any{"url": "status", "valueCoding": map[string]any{"system": SystemStatusHistory, "code": outcomes[k], "display": cancelDisplay[outcomes[k]]}},
			map[string]any{"url": "statusDate", "valueDateTime": when},
		}})
		fu := "urn:uuid:" + trace.NewUUID()
		focus = append(focus, map[string]any{"reference": fu})
		entries = append(entries, map[string]any{"fullUrl": fu, "resource": c})
	}
	header := map[string]any{
		"resourceType": "MessageHeader",
		"eventCoding":  map[string]any{"system": SystemEvent, "code": "prescription-order-response", "display": "Prescription Order Response"},
		"sender":       map[string]any{"identifier": map[string]any{"system": SystemODS, "value": "X26"}, "display": "OpenSpine"},
		"source":       map[string]any{"name": "OpenSpine", "endpoint": Base + "/$process-message"},
		"destination": []any{map[string]any{"endpoint": Base, "receiver": map[string]any{
			"identifier": map[string]any{"system": SystemODS, "value": o.Prescriber.ODS}}}},
		"response": map[string]any{"identifier": b.id, "code": respCode},
		"focus":    focus,
	}
	id := trace.NewUUID()
	return map[string]any{"resourceType": "Bundle", "id": id, "type": "message", "timestamp": when,
		"identifier": map[string]any{"system": SystemUUID, "value": id},
		"entry":      append([]any{map[string]any{"fullUrl": "urn:uuid:" + trace.NewUUID(), "resource": header}}, entries...)}
}
