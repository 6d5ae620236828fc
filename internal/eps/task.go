package eps

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/store"
)

// Reason code systems of dispenser Tasks.
const (
	SystemReturnReason   = "https://fhir.nhs.uk/CodeSystem/EPS-task-dispense-return-status-reason"
	SystemWithdrawReason = "https://fhir.nhs.uk/CodeSystem/EPS-task-dispense-withdraw-reason"
)

// handleTask takes a dispenser's Task: status rejected returns the
// prescription to the spine (it can be released again); status
// in-progress withdraws the last dispense notification.
func (s *Service) handleTask(w http.ResponseWriter, r *http.Request) {
	rq := s.begin(w, r)
	if rq == nil {
		return
	}
	if err := s.task(rq); err != nil {
		s.refuse(rq, err)
	}
}

// requesterOrg is the organisation of a resource's requester/provider
// (a reference to a contained PractitionerRole, whose organization may be
// a contained Organization or an identifier).
func requesterOrg(res map[string]any, ref map[string]any) party {
	var d party
	r := str(ref, "reference")
	var role map[string]any
	for _, c := range arr(res, "contained") {
		cm, _ := c.(map[string]any)
		if cm["resourceType"] == "PractitionerRole" && (r == "#"+str(cm, "id") || r == "") {
			role = cm
		}
	}
	if role == nil {
		d.ODS = identifier(obj(ref, "identifier"), SystemODS)
		return d
	}
	d.Role = identifier(role["identifier"], SystemRole)
	d.User = identifier(obj(role, "practitioner")["identifier"], SystemUser)
	org := obj(role, "organization")
	d.ODS = identifier(org["identifier"], SystemODS)
	if or := str(org, "reference"); or != "" {
		for _, c := range arr(res, "contained") {
			cm, _ := c.(map[string]any)
			if cm["resourceType"] == "Organization" && or == "#"+str(cm, "id") {
				d.ODS = identifier(cm["identifier"], SystemODS)
				d.Name = str(cm, "name")
				if tel := arr(cm, "telecom"); len(tel) > 0 {
					d.Tel = str(tel[0], "value")
				}
			}
		}
	}
	return d
}

func (s *Service) task(rq *request) error {
	t := rq.doc
	if str(t, "resourceType") != "Task" {
		return fhir.Invalid("a Task was expected").At("resourceType")
	}
	status := str(t, "status")
	var reasonSystem, kind string
	switch status {
	case "rejected":
		reasonSystem, kind = SystemReturnReason, "return"
	case "in-progress":
		reasonSystem, kind = SystemWithdrawReason, "withdraw"
	default:
		return fhir.Invalid("Task.status must be rejected (return) or in-progress (withdraw), not %q", status).At("Task.status")
	}
	gi := obj(t, "groupIdentifier")
	short := ""
	if gi["system"] == SystemShortForm {
		short = str(gi, "value")
	}
	if err := checkShortForm(short, "Task.groupIdentifier"); err != nil {
		return err
	}
	reason, _, _ := coding(t["statusReason"], reasonSystem)
	if reason == "" {
		return fhir.Missing("Task.statusReason (a code of %s) is missing", reasonSystem).At("Task.statusReason")
	}
	nhs := identifier(obj(t, "for")["identifier"], SystemNHSNumber)
	named := requesterOrg(t, obj(t, "requester"))
	if named.ODS == "" {
		named.ODS = identifier(obj(t, "owner")["identifier"], SystemODS)
	}
	named.ODS = strings.ToUpper(named.ODS)
	d, err := dispenser(rq.ctx(), named)
	if err != nil {
		return err
	}
	msgID := identifier(t["identifier"], SystemUUID)
	s.messageKey(rq, "task-"+kind, msgID)
	focus := identifier(obj(t, "focus")["identifier"], SystemUUID)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if done, err := s.replayed(rq, attempt); err != nil || done {
			return err
		}
		now := s.now()
		p, err := s.loadFor(rq, short, "", nhs)
		if err != nil {
			return err
		}
		is := p.holding()
		if kind == "return" {
			if err := is.giveBack(d); err != nil {
				return err
			}
			if is.Status == StatusCancelled {
				for n := is.Number; n < len(p.Issues); n++ {
					if future(p.Issues[n].Status) {
						p.Issues[n].Status = StatusCancelledFuture
					}
				}
			}
			p.record(event{At: now, Event: evReturned, Issue: is.Number, Status: is.Status, Items: is.itemStatuses(), Org: d.ODS, Role: d.Role, Message: msgID, Reason: reason})
		} else {
			is = p.lastDispensed()
			activated := len(is.Notifications) > 0 && is.Notifications[len(is.Notifications)-1].ActivatedNext
			if err := is.withdraw(d, focus); err != nil {
				return err
			}
			if err := p.undoCompletion(is, activated); err != nil {
				return err
			}
			p.record(event{At: now, Event: evWithdrawn, Issue: is.Number, Status: is.Status, Items: is.itemStatuses(), Org: d.ODS, Role: d.Role, Message: msgID, Reason: reason})
		}
		err = s.commit(rq, []store.Change{p.change()}, http.StatusOK, informational("Message Sent"))
		if errors.Is(err, errConflict) {
			continue
		}
		return err
	}
	return busy()
}

// lastDispensed is the issue with the most recent dispense notification.
func (p *prescription) lastDispensed() *issue {
	var best *issue
	for i := range p.Issues {
		is := &p.Issues[i]
		if n := len(is.Notifications); n > 0 && (best == nil || !is.Notifications[n-1].At.Before(best.Notifications[len(best.Notifications)-1].At)) {
			best = is
		}
	}
	if best == nil {
		return p.holding()
	}
	return best
}

// undoCompletion closes again the next issue of a repeat dispensing
// prescription that a withdrawn notification had made available; once that
// issue has been released the withdrawal is refused.
func (p *prescription) undoCompletion(is *issue, activated bool) error {
	nx := p.next(is)
	if !activated || nx == nil {
		return nil
	}
	switch nx.Status {
	case StatusToBeDispensed:
		nx.Status, nx.NotBefore = StatusRepeatFuture, time.Time{}
		return nil
	case StatusRepeatFuture, StatusCancelledFuture, StatusCancelled, StatusExpired:
		return nil
	}
	return epsError(CodeInvalidStateTransition, "issue %d has already been released; the dispense notification of issue %d can no longer be withdrawn", nx.Number, is.Number)
}

// handleClaim takes a dispenser's reimbursement claim (or its amendment,
// with Extension-replacementOf).
func (s *Service) handleClaim(w http.ResponseWriter, r *http.Request) {
	rq := s.begin(w, r)
	if rq == nil {
		return
	}
	if err := s.claim(rq); err != nil {
		s.refuse(rq, err)
	}
}

func (s *Service) claim(rq *request) error {
	c := rq.doc
	if str(c, "resourceType") != "Claim" {
		return fhir.Invalid("a Claim was expected").At("resourceType")
	}
	short, long := groupIDs(obj(c, "prescription"))
	if err := checkShortForm(short, "Claim.prescription.extension"); err != nil {
		return err
	}
	nhs := identifier(obj(c, "patient")["identifier"], SystemNHSNumber)
	named := party{ODS: strings.ToUpper(identifier(obj(obj(c, "payee"), "party")["identifier"], SystemODS))}
	if named.ODS == "" {
		named = requesterOrg(c, obj(c, "provider"))
	}
	d, err := dispenser(rq.ctx(), named)
	if err != nil {
		return err
	}
	claimID := identifier(c["identifier"], SystemUUID)
	if claimID == "" {
		return fhir.Missing("Claim.identifier (the claim's id, system %s) is missing", SystemUUID).At("Claim.identifier")
	}
	amend := extension(c, ExtReplacementOf) != nil
	s.messageKey(rq, "claim", claimID)
	var items []string
	for _, it := range arr(c, "item") {
		for _, det := range arr(it, "detail") {
			ref := extension(det, "https://fhir.nhs.uk/StructureDefinition/Extension-ClaimMedicationRequestReference")
			if id := identifier(obj(ref, "valueReference")["identifier"], SystemItem); id != "" {
				items = append(items, strings.ToLower(id))
			}
		}
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if done, err := s.replayed(rq, attempt); err != nil || done {
			return err
		}
		now := s.now()
		p, err := s.loadFor(rq, short, long, nhs)
		if err != nil {
			return err
		}
		is := p.claimable(amend)
		for _, id := range items {
			if is.item(id) < 0 {
				return epsError(CodeItemNotFound, "line item %s is not on this prescription", id)
			}
		}
		if err := is.claim(d, claimID, amend, now); err != nil {
			return err
		}
		ev := evClaimed
		if amend {
			ev = evClaimAmend
		}
		p.record(event{At: now, Event: ev, Issue: is.Number, Status: is.Status, Org: d.ODS, Role: d.Role, Message: claimID})
		err = s.commit(rq, []store.Change{p.change()}, http.StatusOK, informational("Message Sent"))
		if errors.Is(err, errConflict) {
			continue
		}
		return err
	}
	return busy()
}

// claimable is the issue a claim is for: the latest completed one not yet
// claimed (claimed, for an amendment), else the current one.
func (p *prescription) claimable(amend bool) *issue {
	for i := len(p.Issues) - 1; i >= 0; i-- {
		st := p.Issues[i].Status
		if (!amend && (st == StatusDispensed || st == StatusNotDispensed)) || (amend && st == StatusClaimed) {
			return &p.Issues[i]
		}
	}
	return p.holding()
}
