package eps_test

import (
	"strings"
	"testing"
	"time"

	"github.com/openspine/openspine/internal/eps"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/store/storetest"
	"github.com/openspine/openspine/internal/trace"
)

// TestCancel: every cancellation outcome.
func TestCancel(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := setup(t, b)
		outcomes := func(res resp, status int, want ...string) {
			t.Helper()
			if got := cancelOutcomes(res); res.status != status || strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("cancel: %d %v, want %d %v: %.600s", res.status, got, status, want, res.raw)
			}
		}
		// Before release: cancelled (R-0001); again: already cancelled (R-0006).
		r := w.newRx(patNominated, 2)
		w.prescribe(r)
		res := w.cancel(r)
		outcomes(res, 200, eps.CancelDone, eps.CancelDone)
		if get(res.body, "entry", 0, "resource", "eventCoding", "code") != "prescription-order-response" {
			t.Fatalf("cancel answer: %.500s", res.raw)
		}
		w.expectStatus(r, eps.StatusCancelled, eps.ItemCancelled, eps.ItemCancelled)
		outcomes(w.cancel(r), 400, eps.CancelAlready, eps.CancelAlready)
		expect(t, w.release("FA565", r.short), 400, eps.CodePrescriptionCancelled)
		expect(t, w.release("FA565", ""), 200, eps.CodeNoMorePrescriptions)

		// One item of two: the rest is dispensed.
		r = w.newRx(patNominated, 2)
		w.prescribe(r)
		outcomes(w.cancel(r, r.items[0].id), 200, eps.CancelDone)
		w.expectStatus(r, eps.StatusToBeDispensed, eps.ItemCancelled, eps.ItemToBeDispensed)
		expect(t, w.release("FA565", ""), 200, "")
		expect(t, w.dispense(r, "FA565", eps.StatusDispensed, all(r, eps.ItemDispensed)), 400, eps.CodeInvalidLineStateTransition)
		expect(t, w.dispense(r, "FA565", eps.StatusDispensed, map[string]string{r.items[1].id: eps.ItemDispensed}), 200, "")
		w.expectStatus(r, eps.StatusDispensed, eps.ItemCancelled, eps.ItemDispensed)
		outcomes(w.cancel(r, r.items[1].id), 400, eps.CancelDispensed)

		// With a dispenser: marked (R-0002); another prescriber: R-0007; the
		// return makes the cancellation take effect.
		r = w.newRx(patNominated, 1)
		w.withDispenser(r, "FA565")
		outcomes(w.cancel(r), 200, eps.CancelMarked)
		nurse := *r
		nurse.role = roleNowak
		outcomes(w.cancel(&nurse), 400, eps.CancelOtherPrescribe)
		w.expectStatus(r, eps.StatusWithDispenser, eps.ItemWithDispenser)
		if !strings.Contains(string(fhir.Marshal(w.track(r))), "pendingCancellation") {
			t.Fatal("the pending cancellation is not tracked")
		}
		expect(t, w.giveBack(r, "FA565"), 200, "")
		w.expectStatus(r, eps.StatusCancelled, eps.ItemCancelled)

		// With dispenser - active: R-0003; then dispensed: the mark goes.
		r = w.newRx(patNominated, 2)
		w.withDispenser(r, "FA565")
		ids := r.itemIDs()
		expect(t, w.dispense(r, "FA565", eps.StatusWithDispenserActive, map[string]string{ids[0]: eps.ItemPartial, ids[1]: eps.ItemNotDispensed}), 200, "")
		outcomes(w.cancel(r), 400, eps.CancelMarkedActive, eps.CancelNotDispensed)

		// Not dispensed: R-0010. Expired: R-0005. Unknown: R-0008.
		r = w.newRx(patNominated, 1)
		w.withDispenser(r, "FA565")
		expect(t, w.dispense(r, "FA565", eps.StatusNotDispensed, all(r, eps.ItemNotDispensed)), 200, "")
		outcomes(w.cancel(r), 400, eps.CancelNotDispensed)
		r = w.newRx(patNominated, 1)
		w.prescribe(r)
		if n, err := w.svc.Expire(t.Context(), w.now().AddDate(0, 7, 0)); err != nil || n == 0 {
			t.Fatalf("expire: %d %v", n, err)
		}
		outcomes(w.cancel(r), 400, eps.CancelExpired)
		unknown := w.newRx(patNominated, 1)
		res = w.cancel(unknown)
		outcomes(res, 400, eps.CancelNotFound)
		if get(res.body, "issue", 0, "details", "coding", 0, "system") != eps.SystemStatusHistory {
			t.Fatalf("not found: %s", res.raw)
		}
		// An item that is not on the prescription.
		r = w.newRx(patNominated, 1)
		w.prescribe(r)
		other := *r
		other.items = []item{w.newRx(patNominated, 1).items[0]}
		outcomes(w.cancel(&other), 400, eps.CancelNotFound)
		// Only the prescribing organisation may cancel.
		okafor := *r
		okafor.role, okafor.ods = roleOkafor, "B82001"
		okafor.short = r.short
		res = w.cancel(&okafor)
		if res.status != 400 && res.status != 403 {
			t.Fatalf("cancel by another practice: %s", res.raw)
		}
		// A cancellation without a reason is refused.
		bnd := w.bundle(r, eps.EventOrderUpdate)
		delete(mrs(bnd)[0], "statusReason")
		expect(t, w.do("POST", "/$process-message", bnd), 400, fhir.CodeMissingValue)
	})
}

// TestReleaseRules: by id and by nomination, and every refusal.
func TestReleaseRules(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := setup(t, b)
		// No nominated pharmacy in PDS, or the prescriber directed it to no
		// one (0004): released only by its id, by any pharmacy.
		r1 := w.newRx(patNoNominee, 1)
		w.prescribe(r1)
		r2 := w.newRx(patNominated, 1)
		r2.site = "0004"
		w.prescribe(r2)
		expect(t, w.release("FA565", ""), 200, eps.CodeNoMorePrescriptions)
		expect(t, w.release("FQ442", r1.short), 200, "")
		res := w.release("FX123", r1.short)
		expect(t, res, 400, eps.CodeWithAnotherDispenser)
		if get(res.body, "contained", 0, "identifier", 0, "value") != "FQ442" || !strings.Contains(res.raw, `\"odsCode\":\"FQ442\"`) {
			t.Fatalf("with another dispenser: %s", res.raw)
		}
		expect(t, w.release("FQ442", r1.short), 400, eps.CodeInvalidStateTransition) // already with it
		expect(t, w.release("FQ442", r2.short), 200, "")

		// Ids.
		bad := r1.short[:len(r1.short)-1] + map[bool]string{true: "A", false: "B"}[r1.short[len(r1.short)-1] != 'A']
		expect(t, w.release("FQ442", bad), 400, eps.CodeInvalidCheckDigit)
		expect(t, w.release("FQ442", "nonsense"), 400, fhir.CodeInvalidValue)
		expect(t, w.release("FQ442", eps.NewShortFormID("Y12345")), 400, fhir.CodeResourceNotFound)
		body := releaseBody("FQ442", "")
		body["parameter"].([]any)[1].(map[string]any)["valueCode"] = "rejected"
		expect(t, w.do("POST", "/Task/$release", body), 400, fhir.CodeInvalidValue)
		body = releaseBody("", "")
		body["parameter"] = body["parameter"].([]any)[1:]
		expect(t, w.do("POST", "/Task/$release", body), 400, fhir.CodeMissingValue)

		// Nominated release: 25 per request, oldest first, then NO_MORE_PRESCRIPTIONS.
		var all []*rx
		for i := 0; i < 27; i++ {
			r := w.newRx(patNominatedFX, 1)
			w.prescribe(r)
			all = append(all, r)
		}
		res = w.release("FX123", "")
		expect(t, res, 200, "")
		first := passed(res)
		if len(first) != 25 || get(res.body, "parameter", 0, "resource", "total") != float64(25) {
			t.Fatalf("first nominated release: %d", len(first))
		}
		if get(first[0], "identifier", "value") != all[0].msg {
			t.Fatal("nominated release is not oldest first")
		}
		res = w.release("FX123", "")
		if len(passed(res)) != 2 {
			t.Fatalf("second nominated release: %d", len(passed(res)))
		}
		expect(t, w.release("FX123", ""), 200, eps.CodeNoMorePrescriptions)
		// A retried release (same X-Request-ID) answers the same prescriptions, releasing nothing more.
		r := w.newRx(patNominatedFX, 1)
		w.prescribe(r)
		rid := "3c1f7e2a-8b4d-4e6f-a1c2-d3e4f5a6b7c8"
		a := w.do("POST", "/Task/$release", releaseBody("FX123", ""), "X-Request-ID", rid)
		bb := w.do("POST", "/Task/$release", releaseBody("FX123", ""), "X-Request-ID", rid)
		if a.raw != bb.raw || len(passed(a)) != 1 {
			t.Fatal("a retried release is not answered the same")
		}
		var released int
		for _, e := range w.track(r)["extension"].([]any) {
			if get(e, "extension", 0, "valueCode") == "released" {
				released++
			}
		}
		if released != 1 {
			t.Fatalf("released %d times", released)
		}
		// A prescription the patient later nominates elsewhere stays with the nomination it was made with.
		w.prescribe(w.newRx(patNominated, 1))
		expect(t, w.release("FX123", ""), 200, eps.CodeNoMorePrescriptions)
	})
}

// TestReturnAndWithdraw: returns, withdrawals and their refusals.
func TestReturnAndWithdraw(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := setup(t, b)
		r := w.newRx(patNominated, 2)
		w.prescribe(r)
		expect(t, w.giveBack(r, "FA565"), 400, eps.CodeInvalidStateTransition) // not released
		expect(t, w.release("FA565", ""), 200, "")
		expect(t, w.giveBack(r, "FX123"), 400, eps.CodeWithAnotherDispenser)
		expect(t, w.giveBack(r, "FA565"), 200, "")
		w.expectStatus(r, eps.StatusToBeDispensed, eps.ItemToBeDispensed, eps.ItemToBeDispensed)
		// Back on the spine: releasable again, by nomination or by another pharmacy with the id.
		expect(t, w.release("FX123", r.short), 200, "")
		ids := r.itemIDs()
		expect(t, w.dispense(r, "FA565", eps.StatusDispensed, all(r, eps.ItemDispensed)), 400, eps.CodeWithAnotherDispenser)
		expect(t, w.dispense(r, "FX123", eps.StatusWithDispenserActive, map[string]string{ids[0]: eps.ItemPartial}), 200, "")
		expect(t, w.giveBack(r, "FX123"), 400, eps.CodeInvalidStateTransition) // partly dispensed

		// Withdraw undoes the last notification, one at a time.
		dn := w.dispenseBody(r, "FX123", eps.StatusDispensed, all(r, eps.ItemDispensed))
		expect(t, w.do("POST", "/$process-message", dn), 200, "")
		w.expectStatus(r, eps.StatusDispensed, eps.ItemDispensed, eps.ItemDispensed)
		expect(t, w.withdraw(r, "FX123", "0e5b1d3c-0000-4000-8000-000000000000"), 400, eps.CodeDispenseAmendMismatch)
		expect(t, w.withdraw(r, "FA565", ""), 400, eps.CodeWithAnotherDispenser)
		expect(t, w.withdraw(r, "FX123", get(dn, "identifier", "value").(string)), 200, "")
		w.expectStatus(r, eps.StatusWithDispenserActive, eps.ItemPartial, eps.ItemWithDispenser)
		expect(t, w.withdraw(r, "FX123", ""), 200, "")
		w.expectStatus(r, eps.StatusWithDispenser, eps.ItemWithDispenser, eps.ItemWithDispenser)
		expect(t, w.withdraw(r, "FX123", ""), 400, eps.CodeInvalidStateTransition) // nothing left to withdraw
		expect(t, w.claim(r, "FX123", false), 400, eps.CodeClaimNotDispensed)
		expect(t, w.dispense(r, "FX123", eps.StatusDispensed, all(r, eps.ItemDispensed)), 200, "")
		expect(t, w.claim(r, "FX123", false), 200, "")
		expect(t, w.withdraw(r, "FX123", ""), 400, eps.CodeInvalidStateTransition) // claimed
		expect(t, w.dispense(r, "FX123", eps.StatusDispensed, all(r, eps.ItemDispensed)), 400, eps.CodeInvalidStateTransition)

		// Malformed tasks.
		tb := taskBody(r, "FX123", "completed", "")
		expect(t, w.do("POST", "/Task", tb), 400, fhir.CodeInvalidValue)
		tb = taskBody(r, "FX123", "rejected", "")
		delete(tb, "statusReason")
		expect(t, w.do("POST", "/Task", tb), 400, fhir.CodeMissingValue)
		tb = taskBody(r, "FX123", "rejected", "")
		tb["groupIdentifier"].(map[string]any)["value"] = r.short[:19] + "+"
		if res := w.do("POST", "/Task", tb); res.status != 400 {
			t.Fatalf("bad id: %s", res.raw)
		}
		expect(t, w.do("POST", "/Claim", map[string]any{"resourceType": "Claim"}), 400, fhir.CodeMissingValue)
		// Dispense notifications that are not well formed.
		dn = w.dispenseBody(r, "FX123", eps.StatusDispensed, all(r, eps.ItemDispensed))
		delete(dn["entry"].([]any)[1].(map[string]any)["resource"].(map[string]any), "type")
		expect(t, w.do("POST", "/$process-message", dn), 400, fhir.CodeMissingValue)
		dn = w.dispenseBody(r, "FX123", eps.StatusDispensed, map[string]string{})
		expect(t, w.do("POST", "/$process-message", dn), 400, fhir.CodeMissingValue)
		r3 := w.newRx(patNominated, 1)
		w.prescribe(r3)
		expect(t, w.dispense(r3, "FA565", eps.StatusDispensed, all(r3, eps.ItemDispensed)), 400, eps.CodeInvalidStateTransition) // not released
		other := *r3
		other.items = []item{w.newRx(patNominated, 1).items[0]}
		expect(t, w.release("FA565", r3.short), 200, "")
		expect(t, w.dispense(&other, "FA565", eps.StatusDispensed, all(&other, eps.ItemDispensed)), 400, eps.CodeItemNotFound)
		expect(t, w.dispense(r3, "FA565", eps.StatusClaimed, all(r3, eps.ItemDispensed)), 400, eps.CodeInvalidStateTransition)
		expect(t, w.dispense(r3, "FA565", eps.StatusDispensed, all(r3, eps.ItemCancelled)), 400, eps.CodeInvalidLineStateTransition)
	})
}

// TestRepeatDispensing: N issues released one after another, each after
// the previous is dispensed and once the supply is due.
func TestRepeatDispensing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := setup(t, b)
		r := w.newRx(patNominated, 1)
		r.course, r.repeats, r.supplyDays = "continuous-repeat-dispensing", 2, 28
		w.prescribe(r)
		if got := strings.Join(w.issues(r), ","); got != "0001,9000,9000" {
			t.Fatalf("issues: %s", got)
		}
		res := w.release("FA565", "")
		expect(t, res, 200, "")
		rep := get(passed(res)[0], "entry", 0, "resource", "extension", 0)
		if get(rep, "extension", 1, "valueUnsignedInt") != float64(1) || get(rep, "extension", 0, "valueUnsignedInt") != float64(3) {
			t.Fatalf("repeat information: %v", rep)
		}
		expect(t, w.dispense(r, "FA565", eps.StatusDispensed, all(r, eps.ItemDispensed)), 200, "")
		if got := strings.Join(w.issues(r), ","); got != "0006,0001,9000" {
			t.Fatalf("issues: %s", got)
		}
		// Issue 2 is due 7 days before issue 1's supply runs out.
		expect(t, w.release("FA565", ""), 200, eps.CodeNoMorePrescriptions)
		expect(t, w.release("FA565", r.short), 400, eps.CodeInvalidStateTransition)
		// Withdrawing issue 1's notification closes issue 2 again.
		expect(t, w.withdraw(r, "FA565", ""), 200, "")
		if got := strings.Join(w.issues(r), ","); got != "0002,9000,9000" {
			t.Fatalf("issues after withdrawal: %s", got)
		}
		expect(t, w.dispense(r, "FA565", eps.StatusDispensed, all(r, eps.ItemDispensed)), 200, "")
		expect(t, w.claim(r, "FA565", false), 200, "")
		w.clock.Add(21 * 24 * time.Hour)
		res = w.release("FA565", "")
		expect(t, res, 200, "")
		if get(passed(res)[0], "entry", 0, "resource", "extension", 0, "extension", 1, "valueUnsignedInt") != float64(2) {
			t.Fatal("issue 2 not released as issue 2")
		}
		// Issue 2 released: issue 1's notification can no longer be withdrawn... it is claimed anyway.
		expect(t, w.dispense(r, "FA565", eps.StatusDispensed, all(r, eps.ItemDispensed)), 200, "")
		expect(t, w.claim(r, "FA565", false), 200, "")
		if got := strings.Join(w.issues(r), ","); got != "0008,0008,0001" {
			t.Fatalf("issues: %s", got)
		}
		// Cancelling now cancels the rest.
		if got := cancelOutcomes(w.cancel(r)); strings.Join(got, ",") != eps.CancelDone {
			t.Fatalf("cancel: %v", got)
		}
		if got := strings.Join(w.issues(r), ","); got != "0008,0008,0005" {
			t.Fatalf("issues after cancellation: %s", got)
		}

		// A repeat whose next issue was released before the withdrawal of the previous notification.
		r = w.newRx(patNoNominee, 1)
		r.course, r.repeats = "continuous-repeat-dispensing", 1
		w.withDispenser(r, "FA565")
		expect(t, w.dispense(r, "FA565", eps.StatusDispensed, all(r, eps.ItemDispensed)), 200, "")
		expect(t, w.release("FQ442", r.short), 200, "") // no supply duration: due at once
		expect(t, w.withdraw(r, "FA565", ""), 400, eps.CodeInvalidStateTransition)
		// Cancelling with issue 2 at a dispenser marks it.
		if got := cancelOutcomes(w.cancel(r)); strings.Join(got, ",") != eps.CancelMarked {
			t.Fatalf("cancel: %v", got)
		}
	})
}

// TestExpiry: the sweep expires what is past its validity, on time.
func TestExpiry(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := setup(t, b)
		now := w.now()
		r := w.newRx(patNominated, 1) // 6 months
		w.prescribe(r)
		cd := w.newRx(patNominated, 1) // a Schedule 2 controlled drug: 28 days
		cd.items[0].schedule, cd.items[0].words = "CD2", "one hundred"
		w.prescribe(cd)
		short := w.newRx(patNominated, 1) // a validity period of 10 days
		short.validTo = now.AddDate(0, 0, 10).Format("2006-01-02")
		w.prescribe(short)
		held := w.newRx(patNoNominee, 1)
		w.prescribe(held)
		expect(t, w.release("FQ442", held.short), 200, "")
		erd := w.newRx(patNoNominee, 1)
		erd.course, erd.repeats = "continuous-repeat-dispensing", 3
		w.prescribe(erd)
		cd4 := w.newRx(patNoNominee, 1) // repeat dispensing of a Schedule 4 drug: each issue 28 days
		cd4.course, cd4.repeats = "continuous-repeat-dispensing", 1
		cd4.items[0].schedule = "CD4-1"
		w.prescribe(cd4)

		if n, err := w.svc.Expire(t.Context(), now.AddDate(0, 0, 9)); err != nil || n != 0 {
			t.Fatalf("day 9: %d %v", n, err)
		}
		if n, err := w.svc.Expire(t.Context(), now.AddDate(0, 0, 12)); err != nil || n != 1 {
			t.Fatalf("day 12: %d %v", n, err)
		}
		w.expectStatus(short, eps.StatusExpired, eps.ItemExpired)
		if n, err := w.svc.Expire(t.Context(), now.AddDate(0, 0, 29)); err != nil || n != 2 {
			t.Fatalf("day 29: %d %v", n, err)
		}
		w.expectStatus(cd, eps.StatusExpired)
		if got := strings.Join(w.issues(cd4), ","); got != "0004,0001" {
			t.Fatalf("repeat dispensing of a Schedule 4 drug after 28 days: %s", got)
		}
		w.expectStatus(r, eps.StatusToBeDispensed)
		if n, err := w.svc.Expire(t.Context(), now.AddDate(0, 6, 1)); err != nil || n != 2 {
			t.Fatalf("month 6: %d %v", n, err)
		}
		w.expectStatus(r, eps.StatusExpired)
		w.expectStatus(held, eps.StatusExpired, eps.ItemExpired)
		expect(t, w.release("FA565", r.short), 400, eps.CodePrescriptionExpired)
		expect(t, w.dispense(held, "FQ442", eps.StatusDispensed, all(held, eps.ItemDispensed)), 400, eps.CodePrescriptionExpired)
		if n, err := w.svc.Expire(t.Context(), now.AddDate(1, 0, 1)); err != nil || n != 2 {
			t.Fatalf("year 1: %d %v", n, err)
		}
		if got := strings.Join(w.issues(erd), ","); got != "0004,0004,0004,0004" {
			t.Fatalf("repeat dispensing issues: %s", got)
		}
		if n, _ := w.svc.Expire(t.Context(), now.AddDate(2, 0, 0)); n != 0 {
			t.Fatalf("expired twice: %d", n)
		}
		// Run sweeps on its own clock.
		late := w.newRx(patNominated, 1)
		late.validTo = now.AddDate(0, 0, 1).Format("2006-01-02")
		w.prescribe(late)
		w.clock.Add(72 * time.Hour)
		w.svc.ExpiryInterval = 10 * time.Millisecond
		ctx, cancel := contextWithTimeout(t, 5*time.Second)
		defer cancel()
		go w.svc.Run(ctx)
		for {
			if st, _ := w.status(late); st == eps.StatusExpired {
				break
			}
			if ctx.Err() != nil {
				t.Fatal("Run did not expire the prescription")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestRetriesAnsweredAfterTheStateMovedOn: writes are not looked up
// before they are applied, so a retry of one applied before meets the
// prescription as it is now; whether that state refuses it or not, the
// retry is answered with the first answer, and a message reusing another
// message's identifier is refused as a duplicate.
func TestRetriesAnsweredAfterTheStateMovedOn(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := setup(t, b)
		r := w.newRx(patNominated, 1)
		w.withDispenser(r, "FA565")
		rid := trace.NewUUID()
		dn := w.dispenseBody(r, "FA565", eps.StatusDispensed, all(r, eps.ItemDispensed))
		first := w.do("POST", "/$process-message", dn, "X-Request-ID", rid)
		expect(t, first, 200, "")
		expect(t, w.claim(r, "FA565", false), 200, "")
		w.expectStatus(r, eps.StatusClaimed)

		same := func(what string, res resp) {
			t.Helper()
			expect(t, res, 200, "")
			if res.raw != first.raw {
				t.Fatalf("%s: answered %s, the first answer was %s", what, res.raw, first.raw)
			}
		}
		// claimed: a dispense-notification would now be refused
		same("the same request again", w.do("POST", "/$process-message", dn, "X-Request-ID", rid))
		same("the same message under a new X-Request-ID", w.do("POST", "/$process-message", dn))
		same("the same X-Request-ID with a body that does not decode", w.do("POST", "/$process-message", "{not json", "X-Request-ID", rid))

		// another message with the dispense's identifier: a duplicate,
		// whatever else the state would say of it
		other := w.dispenseBody(r, "FA565", eps.StatusDispensed, all(r, eps.ItemDispensed))
		other["identifier"] = dn["identifier"]
		expect(t, w.do("POST", "/$process-message", other), 409, fhir.CodeDuplicate)
		// and one the state would accept: a new prescription's order
		// under an order's identifier
		r2 := w.newRx(patNominated, 1)
		w.prescribe(r2)
		reused := w.signed(w.newRx(patNominated, 1))
		reused["identifier"] = w.signed(r2)["identifier"]
		expect(t, w.do("POST", "/$process-message", reused), 409, fhir.CodeDuplicate)

		if n := len(w.track(r)["extension"].([]any)); n != 4 {
			t.Fatalf("%d events, want 4 (created, released, dispensed, claimed): a retry was applied", n)
		}
		w.expectStatus(r, eps.StatusClaimed)
	})
}

// TestDispenseAmendment: a dispense notification with replacementOf
// replaces the last one, undoing it and applying itself in one change; it
// is refused, leaving everything as it was, when it does not name the last
// notification, comes from another dispenser, makes a transition the
// rules do not allow, or comes after the claim.
func TestDispenseAmendment(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := setup(t, b)
		r := w.newRx(patNominated, 2)
		w.withDispenser(r, "FA565")
		ids := r.itemIDs()
		amend := func(ods, status string, items map[string]string, replaces string) map[string]any {
			dn := w.dispenseBody(r, ods, status, items)
			h := dn["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
			h["extension"] = []any{map[string]any{"url": eps.ExtReplacementOf, "valueIdentifier": map[string]any{"system": eps.SystemUUID, "value": replaces}}}
			return dn
		}
		idOf := func(dn map[string]any) string { return get(dn, "identifier", "value").(string) }

		dn1 := w.dispenseBody(r, "FA565", eps.StatusWithDispenserActive, map[string]string{ids[0]: eps.ItemPartial})
		expect(t, w.do("POST", "/$process-message", dn1), 200, "")
		w.expectStatus(r, eps.StatusWithDispenserActive, eps.ItemPartial, eps.ItemWithDispenser)

		// the partial supply is amended to a complete one
		dn2 := amend("FA565", eps.StatusDispensed, all(r, eps.ItemDispensed), strings.ToUpper(idOf(dn1)))
		expect(t, w.do("POST", "/$process-message", dn2), 200, "")
		w.expectStatus(r, eps.StatusDispensed, eps.ItemDispensed, eps.ItemDispensed)

		// refusals leave the prescription as it was
		expect(t, w.do("POST", "/$process-message", amend("FA565", eps.StatusNotDispensed, all(r, eps.ItemNotDispensed), idOf(dn1))), 400, eps.CodeDispenseAmendMismatch)
		expect(t, w.do("POST", "/$process-message", amend("FX123", eps.StatusNotDispensed, all(r, eps.ItemNotDispensed), idOf(dn2))), 400, eps.CodeWithAnotherDispenser)
		expect(t, w.do("POST", "/$process-message", amend("FA565", eps.StatusDispensed, all(r, eps.ItemCancelled), idOf(dn2))), 400, eps.CodeInvalidLineStateTransition)
		expect(t, w.do("POST", "/$process-message", amend("FA565", eps.StatusDispensed, all(r, eps.ItemDispensed), "not-a-uuid")), 400, fhir.CodeInvalidValue)
		w.expectStatus(r, eps.StatusDispensed, eps.ItemDispensed, eps.ItemDispensed)

		// amended again: nothing was dispensed after all
		dn3 := amend("FA565", eps.StatusNotDispensed, all(r, eps.ItemNotDispensed), idOf(dn2))
		expect(t, w.do("POST", "/$process-message", dn3), 200, "")
		w.expectStatus(r, eps.StatusNotDispensed, eps.ItemNotDispensed, eps.ItemNotDispensed)
		// a retry of the amendment (same message) is answered, not applied again
		expect(t, w.do("POST", "/$process-message", dn3), 200, "")
		w.expectStatus(r, eps.StatusNotDispensed, eps.ItemNotDispensed, eps.ItemNotDispensed)
		// the history keeps the amendments and what they replaced
		var amended []string
		for _, e := range w.track(r)["extension"].([]any) {
			ex := e.(map[string]any)["extension"].([]any)
			if get(ex, 0, "valueCode") == "dispense-amended" {
				for _, x := range ex {
					if x.(map[string]any)["url"] == "replacementOf" {
						amended = append(amended, get(x, "valueIdentifier", "value").(string))
					}
				}
			}
		}
		if strings.Join(amended, ",") != strings.ToUpper(idOf(dn1))+","+idOf(dn2) {
			t.Fatalf("amendments in the history: %v", amended)
		}
		// a withdrawal now undoes the amendment, back to before the first notification it replaced
		expect(t, w.withdraw(r, "FA565", idOf(dn3)), 200, "")
		w.expectStatus(r, eps.StatusWithDispenser, eps.ItemWithDispenser, eps.ItemWithDispenser)

		// once claimed, a notification can no longer be amended
		dn4 := w.dispenseBody(r, "FA565", eps.StatusDispensed, all(r, eps.ItemDispensed))
		expect(t, w.do("POST", "/$process-message", dn4), 200, "")
		expect(t, w.claim(r, "FA565", false), 200, "")
		expect(t, w.do("POST", "/$process-message", amend("FA565", eps.StatusNotDispensed, all(r, eps.ItemNotDispensed), idOf(dn4))), 400, eps.CodeInvalidStateTransition)
		w.expectStatus(r, eps.StatusClaimed)
	})
}
