package eps

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/store"
)

// handleProcessMessage takes a message Bundle: a prescription order, a
// cancellation (order update) or a dispense notification.
func (s *Service) handleProcessMessage(w http.ResponseWriter, r *http.Request) {
	rq := s.begin(w, r)
	if rq == nil {
		return
	}
	if err := s.processMessage(rq); err != nil {
		s.refuse(rq, err)
	}
}

func (s *Service) processMessage(rq *request) error {
	b, err := parseBundle(rq.doc)
	if err != nil {
		return err
	}
	ev := b.event()
	var action string
	switch ev {
	case EventOrder:
		action = "prescribe"
	case EventOrderUpdate:
		action = "cancel"
	case EventDispense:
		action = "dispense"
	case "":
		return fhir.Missing("MessageHeader.eventCoding.code is missing").At("MessageHeader.eventCoding")
	default:
		return fhir.Invalid("message event %q is not supported by $process-message", ev).At("MessageHeader.eventCoding")
	}
	if err := checkAction(rq.ctx(), action); err != nil {
		return err
	}
	s.messageKey(rq, ev, b.id)
	switch ev {
	case EventOrder:
		return s.processOrder(rq, b)
	case EventOrderUpdate:
		return s.processCancel(rq, b)
	}
	return s.processDispense(rq, b)
}

// checkPrescriberIsCaller: when authenticated, the prescriber of a
// message is the signed-in user's selected role.
func (s *Service) checkPrescriberIsCaller(ctx context.Context, o *order) error {
	p := auth.From(ctx)
	if p == nil {
		return nil
	}
	if !p.IsUser() {
		return auth.Forbidden("prescribing needs a healthcare worker signed in with their role")
	}
	if p.RoleProfileID != "" && p.RoleProfileID != o.Prescriber.Role {
		return auth.Forbidden("the message's prescriber (role %s) is not the signed-in user's role", o.Prescriber.Role)
	}
	if p.OrgODS != "" && !strings.EqualFold(p.OrgODS, o.Prescriber.ODS) {
		return auth.Forbidden("the message's organisation %s is not the selected role's (%s)", o.Prescriber.ODS, p.OrgODS)
	}
	return nil
}

// patient looks the patient up in PDS.
func (s *Service) patient(ctx context.Context, nhs string) (*Patient, error) {
	pat, err := s.patients.Patient(ctx, nhs)
	if err != nil {
		return nil, err
	}
	if pat == nil {
		return nil, fhir.NewError(http.StatusBadRequest, fhir.CodeResourceNotFound, "patient %s was not found in PDS", nhs).At("Patient.identifier")
	}
	if pat.Deceased {
		return nil, epsError(CodePatientDeceased, "patient %s is recorded as dead", nhs)
	}
	return pat, nil
}

func (s *Service) processOrder(rq *request, b *bundle) error {
	ctx := rq.ctx()
	o, err := parseOrder(b, false)
	if err != nil {
		return err
	}
	audit.Patients(ctx, o.NHS)
	if err := s.checkPrescriberIsCaller(ctx, o); err != nil {
		return err
	}
	pat, err := s.patient(ctx, o.NHS)
	if err != nil {
		return err
	}
	pr, err := s.prescriber(ctx, o)
	if err != nil {
		return err
	}
	if err := s.checkSignature(o, pr); err != nil {
		return err
	}
	now := s.now()
	p, err := newPrescription(o, b, pat, now)
	if err != nil {
		return err
	}
	err = s.commit(rq, []store.Change{p.change(), shortFormChange(p.ShortForm, p.ID), orderChange(p.ID, rq.body)}, http.StatusOK, informational("Message Sent"))
	if rq.applied {
		// the pairing is stored: the release that follows need not read it
		s.shorts.put(p.ShortForm, p.ID)
	}
	switch {
	case errors.Is(err, errExists):
		return epsError(CodeDuplicatePrescriptionID, "prescription %s (%s) already exists", o.ShortForm, o.LongForm)
	case errors.Is(err, errConflict):
		return fhir.NewError(http.StatusConflict, fhir.CodeConflict, "the message was being processed concurrently; retry it")
	}
	return err
}

// validity is when an issue may be dispensed: from start until end (exclusive).
func validity(o *order, now time.Time) (start, first, rest time.Time) {
	start = o.ValidFrom
	if start.IsZero() {
		start = o.Authored
	}
	limit := start.AddDate(0, 6, 0)
	if o.Treatment == TreatmentRepeatDispensing {
		limit = start.AddDate(1, 0, 0)
	}
	end := o.ValidTo
	if end.IsZero() || end.After(limit) {
		end = limit
	}
	first, rest = end, end
	for _, it := range o.Items {
		switch it.Schedule {
		case "CD2", "CD3", "CD4-1", "CD4-2":
			// Controlled drugs of schedules 2 to 4: valid for 28 days (the
			// first issue of a repeat dispensing prescription).
			if cd := start.AddDate(0, 0, 28); cd.Before(first) {
				first = cd
			}
		}
	}
	if o.Treatment != TreatmentRepeatDispensing {
		rest = first
	}
	return start, first, rest
}

// newPrescription builds the record of a new prescription.
func newPrescription(o *order, b *bundle, pat *Patient, now time.Time) (*prescription, error) {
	start, first, rest := validity(o, now)
	if !first.After(now) {
		return nil, fhir.Invalid("the prescription's validity ended on %s", first.Format(time.RFC3339)).At(at(0, "dispenseRequest.validityPeriod"))
	}
	p := &prescription{ID: o.LongForm, ShortForm: o.ShortForm, OrderMessage: b.id, Patient: pat.NHSNumber,
		Prescriber: o.Prescriber, SiteType: o.SiteType, Treatment: o.Treatment, Authored: o.Authored,
		SupplyDays: o.SupplyDays, Items: o.Items}
	if p.Patient == "" {
		p.Patient = o.NHS
	}
	if when, ok := dateTime(str(o.Signature, "when")); ok {
		p.Signed = when
	}
	// The nomination comes from PDS; a prescription the prescriber
	// directed to no one (0004) is released only by its id.
	if o.SiteType != "0004" {
		p.Nominated = strings.ToUpper(pat.NominatedPharmacy)
	}
	for k := 1; k <= o.Issues; k++ {
		is := issue{Number: k, Status: StatusRepeatFuture, Expires: rest}
		if k == 1 {
			is.Status, is.Expires = StatusToBeDispensed, first
			if start.After(now) {
				is.NotBefore = start
			}
		}
		for _, it := range o.Items {
			is.Items = append(is.Items, itemState{ID: it.ID, Status: ItemToBeDispensed})
		}
		p.Issues = append(p.Issues, is)
	}
	p.record(event{At: now, Event: evCreated, Issue: 1, Status: StatusToBeDispensed, Org: o.Prescriber.ODS, Role: o.Prescriber.Role, Message: b.id})
	return p, nil
}
