package eps

import (
	"strconv"
	"testing"
	"time"

	"github.com/openspine/openspine/internal/fhir"
)

var (
	t0    = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	pharA = party{ODS: "FA565", Name: "Demo Pharmacy", Tel: "0113 000 0000"}
	pharB = party{ODS: "FX123"}
	drA   = party{ODS: "Y12345", Role: "555021936108"}
	drB   = party{ODS: "Y12345", Role: "555021936110"}
)

// mk builds an issue in a status with item statuses, held by holder when given.
func mk(status string, holder *party, items ...string) *issue {
	is := &issue{Number: 1, Status: status, Expires: t0.Add(30 * 24 * time.Hour)}
	for i, s := range items {
		is.Items = append(is.Items, itemState{ID: string(rune('a' + i)), Status: s})
	}
	if holder != nil {
		h := *holder
		is.Dispenser = &h
	}
	return is
}

func code(err error) string {
	if err == nil {
		return ""
	}
	return fhir.AsError(err).Code
}

func TestRelease(t *testing.T) {
	for _, c := range []struct {
		name string
		is   *issue
		who  party
		want string
	}{
		{"to be dispensed", mk(StatusToBeDispensed, nil, ItemToBeDispensed, ItemCancelled), pharA, ""},
		{"with another", mk(StatusWithDispenser, &pharA, ItemWithDispenser), pharB, CodeWithAnotherDispenser},
		{"active with another", mk(StatusWithDispenserActive, &pharA, ItemPartial), pharB, CodeWithAnotherDispenser},
		{"with the same", mk(StatusWithDispenser, &pharA, ItemWithDispenser), pharA, CodeInvalidStateTransition},
		{"dispensed", mk(StatusDispensed, &pharA, ItemDispensed), pharB, CodePrescriptionDispensed},
		{"claimed", mk(StatusClaimed, &pharA, ItemDispensed), pharB, CodePrescriptionDispensed},
		{"not dispensed", mk(StatusNotDispensed, &pharA, ItemNotDispensed), pharB, CodePrescriptionDispensed},
		{"cancelled", mk(StatusCancelled, nil, ItemCancelled), pharA, CodePrescriptionCancelled},
		{"expired", mk(StatusExpired, nil, ItemExpired), pharA, CodePrescriptionExpired},
		{"future", mk(StatusRepeatFuture, nil, ItemToBeDispensed), pharA, CodeInvalidStateTransition},
		{"cancelled future", mk(StatusCancelledFuture, nil, ItemCancelled), pharA, CodePrescriptionCancelled},
		{"not yet due", func() *issue {
			is := mk(StatusToBeDispensed, nil, ItemToBeDispensed)
			is.NotBefore = t0.Add(time.Hour)
			return is
		}(), pharA, CodeInvalidStateTransition},
	} {
		err := c.is.release(c.who, "rel-1", t0)
		if code(err) != c.want {
			t.Errorf("%s: got %v, want %s", c.name, err, c.want)
		}
		if c.want == "" && (c.is.Status != StatusWithDispenser || c.is.Dispenser.ODS != c.who.ODS ||
			c.is.Items[0].Status != ItemWithDispenser || c.is.Items[1].Status != ItemCancelled) {
			t.Errorf("%s: released to %+v", c.name, c.is)
		}
	}
	err := mk(StatusWithDispenser, &pharA, ItemWithDispenser).release(pharB, "", t0)
	status, oo := outcome(err)
	if status != 400 || string(fhir.Marshal(oo["contained"])) == "" || oo["extension"] == nil {
		t.Fatalf("with another dispenser outcome: %d %s", status, fhir.Marshal(oo))
	}
}

func TestReturn(t *testing.T) {
	for _, c := range []struct {
		name string
		is   *issue
		who  party
		want string
	}{
		{"with dispenser", mk(StatusWithDispenser, &pharA, ItemWithDispenser), pharA, ""},
		{"by another", mk(StatusWithDispenser, &pharA, ItemWithDispenser), pharB, CodeWithAnotherDispenser},
		{"active", mk(StatusWithDispenserActive, &pharA, ItemPartial), pharA, CodeInvalidStateTransition},
		{"not released", mk(StatusToBeDispensed, nil, ItemToBeDispensed), pharA, CodeInvalidStateTransition},
		{"dispensed", mk(StatusDispensed, &pharA, ItemDispensed), pharA, CodeInvalidStateTransition},
		{"cancelled", mk(StatusCancelled, nil, ItemCancelled), pharA, CodePrescriptionCancelled},
	} {
		err := c.is.giveBack(c.who)
		if code(err) != c.want {
			t.Errorf("%s: got %v, want %s", c.name, err, c.want)
		}
		if c.want == "" && (c.is.Status != StatusToBeDispensed || c.is.Dispenser != nil || c.is.Items[0].Status != ItemToBeDispensed) {
			t.Errorf("%s: %+v", c.name, c.is)
		}
	}
	// A cancellation marked while with the dispenser takes effect on return.
	is := mk(StatusWithDispenser, &pharA, ItemWithDispenser, ItemWithDispenser)
	if got := is.cancelItem(0, drA, "0001", t0); got != CancelMarked {
		t.Fatal(got)
	}
	if err := is.giveBack(pharA); err != nil || is.Status != StatusToBeDispensed || is.Items[0].Status != ItemCancelled || is.Items[1].Status != ItemToBeDispensed {
		t.Fatalf("%v %+v", err, is)
	}
	is = mk(StatusWithDispenser, &pharA, ItemWithDispenser)
	is.cancelItem(0, drA, "0001", t0)
	if err := is.giveBack(pharA); err != nil || is.Status != StatusCancelled {
		t.Fatalf("%v %+v", err, is)
	}
}

func TestDispense(t *testing.T) {
	u := func(kv ...string) []itemUpdate {
		var out []itemUpdate
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, itemUpdate{ID: kv[i], Status: kv[i+1]})
		}
		return out
	}
	for _, c := range []struct {
		name   string
		is     *issue
		who    party
		target string
		upd    []itemUpdate
		want   string
	}{
		{"full", mk(StatusWithDispenser, &pharA, ItemWithDispenser, ItemWithDispenser), pharA, StatusDispensed, u("a", ItemDispensed, "b", ItemDispensed), ""},
		{"one of two not dispensed", mk(StatusWithDispenser, &pharA, ItemWithDispenser, ItemWithDispenser), pharA, StatusDispensed, u("a", ItemDispensed, "b", ItemNotDispensed), ""},
		{"partial", mk(StatusWithDispenser, &pharA, ItemWithDispenser, ItemWithDispenser), pharA, StatusWithDispenserActive, u("a", ItemPartial, "b", ItemDispensed), ""},
		{"owing", mk(StatusWithDispenser, &pharA, ItemWithDispenser), pharA, StatusWithDispenserActive, u("a", ItemNotDispensedOwe), ""},
		{"rest after partial", mk(StatusWithDispenserActive, &pharA, ItemPartial, ItemDispensed), pharA, StatusDispensed, u("a", ItemDispensed, "b", ItemDispensed), ""},
		{"not dispensed", mk(StatusWithDispenser, &pharA, ItemWithDispenser, ItemCancelled), pharA, StatusNotDispensed, u("a", ItemNotDispensed), ""},
		{"by another", mk(StatusWithDispenser, &pharA, ItemWithDispenser), pharB, StatusDispensed, u("a", ItemDispensed), CodeWithAnotherDispenser},
		{"not released", mk(StatusToBeDispensed, nil, ItemToBeDispensed), pharA, StatusDispensed, u("a", ItemDispensed), CodeInvalidStateTransition},
		{"already dispensed", mk(StatusDispensed, &pharA, ItemDispensed), pharA, StatusDispensed, u("a", ItemDispensed), CodeInvalidStateTransition},
		{"cancelled", mk(StatusCancelled, nil, ItemCancelled), pharA, StatusDispensed, u("a", ItemDispensed), CodePrescriptionCancelled},
		{"expired", mk(StatusExpired, &pharA, ItemExpired), pharA, StatusDispensed, u("a", ItemDispensed), CodePrescriptionExpired},
		{"status not a dispenser's", mk(StatusWithDispenser, &pharA, ItemWithDispenser), pharA, StatusClaimed, u("a", ItemDispensed), CodeInvalidStateTransition},
		{"dispensed with an open item", mk(StatusWithDispenser, &pharA, ItemWithDispenser, ItemWithDispenser), pharA, StatusDispensed, u("a", ItemDispensed), CodeInvalidStateTransition},
		{"dispensed with nothing dispensed", mk(StatusWithDispenser, &pharA, ItemWithDispenser), pharA, StatusDispensed, u("a", ItemNotDispensed), CodeInvalidStateTransition},
		{"not dispensed with a dispensed item", mk(StatusWithDispenser, &pharA, ItemWithDispenser, ItemWithDispenser), pharA, StatusNotDispensed, u("a", ItemNotDispensed, "b", ItemDispensed), CodeInvalidStateTransition},
		{"active with all complete", mk(StatusWithDispenser, &pharA, ItemWithDispenser), pharA, StatusWithDispenserActive, u("a", ItemDispensed), CodeInvalidStateTransition},
		{"item dispensed back to partial", mk(StatusWithDispenserActive, &pharA, ItemDispensed, ItemPartial), pharA, StatusWithDispenserActive, u("a", ItemPartial), CodeInvalidLineStateTransition},
		{"item not dispensed to dispensed", mk(StatusWithDispenserActive, &pharA, ItemNotDispensed, ItemPartial), pharA, StatusDispensed, u("a", ItemDispensed, "b", ItemDispensed), CodeInvalidLineStateTransition},
		{"cancelled item", mk(StatusWithDispenser, &pharA, ItemCancelled, ItemWithDispenser), pharA, StatusDispensed, u("a", ItemDispensed, "b", ItemDispensed), CodeInvalidLineStateTransition},
		{"item status not a dispenser's", mk(StatusWithDispenser, &pharA, ItemWithDispenser), pharA, StatusDispensed, u("a", ItemCancelled), CodeInvalidLineStateTransition},
		{"unknown item", mk(StatusWithDispenser, &pharA, ItemWithDispenser), pharA, StatusDispensed, u("z", ItemDispensed), CodeItemNotFound},
		{"item twice", mk(StatusWithDispenser, &pharA, ItemWithDispenser), pharA, StatusDispensed, u("a", ItemDispensed, "a", ItemDispensed), CodeInvalidLineStateTransition},
	} {
		before := *c.is
		before.Items = append([]itemState(nil), c.is.Items...)
		err := c.is.dispense(c.who, "dn-1", c.target, c.upd, t0)
		if code(err) != c.want {
			t.Errorf("%s: got %v, want %s", c.name, err, c.want)
			continue
		}
		if c.want != "" {
			if c.is.Status != before.Status || len(c.is.Notifications) != len(before.Notifications) {
				t.Errorf("%s: a refused notification changed the state", c.name)
			}
			continue
		}
		if c.is.Status != c.target || len(c.is.Notifications) != 1 {
			t.Errorf("%s: %+v", c.name, c.is)
		}
		// Withdrawing restores exactly the state before.
		if err := c.is.withdraw(c.who, "dn-1"); err != nil || c.is.Status != before.Status || len(c.is.Notifications) != 0 {
			t.Errorf("%s: withdraw: %v %+v", c.name, err, c.is)
		}
		for i := range before.Items {
			if c.is.Items[i].Status != before.Items[i].Status {
				t.Errorf("%s: withdraw left item %d at %s", c.name, i, c.is.Items[i].Status)
			}
		}
	}
}

func TestWithdraw(t *testing.T) {
	is := mk(StatusWithDispenser, &pharA, ItemWithDispenser, ItemWithDispenser)
	if code(is.withdraw(pharA, "")) != CodeInvalidStateTransition {
		t.Fatal("withdraw without a notification")
	}
	must(t, is.dispense(pharA, "dn-1", StatusWithDispenserActive, []itemUpdate{{"a", ItemPartial}, {"b", ItemDispensed}}, t0))
	must(t, is.dispense(pharA, "dn-2", StatusDispensed, []itemUpdate{{"a", ItemDispensed}}, t0.Add(time.Hour)))
	if code(is.withdraw(pharB, "dn-2")) != CodeWithAnotherDispenser {
		t.Fatal("withdraw by another dispenser")
	}
	if code(is.withdraw(pharA, "dn-1")) != CodeDispenseAmendMismatch {
		t.Fatal("withdraw of a notification that is not the last")
	}
	must(t, is.withdraw(pharA, "dn-2"))
	if is.Status != StatusWithDispenserActive || is.Items[0].Status != ItemPartial || is.Items[1].Status != ItemDispensed || !is.Completed.IsZero() {
		t.Fatalf("after one withdrawal: %+v", is)
	}
	must(t, is.withdraw(pharA, ""))
	if is.Status != StatusWithDispenser || is.Items[0].Status != ItemWithDispenser {
		t.Fatalf("after two withdrawals: %+v", is)
	}
	must(t, is.dispense(pharA, "dn-3", StatusDispensed, []itemUpdate{{"a", ItemDispensed}, {"b", ItemDispensed}}, t0))
	must(t, is.claim(pharA, "claim-1", false, t0))
	if code(is.withdraw(pharA, "dn-3")) != CodeInvalidStateTransition {
		t.Fatal("withdraw after claim")
	}
}

func TestClaim(t *testing.T) {
	for _, c := range []struct {
		name  string
		is    *issue
		who   party
		amend bool
		at    time.Time
		want  string
	}{
		{"dispensed", mk(StatusDispensed, &pharA, ItemDispensed), pharA, false, t0, ""},
		{"not dispensed", mk(StatusNotDispensed, &pharA, ItemNotDispensed), pharA, false, t0, ""},
		{"by another", mk(StatusDispensed, &pharA, ItemDispensed), pharB, false, t0, CodeWithAnotherDispenser},
		{"with dispenser", mk(StatusWithDispenser, &pharA, ItemWithDispenser), pharA, false, t0, CodeClaimNotDispensed},
		{"active", mk(StatusWithDispenserActive, &pharA, ItemPartial), pharA, false, t0, CodeClaimNotDispensed},
		{"to be dispensed", mk(StatusToBeDispensed, nil, ItemToBeDispensed), pharA, false, t0, CodeClaimNotDispensed},
		{"cancelled", mk(StatusCancelled, nil, ItemCancelled), pharA, false, t0, CodePrescriptionCancelled},
		{"amend with no claim", mk(StatusDispensed, &pharA, ItemDispensed), pharA, true, t0, CodeInvalidStateTransition},
	} {
		err := c.is.claim(c.who, "c1", c.amend, c.at)
		if code(err) != c.want {
			t.Errorf("%s: got %v, want %s", c.name, err, c.want)
		}
	}
	is := mk(StatusDispensed, &pharA, ItemDispensed)
	must(t, is.claim(pharA, "c1", false, t0))
	if code(is.claim(pharA, "c2", false, t0)) != CodeInvalidStateTransition {
		t.Fatal("second claim without amendment")
	}
	must(t, is.claim(pharA, "c2", true, time.Date(2026, 4, 5, 23, 0, 0, 0, time.UTC)))
	if is.Claim.ID != "c2" {
		t.Fatal("amendment not recorded")
	}
	if code(is.claim(pharA, "c3", true, time.Date(2026, 4, 6, 0, 0, 0, 0, time.UTC))) != CodeClaimAmendPeriod {
		t.Fatal("amendment after the claim period")
	}
}

func TestCancelItem(t *testing.T) {
	for _, c := range []struct {
		name   string
		is     *issue
		item   int
		by     party
		want   string
		status string // issue status after
	}{
		{"to be dispensed", mk(StatusToBeDispensed, nil, ItemToBeDispensed, ItemToBeDispensed), 0, drA, CancelDone, StatusToBeDispensed},
		{"last item", mk(StatusToBeDispensed, nil, ItemCancelled, ItemToBeDispensed), 1, drA, CancelDone, StatusCancelled},
		{"future", mk(StatusRepeatFuture, nil, ItemToBeDispensed), 0, drA, CancelDone, StatusCancelledFuture},
		{"with dispenser", mk(StatusWithDispenser, &pharA, ItemWithDispenser), 0, drA, CancelMarked, StatusWithDispenser},
		{"active", mk(StatusWithDispenserActive, &pharA, ItemPartial), 0, drA, CancelMarkedActive, StatusWithDispenserActive},
		{"active, item dispensed", mk(StatusWithDispenserActive, &pharA, ItemDispensed, ItemPartial), 0, drA, CancelDispensed, StatusWithDispenserActive},
		{"active, item not dispensed", mk(StatusWithDispenserActive, &pharA, ItemNotDispensed, ItemPartial), 0, drA, CancelNotDispensed, StatusWithDispenserActive},
		{"dispensed", mk(StatusDispensed, &pharA, ItemDispensed), 0, drA, CancelDispensed, StatusDispensed},
		{"claimed", mk(StatusClaimed, &pharA, ItemDispensed), 0, drA, CancelDispensed, StatusClaimed},
		{"not dispensed", mk(StatusNotDispensed, &pharA, ItemNotDispensed), 0, drA, CancelNotDispensed, StatusNotDispensed},
		{"expired", mk(StatusExpired, nil, ItemExpired), 0, drA, CancelExpired, StatusExpired},
		{"cancelled", mk(StatusCancelled, nil, ItemCancelled), 0, drA, CancelAlready, StatusCancelled},
		{"item cancelled", mk(StatusToBeDispensed, nil, ItemCancelled, ItemToBeDispensed), 0, drA, CancelAlready, StatusToBeDispensed},
	} {
		if got := c.is.cancelItem(c.item, c.by, "0001", t0); got != c.want || c.is.Status != c.status {
			t.Errorf("%s: got %s (status %s), want %s (%s)", c.name, got, c.is.Status, c.want, c.status)
		}
	}
	is := mk(StatusWithDispenser, &pharA, ItemWithDispenser)
	if is.cancelItem(0, drA, "0001", t0) != CancelMarked || is.cancelItem(0, drA, "0001", t0) != CancelMarked || is.cancelItem(0, drB, "0001", t0) != CancelOtherPrescribe {
		t.Fatal("repeated and competing cancellation requests")
	}
	// A dispense of the marked item clears the mark (the cancellation failed: it was dispensed).
	must(t, is.dispense(pharA, "dn", StatusDispensed, []itemUpdate{{"a", ItemDispensed}}, t0))
	if is.Items[0].CancelPending != nil {
		t.Fatal("mark kept on a dispensed item")
	}
}

func TestExpire(t *testing.T) {
	for _, c := range []struct {
		status string
		items  []string
		want   bool
	}{
		{StatusToBeDispensed, []string{ItemToBeDispensed, ItemCancelled}, true},
		{StatusWithDispenser, []string{ItemWithDispenser}, true},
		{StatusWithDispenserActive, []string{ItemPartial, ItemDispensed}, true},
		{StatusRepeatFuture, []string{ItemToBeDispensed}, true},
		{StatusDispensed, []string{ItemDispensed}, false},
		{StatusClaimed, []string{ItemDispensed}, false},
		{StatusCancelled, []string{ItemCancelled}, false},
		{StatusNotDispensed, []string{ItemNotDispensed}, false},
	} {
		is := mk(c.status, nil, c.items...)
		if is.expire(is.Expires.Add(-time.Second)) {
			t.Errorf("%s expired early", c.status)
		}
		if got := is.expire(is.Expires); got != c.want {
			t.Errorf("%s: expire = %v", c.status, got)
		}
		if c.want {
			if is.Status != StatusExpired || is.Items[0].Status != ItemExpired {
				t.Errorf("%s: %+v", c.status, is)
			}
			if len(is.Items) > 1 && is.Items[1].Status == ItemExpired {
				t.Errorf("%s: a final item expired", c.status)
			}
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The short-form cache keeps two generations: a pairing stays until a
// whole generation has been put after the one it was put in.
func TestShortFormsKeepTwoGenerations(t *testing.T) {
	var c shortForms
	if _, ok := c.get("A"); ok {
		t.Fatal("an empty cache found a pairing")
	}
	c.put("A", "long-a")
	for i := 0; i < shortFormsKept; i++ { // fills the first generation, then starts the second
		c.put(strconv.Itoa(i), "x")
	}
	if long, ok := c.get("A"); !ok || long != "long-a" {
		t.Fatalf("A after one generation: %q %v", long, ok)
	}
	for i := 0; i < shortFormsKept; i++ {
		c.put("b"+strconv.Itoa(i), "y")
	}
	if _, ok := c.get("A"); ok {
		t.Fatal("A kept beyond two generations")
	}
	if long, ok := c.get("b0"); !ok || long != "y" {
		t.Fatalf("b0: %q %v", long, ok)
	}
	if n := len(c.cur) + len(c.prev); n > 2*shortFormsKept {
		t.Fatalf("%d pairings kept, bound %d", n, 2*shortFormsKept)
	}
}
