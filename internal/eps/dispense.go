package eps

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/nhsnumber"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/trace"
)

// notice is a parsed dispense notification.
type notice struct {
	ShortForm, LongForm string
	NHS                 string
	Status              string // the prescription status the dispenser sets
	Updates             []itemUpdate
	Dispenser           party
	// Replaces is the identifier of the dispense notification this one
	// amends (MessageHeader extension replacementOf), or "".
	Replaces string
}

func mdAt(i int, path string) string {
	return fmt.Sprintf("Bundle.entry.resource.ofType(MedicationDispense)[%d].%s", i, path)
}

// groupIDs reads the short- and long-form ids of an
// Extension-DM-GroupIdentifier (Claim.prescription,
// MedicationDispense.authorizingPrescription).
func groupIDs(v any) (short, long string) {
	ext := extension(v, ExtGroupID)
	short = identifier(extension(ext, "shortForm")["valueIdentifier"], SystemShortForm)
	long = identifier(extension(ext, "UUID")["valueIdentifier"], SystemLongForm)
	return short, strings.ToLower(long)
}

// checkShortForm validates a short-form id given in a dispensing message.
func checkShortForm(short, where string) error {
	switch ShortFormProblem(short) {
	case "format":
		if short == "" {
			return fhir.Missing("the short-form prescription id is missing").At(where)
		}
		return fhir.Invalid("%q is not a short-form prescription id", short).At(where)
	case "check":
		return epsError(CodeInvalidCheckDigit, "the check character of prescription id %s is wrong", short).At(where)
	}
	return nil
}

func parseNotice(b *bundle) (*notice, error) {
	n := &notice{}
	h := b.header()
	n.Dispenser.ODS = identifier(obj(h, "sender")["identifier"], SystemODS)
	n.Dispenser.Name = str(obj(h, "sender"), "display")
	if ext := extension(h, ExtReplacementOf); ext != nil {
		vi := obj(ext, "valueIdentifier")
		n.Replaces = str(vi, "value")
		if !trace.ValidUUID(n.Replaces) {
			return nil, fhir.Invalid("replacementOf must identify the dispense notification it amends by its Bundle.identifier (a UUID)").At("MessageHeader.extension")
		}
	}
	mds := b.ofType("MedicationDispense")
	if len(mds) == 0 {
		return nil, fhir.Missing("a dispense notification needs a MedicationDispense per line item").At("Bundle.entry")
	}
	for i, md := range mds {
		var mr map[string]any
		for _, c := range arr(md, "contained") {
			if cm, ok := c.(map[string]any); ok && cm["resourceType"] == "MedicationRequest" {
				mr = cm
			}
		}
		auths := arr(md, "authorizingPrescription")
		var ap map[string]any
		if len(auths) > 0 {
			ap, _ = auths[0].(map[string]any)
		}
		short, long := groupIDs(ap)
		if short == "" && mr != nil {
			gi := obj(mr, "groupIdentifier")
			short = str(gi, "value")
			long = strings.ToLower(identifier(extension(gi, ExtPrescriptionID)["valueIdentifier"], SystemLongForm))
		}
		if err := checkShortForm(short, mdAt(i, "authorizingPrescription")); err != nil {
			return nil, err
		}
		item := identifier(obj(ap, "identifier"), SystemItem)
		if item == "" && mr != nil {
			item = identifier(mr["identifier"], SystemItem)
		}
		if item == "" {
			return nil, fhir.Missing("the line item dispensed (authorizingPrescription.identifier, system %s) is missing", SystemItem).At(mdAt(i, "authorizingPrescription"))
		}
		itemStatus, _, _ := coding(md["type"], SystemItemStatus)
		if itemStatus == "" {
			return nil, fhir.Missing("the line item's status (MedicationDispense.type, system %s) is missing", SystemItemStatus).At(mdAt(i, "type"))
		}
		status, _, _ := coding(extension(md, ExtBusinessStatus)["valueCoding"], SystemBusinessStatus)
		if status == "" {
			return nil, fhir.Missing("the prescription's status (extension %s) is missing", ExtBusinessStatus).At(mdAt(i, "extension"))
		}
		nhs := identifier(obj(md, "subject")["identifier"], SystemNHSNumber)
		if nhs != "" && !nhsnumber.Valid(nhs) {
			return nil, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidResourceID, "%q is not a valid NHS number", nhs).At(mdAt(i, "subject"))
		}
		if i == 0 {
			n.ShortForm, n.LongForm, n.Status, n.NHS = short, long, status, nhs
		} else {
			if short != n.ShortForm {
				return nil, fhir.Invalid("a dispense notification is for one prescription; %s and %s differ", n.ShortForm, short).At(mdAt(i, "authorizingPrescription"))
			}
			if status != n.Status {
				return nil, fhir.Invalid("every MedicationDispense must carry the same prescription status").At(mdAt(i, "extension"))
			}
			if nhs != "" && n.NHS != "" && nhs != n.NHS {
				return nil, fhir.Invalid("every MedicationDispense must be for the same patient").At(mdAt(i, "subject"))
			}
			if n.LongForm == "" {
				n.LongForm = long
			}
			if n.NHS == "" {
				n.NHS = nhs
			}
		}
		n.Updates = append(n.Updates, itemUpdate{ID: strings.ToLower(item), Status: itemStatus})
	}
	return n, nil
}

// processDispense applies a dispense notification, or an amendment of
// the last one (MessageHeader replacementOf): that one undone exactly as
// a withdrawal undoes it, and this one applied, in one change.
func (s *Service) processDispense(rq *request, b *bundle) error {
	ctx := rq.ctx()
	n, err := parseNotice(b)
	if err != nil {
		return err
	}
	if n.NHS != "" {
		audit.Patients(ctx, n.NHS)
	}
	d, err := dispenser(ctx, n.Dispenser)
	if err != nil {
		return err
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if done, err := s.replayed(rq, attempt); err != nil || done {
			return err
		}
		now := s.now()
		p, err := s.loadFor(rq, n.ShortForm, n.LongForm, n.NHS)
		if err != nil {
			return err
		}
		is, ev := p.holding(), evDispensed
		if n.Replaces != "" {
			// an amendment: the notification it replaces is undone, then
			// this one applied, in one change
			is, ev = p.lastDispensed(), evDispenseAmend
			activated := len(is.Notifications) > 0 && is.Notifications[len(is.Notifications)-1].ActivatedNext
			if err := is.withdraw(d, n.Replaces); err != nil {
				return err
			}
			if err := p.undoCompletion(is, activated); err != nil {
				return err
			}
		}
		if err := is.dispense(d, b.id, n.Status, n.Updates, now); err != nil {
			return err
		}
		p.record(event{At: now, Event: ev, Issue: is.Number, Status: is.Status, Items: is.itemStatuses(), Org: d.ODS, Role: d.Role, Message: b.id, Replaces: n.Replaces})
		p.afterCompletion(is, now)
		err = s.commit(rq, []store.Change{p.change()}, http.StatusOK, informational("Message Sent"))
		if errors.Is(err, errConflict) {
			continue
		}
		return err
	}
	return busy()
}

// loadFor reads the prescription a dispensing message names, checking the
// long-form id and the patient when the message gives them.
func (s *Service) loadFor(rq *request, short, long, nhs string) (*prescription, error) {
	p, err := s.loadShort(rq.ctx(), short)
	if errors.Is(err, errNoPrescription) || (err == nil && long != "" && p.ID != long) {
		nf := fhir.NewError(http.StatusBadRequest, fhir.CodeResourceNotFound, "prescription %s was not found", short)
		nf.IssueType = "not-found"
		return nil, nf
	}
	if err != nil {
		return nil, err
	}
	audit.Patients(rq.ctx(), p.Patient)
	if nhs != "" && nhs != p.Patient {
		return nil, fhir.Invalid("prescription %s is not for patient %s", short, nhs)
	}
	return p, nil
}

// holding is the issue a dispenser holds (else the current one).
func (p *prescription) holding() *issue {
	for i := range p.Issues {
		if withDispenser(p.Issues[i].Status) {
			return &p.Issues[i]
		}
	}
	return p.current()
}

// afterCompletion makes the next issue of a repeat dispensing prescription
// available once one is complete: from the day the current supply would
// run out, less 7 days.
func (p *prescription) afterCompletion(is *issue, now time.Time) {
	if is.Status != StatusDispensed && is.Status != StatusNotDispensed {
		return
	}
	if p.openNext(is, now) {
		is.Notifications[len(is.Notifications)-1].ActivatedNext = true
	}
}

// openNext makes the issue after is available (to be dispensed), when it
// is a future instance still within its validity.
func (p *prescription) openNext(is *issue, now time.Time) bool {
	nx := p.next(is)
	if nx == nil || nx.Status != StatusRepeatFuture || !now.Before(nx.Expires) {
		return false
	}
	nx.Status = StatusToBeDispensed
	nx.NotBefore = time.Time{}
	if p.SupplyDays > 7 && is.Status != StatusExpired {
		nx.NotBefore = now.AddDate(0, 0, p.SupplyDays-7)
	}
	p.record(event{At: now, Event: evIssueOpened, Issue: nx.Number, Status: nx.Status, Items: nx.itemStatuses()})
	return true
}
