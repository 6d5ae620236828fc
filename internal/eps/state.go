package eps

import (
	"strings"
	"time"
)

// Prescription (issue) statuses: https://fhir.nhs.uk/CodeSystem/EPS-task-business-status.
const (
	StatusAwaitingRelease     = "0000" // not produced by OpenSpine (HL7 v3 "awaiting release ready")
	StatusToBeDispensed       = "0001"
	StatusWithDispenser       = "0002"
	StatusWithDispenserActive = "0003"
	StatusExpired             = "0004"
	StatusCancelled           = "0005"
	StatusDispensed           = "0006"
	StatusNotDispensed        = "0007"
	StatusClaimed             = "0008"
	StatusNoClaimed           = "0009"
	StatusRepeatFuture        = "9000"
	StatusFuture              = "9001"
	StatusCancelledFuture     = "9005"
)

// Line item statuses: https://fhir.nhs.uk/CodeSystem/medicationdispense-type.
const (
	ItemDispensed       = "0001"
	ItemNotDispensed    = "0002"
	ItemPartial         = "0003"
	ItemNotDispensedOwe = "0004"
	ItemCancelled       = "0005"
	ItemExpired         = "0006"
	ItemToBeDispensed   = "0007"
	ItemWithDispenser   = "0008"
)

// Code systems of the statuses.
const (
	SystemBusinessStatus = "https://fhir.nhs.uk/CodeSystem/EPS-task-business-status"
	SystemItemStatus     = "https://fhir.nhs.uk/CodeSystem/medicationdispense-type"
)

var statusDisplay = map[string]string{
	StatusAwaitingRelease: "Awaiting Release Ready", StatusToBeDispensed: "To Be Dispensed",
	StatusWithDispenser: "With Dispenser", StatusWithDispenserActive: "With Dispenser - Active",
	StatusExpired: "Expired", StatusCancelled: "Cancelled", StatusDispensed: "Dispensed",
	StatusNotDispensed: "Not Dispensed", StatusClaimed: "Claimed", StatusNoClaimed: "No-Claimed",
	StatusRepeatFuture: "Repeat Dispense future instance", StatusFuture: "Prescription future instance",
	StatusCancelledFuture: "Cancelled future instance",
}

var itemDisplay = map[string]string{
	ItemDispensed: "Item fully dispensed", ItemNotDispensed: "Item not dispensed", ItemPartial: "Item dispensed - partial",
	ItemNotDispensedOwe: "Item not dispensed owing", ItemCancelled: "Item cancelled", ItemExpired: "Expired",
	ItemToBeDispensed: "To be dispensed", ItemWithDispenser: "Item with dispenser",
}

// Cancellation outcomes (medicationrequest-status-history).
const (
	CancelDone           = "R-0001"
	CancelMarked         = "R-0002"
	CancelMarkedActive   = "R-0003"
	CancelDispensed      = "R-0004"
	CancelExpired        = "R-0005"
	CancelAlready        = "R-0006"
	CancelOtherPrescribe = "R-0007"
	CancelNotFound       = "R-0008"
	CancelNotDispensed   = "R-0010"
	CancelUnable         = "R-5000"
)

var cancelDisplay = map[string]string{
	CancelDone:           "Prescription/item was cancelled",
	CancelMarked:         "Prescription/item was not cancelled. With dispenser. Marked for cancellation",
	CancelMarkedActive:   "Prescription/item was not cancelled. With dispenser active. Marked for cancellation",
	CancelDispensed:      "Prescription/item was not cancelled. Prescription has been dispensed.",
	CancelExpired:        "Prescription/item has expired",
	CancelAlready:        "Prescription/item had already been cancelled",
	CancelOtherPrescribe: "Prescription/item cancellation requested by another prescriber",
	CancelNotFound:       "Prescription/item not found",
	CancelNotDispensed:   "Prescription/item was not cancelled. Prescription has been not dispensed.",
	CancelUnable:         "Unable to process message",
}

// party is a prescriber or a dispenser.
type party struct {
	ODS  string `json:"ods,omitempty"`
	Name string `json:"name,omitempty"`
	Tel  string `json:"tel,omitempty"`
	Role string `json:"role,omitempty"` // SDS role profile id
	User string `json:"user,omitempty"` // SDS user id
}

// cancelMark records a cancellation requested while the item was with a dispenser.
type cancelMark struct {
	By     string    `json:"by"`            // role profile id of the requester
	Org    string    `json:"org,omitempty"` // its organisation
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// itemState is the state of one line item in one issue.
type itemState struct {
	ID            string      `json:"id"`
	Status        string      `json:"status"`
	CancelPending *cancelMark `json:"cancelPending,omitempty"`
}

// notification is an applied dispense notification, kept so that a
// withdrawal can undo exactly what it did.
type notification struct {
	ID            string    `json:"id"`
	At            time.Time `json:"at"`
	Status        string    `json:"status"`
	PrevStatus    string    `json:"prevStatus"`
	PrevItems     []string  `json:"prevItems"`
	PrevCompleted time.Time `json:"prevCompleted,omitzero"`
	ActivatedNext bool      `json:"activatedNext,omitempty"`
}

type claimInfo struct {
	ID      string    `json:"id"`
	At      time.Time `json:"at"`
	Amended time.Time `json:"amended,omitzero"`
}

// issue is one dispensable instance of a prescription: the only one of an
// acute or repeat prescription, or one of the N issues of a repeat
// dispensing prescription.
type issue struct {
	Number        int            `json:"number"`
	Status        string         `json:"status"`
	Items         []itemState    `json:"items"`
	Dispenser     *party         `json:"dispenser,omitempty"`
	Released      time.Time      `json:"released,omitzero"`
	ReleaseID     string         `json:"releaseId,omitempty"`
	NotBefore     time.Time      `json:"notBefore,omitzero"`
	Expires       time.Time      `json:"expires"`
	Completed     time.Time      `json:"completed,omitzero"`
	Notifications []notification `json:"notifications,omitempty"`
	Claim         *claimInfo     `json:"claim,omitempty"`
}

func (is *issue) item(id string) int {
	for i := range is.Items {
		if is.Items[i].ID == id {
			return i
		}
	}
	return -1
}

func (is *issue) itemStatuses() []string {
	out := make([]string, len(is.Items))
	for i, it := range is.Items {
		out[i] = it.Status
	}
	return out
}

func (is *issue) allItems(status string) bool {
	for _, it := range is.Items {
		if it.Status != status {
			return false
		}
	}
	return len(is.Items) > 0
}

// future reports whether the status is a future instance.
func future(s string) bool {
	return s == StatusRepeatFuture || s == StatusFuture || s == StatusCancelledFuture
}

// withDispenser reports whether the issue is held by a dispenser.
func withDispenser(s string) bool { return s == StatusWithDispenser || s == StatusWithDispenserActive }

// completed reports whether a dispenser has finished with the issue.
func completed(s string) bool {
	return s == StatusDispensed || s == StatusNotDispensed || s == StatusClaimed || s == StatusNoClaimed
}

// finalItem reports whether an item status ends the item's dispensing.
func finalItem(s string) bool {
	return s == ItemDispensed || s == ItemNotDispensed || s == ItemCancelled || s == ItemExpired
}

// refuse is the error for an operation on an issue in a state that does
// not allow it, naming what the state is.
func refuse(is *issue, what string) error {
	switch {
	case is.Status == StatusCancelled || is.Status == StatusCancelledFuture:
		return epsError(CodePrescriptionCancelled, "cannot %s: the prescription has been cancelled", what)
	case is.Status == StatusExpired:
		return epsError(CodePrescriptionExpired, "cannot %s: the prescription has expired", what)
	}
	return epsError(CodeInvalidStateTransition, "cannot %s a prescription whose status is %s (%s)", what, is.Status, statusDisplay[is.Status])
}

// checkDispenser refuses a dispenser action by anyone but the dispenser
// holding the issue.
func (is *issue) checkDispenser(d party) error {
	if is.Dispenser != nil && is.Dispenser.ODS != d.ODS {
		return anotherDispenser(is.Dispenser)
	}
	return nil
}

// release hands the issue to dispenser d.
func (is *issue) release(d party, releaseID string, now time.Time) error {
	switch is.Status {
	case StatusToBeDispensed:
		if now.Before(is.NotBefore) {
			return epsError(CodeInvalidStateTransition, "issue %d of this prescription cannot be released before %s", is.Number, is.NotBefore.UTC().Format(time.RFC3339))
		}
		is.Status = StatusWithDispenser
		for i := range is.Items {
			if is.Items[i].Status == ItemToBeDispensed {
				is.Items[i].Status = ItemWithDispenser
			}
		}
		dd := d
		is.Dispenser, is.Released, is.ReleaseID = &dd, now, releaseID
		return nil
	case StatusWithDispenser, StatusWithDispenserActive:
		if err := is.checkDispenser(d); err != nil {
			return err
		}
		return epsError(CodeInvalidStateTransition, "the prescription is already with this dispenser (%s)", d.ODS)
	case StatusDispensed, StatusNotDispensed, StatusClaimed, StatusNoClaimed:
		return epsError(CodePrescriptionDispensed, "the prescription has been dispensed (status %s)", is.Status)
	}
	return refuse(is, "release")
}

// giveBack returns the issue to the spine (a dispenser's return): it can be
// released again. Cancellations marked while it was with the dispenser
// take effect now.
func (is *issue) giveBack(d party) error {
	if withDispenser(is.Status) {
		if err := is.checkDispenser(d); err != nil {
			return err
		}
	}
	if is.Status != StatusWithDispenser {
		return refuse(is, "return")
	}
	is.Status = StatusToBeDispensed
	is.Dispenser, is.Released, is.ReleaseID = nil, time.Time{}, ""
	for i := range is.Items {
		it := &is.Items[i]
		if it.Status == ItemWithDispenser {
			it.Status = ItemToBeDispensed
		}
		if it.CancelPending != nil {
			it.Status, it.CancelPending = ItemCancelled, nil
		}
	}
	if is.allItems(ItemCancelled) {
		is.Status = StatusCancelled
	}
	return nil
}

// itemUpdate is one line of a dispense notification.
type itemUpdate struct {
	ID     string
	Status string
}

// dispense applies a dispense notification: the prescription's new status
// (0003, 0006 or 0007, the statuses a dispenser may set) and its items'.
func (is *issue) dispense(d party, dnID string, target string, updates []itemUpdate, now time.Time) error {
	if err := is.checkDispenser(d); err != nil {
		return err
	}
	if !withDispenser(is.Status) {
		return refuse(is, "dispense")
	}
	switch target {
	case StatusWithDispenserActive, StatusDispensed, StatusNotDispensed:
	default:
		return epsError(CodeInvalidStateTransition, "a dispenser may set the prescription status to 0003, 0006 or 0007, not %q", target)
	}
	next := is.itemStatuses()
	seen := map[string]bool{}
	for _, u := range updates {
		i := is.item(u.ID)
		if i < 0 {
			return epsError(CodeItemNotFound, "line item %s is not on this prescription", u.ID)
		}
		if seen[u.ID] {
			return epsError(CodeInvalidLineStateTransition, "line item %s appears twice in the dispense notification", u.ID)
		}
		seen[u.ID] = true
		if err := itemTransition(u.ID, next[i], u.Status); err != nil {
			return err
		}
		next[i] = u.Status
	}
	if err := consistent(target, next); err != nil {
		return err
	}
	is.Notifications = append(is.Notifications, notification{ID: dnID, At: now, Status: target,
		PrevStatus: is.Status, PrevItems: is.itemStatuses(), PrevCompleted: is.Completed})
	is.Status = target
	for i := range is.Items {
		is.Items[i].Status = next[i]
		if finalItem(next[i]) {
			is.Items[i].CancelPending = nil
		}
	}
	if target != StatusWithDispenserActive {
		is.Completed = now
	}
	return nil
}

// itemTransition checks one line item's move in a dispense notification.
func itemTransition(id, from, to string) error {
	switch to {
	case ItemDispensed, ItemNotDispensed, ItemPartial, ItemNotDispensedOwe:
	default:
		return epsError(CodeInvalidLineStateTransition, "line item %s: a dispenser may set 0001, 0002, 0003 or 0004, not %q", id, to)
	}
	switch from {
	case ItemWithDispenser, ItemPartial, ItemNotDispensedOwe:
		return nil
	case ItemDispensed, ItemNotDispensed:
		if from == to {
			return nil // restated
		}
	}
	return epsError(CodeInvalidLineStateTransition, "line item %s cannot go from %s (%s) to %s (%s)", id, from, itemDisplay[from], to, itemDisplay[to])
}

// consistent checks the prescription status a dispenser set against its items.
func consistent(target string, items []string) error {
	var dispensed, notDispensed, open, live int
	for _, s := range items {
		switch s {
		case ItemCancelled, ItemExpired:
			continue
		case ItemDispensed:
			dispensed++
		case ItemNotDispensed:
			notDispensed++
		default:
			open++
		}
		live++
	}
	switch target {
	case StatusDispensed:
		if open > 0 || dispensed == 0 {
			return epsError(CodeInvalidStateTransition, "status 0006 (Dispensed) needs every item fully dispensed or not dispensed, and one dispensed")
		}
	case StatusNotDispensed:
		if live == 0 || notDispensed != live {
			return epsError(CodeInvalidStateTransition, "status 0007 (Not Dispensed) needs every item not dispensed")
		}
	case StatusWithDispenserActive:
		if open == 0 {
			return epsError(CodeInvalidStateTransition, "status 0003 (With Dispenser - Active) needs an item still to be dispensed; every item is complete")
		}
	}
	return nil
}

// withdraw undoes the last dispense notification.
func (is *issue) withdraw(d party, dnID string) error {
	if len(is.Notifications) == 0 {
		return epsError(CodeInvalidStateTransition, "there is no dispense notification to withdraw (status %s)", is.Status)
	}
	if err := is.checkDispenser(d); err != nil {
		return err
	}
	if !withDispenser(is.Status) && is.Status != StatusDispensed && is.Status != StatusNotDispensed {
		return refuse(is, "withdraw the dispense notification of")
	}
	last := is.Notifications[len(is.Notifications)-1]
	if dnID != "" && last.ID != "" && !strings.EqualFold(dnID, last.ID) { // UUIDs: either case
		return epsError(CodeDispenseAmendMismatch, "the last dispense notification is %s, not %s", last.ID, dnID)
	}
	is.Status, is.Completed = last.PrevStatus, last.PrevCompleted
	for i := range is.Items {
		if i < len(last.PrevItems) {
			is.Items[i].Status = last.PrevItems[i]
		}
	}
	is.Notifications = is.Notifications[:len(is.Notifications)-1]
	return nil
}

// claimAmendDeadline is the end of the period in which a claim may be
// amended: the end of the 5th day of the month after the claim.
func claimAmendDeadline(claimed time.Time) time.Time {
	y, m, _ := claimed.UTC().Date()
	return time.Date(y, m+1, 6, 0, 0, 0, 0, time.UTC)
}

// claim records the dispenser's claim for reimbursement.
func (is *issue) claim(d party, claimID string, amend bool, now time.Time) error {
	if is.Dispenser != nil {
		if err := is.checkDispenser(d); err != nil {
			return err
		}
	}
	switch is.Status {
	case StatusDispensed, StatusNotDispensed:
		if amend {
			return epsError(CodeInvalidStateTransition, "there is no claim to amend")
		}
		is.Status = StatusClaimed
		is.Claim = &claimInfo{ID: claimID, At: now}
		return nil
	case StatusClaimed:
		if !amend {
			return epsError(CodeInvalidStateTransition, "the prescription has already been claimed; send a claim amendment (replacementOf)")
		}
		if !now.Before(claimAmendDeadline(is.Claim.At)) {
			return epsError(CodeClaimAmendPeriod, "the claim of %s could be amended until %s", is.Claim.At.UTC().Format("2006-01-02"), claimAmendDeadline(is.Claim.At).Format(time.RFC3339))
		}
		is.Claim.ID, is.Claim.Amended = claimID, now
		return nil
	case StatusCancelled, StatusExpired:
		return refuse(is, "claim")
	}
	return epsError(CodeClaimNotDispensed, "the prescription's status is %s (%s)", is.Status, statusDisplay[is.Status])
}

// cancelItem applies a prescriber's cancellation of item i and returns
// the contract's outcome.
func (is *issue) cancelItem(i int, by party, reason string, now time.Time) string {
	it := &is.Items[i]
	switch {
	case it.Status == ItemCancelled || is.Status == StatusCancelled || is.Status == StatusCancelledFuture:
		return CancelAlready
	case is.Status == StatusExpired || it.Status == ItemExpired:
		return CancelExpired
	case is.Status == StatusNotDispensed || it.Status == ItemNotDispensed:
		return CancelNotDispensed
	case completed(is.Status) || it.Status == ItemDispensed:
		return CancelDispensed
	case is.Status == StatusToBeDispensed || future(is.Status):
		it.Status, it.CancelPending = ItemCancelled, nil
		if is.allItems(ItemCancelled) {
			if future(is.Status) {
				is.Status = StatusCancelledFuture
			} else {
				is.Status = StatusCancelled
			}
		}
		return CancelDone
	case withDispenser(is.Status):
		if it.CancelPending != nil && it.CancelPending.By != by.Role {
			return CancelOtherPrescribe
		}
		if it.CancelPending == nil {
			it.CancelPending = &cancelMark{By: by.Role, Org: by.ODS, At: now, Reason: reason}
		}
		if is.Status == StatusWithDispenser {
			return CancelMarked
		}
		return CancelMarkedActive
	}
	return CancelUnable
}

// expire ends the issue when its validity has passed.
func (is *issue) expire(now time.Time) bool {
	switch is.Status {
	case StatusToBeDispensed, StatusWithDispenser, StatusWithDispenserActive, StatusRepeatFuture, StatusFuture:
	default:
		return false
	}
	if is.Expires.IsZero() || now.Before(is.Expires) {
		return false
	}
	is.Status = StatusExpired
	for i := range is.Items {
		it := &is.Items[i]
		if !finalItem(it.Status) {
			it.Status = ItemExpired
		}
		it.CancelPending = nil
	}
	return true
}
