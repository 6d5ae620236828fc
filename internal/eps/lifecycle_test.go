package eps_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/openspine/openspine/internal/store"
	"strings"
	"testing"

	"github.com/openspine/openspine/internal/eps"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store/storetest"
)

// TestLifecycle: prepare, sign, send, nominated release, partial then full
// dispense, claim, claim amendment; the released prescription verifies.
func TestLifecycle(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := setup(t, b)
		r := w.newRx(patNominated, 2)
		bnd := w.bundle(r, eps.EventOrder)
		digest, when, alg := w.prepare(bnd)
		if len(digest) != 44 || alg != "ES256" || when == "" {
			t.Fatalf("prepare: %s %s %s", digest, when, alg)
		}
		// The same message prepared again gives the same digest at the same time.
		if d2, w2, _ := w.prepare(bnd); w2 == when && d2 != digest {
			t.Fatal("prepare is not deterministic")
		}
		addSignature(bnd, signWith(r.role, digest), when)
		res := w.do("POST", "/$process-message", bnd)
		expect(t, res, 200, "")
		if get(res.body, "issue", 0, "code") != "informational" {
			t.Fatalf("order answer: %s", res.raw)
		}
		w.expectStatus(r, eps.StatusToBeDispensed, eps.ItemToBeDispensed, eps.ItemToBeDispensed)

		// Nominated release by the patient's pharmacy (FA565): only it sees it.
		expect(t, w.release("FX123", ""), 200, eps.CodeNoMorePrescriptions)
		res = w.release("FA565", "")
		expect(t, res, 200, "")
		ps := passed(res)
		if len(ps) != 1 || get(ps[0], "identifier", "value") != r.msg {
			t.Fatalf("release: %s", res.raw)
		}
		w.expectStatus(r, eps.StatusWithDispenser, eps.ItemWithDispenser, eps.ItemWithDispenser)
		expect(t, w.release("FA565", ""), 200, eps.CodeNoMorePrescriptions)

		// The released prescription still verifies: its signed content is unchanged.
		v := w.do("POST", "/$verify-signature", ps[0])
		expect(t, v, 200, "")
		if get(v.body, "parameter", 0, "part", 1, "resource", "issue", 0, "diagnostics") != "Signature is valid." {
			t.Fatalf("verify: %s", v.raw)
		}

		// Partial dispense, then the rest.
		ids := r.itemIDs()
		expect(t, w.dispense(r, "FA565", eps.StatusWithDispenserActive, map[string]string{ids[0]: eps.ItemPartial, ids[1]: eps.ItemDispensed}), 200, "")
		w.expectStatus(r, eps.StatusWithDispenserActive, eps.ItemPartial, eps.ItemDispensed)
		expect(t, w.dispense(r, "FA565", eps.StatusDispensed, map[string]string{ids[0]: eps.ItemDispensed}), 200, "")
		w.expectStatus(r, eps.StatusDispensed, eps.ItemDispensed, eps.ItemDispensed)

		// Claim; a second claim needs to be an amendment.
		expect(t, w.claim(r, "FX123", false), 400, eps.CodeWithAnotherDispenser)
		expect(t, w.claim(r, "FA565", false), 200, "")
		w.expectStatus(r, eps.StatusClaimed)
		expect(t, w.claim(r, "FA565", false), 400, eps.CodeInvalidStateTransition)
		expect(t, w.claim(r, "FA565", true), 200, "")
		w.clock.Add(45 * 24 * 3600e9)
		expect(t, w.claim(r, "FA565", true), 400, eps.CodeClaimAmendPeriod)

		// The history tells the whole story.
		var events []string
		for _, e := range w.track(r)["extension"].([]any) {
			events = append(events, get(e, "extension", 0, "valueCode").(string))
		}
		if got := strings.Join(events, ","); got != "created,released,dispense-notification,dispense-notification,claimed,claim-amended" {
			t.Fatalf("history: %s", got)
		}

		// The stored records are strict FHIR JSON with their index rules
		// registered on the engine: spine reindex rebuilds the same rows.
		def, err := w.svc.Engine().Type("_Prescription")
		if err != nil {
			t.Fatal(err)
		}
		r2 := w.newRx(patNominated, 1)
		w.prescribe(r2)
		n, err := w.st.Reindex(t.Context(), "_Prescription", func(body []byte) ([]search.Entry, error) {
			res, err := fhir.DecodeResource(body, "_Prescription")
			if err != nil {
				return nil, err
			}
			return def.IndexEntries(res), nil
		})
		if err != nil || n != 2 {
			t.Fatalf("reindex: %d %v", n, err)
		}
		if res := w.release("FA565", ""); len(passed(res)) != 1 || get(passed(res)[0], "identifier", "value") != r2.msg {
			t.Fatalf("nominated release after reindex: %s", res.raw)
		}
	})
}

// TestNotDispensed: a prescription none of whose items could be supplied
// ends Not Dispensed, and is claimed.
func TestNotDispensed(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := setup(t, b)
		r := w.newRx(patNoNominee, 2)
		w.withDispenser(r, "FQ442")
		expect(t, w.dispense(r, "FQ442", eps.StatusDispensed, all(r, eps.ItemNotDispensed)), 400, eps.CodeInvalidStateTransition)
		expect(t, w.dispense(r, "FQ442", eps.StatusNotDispensed, all(r, eps.ItemNotDispensed)), 200, "")
		w.expectStatus(r, eps.StatusNotDispensed, eps.ItemNotDispensed, eps.ItemNotDispensed)
		expect(t, w.release("FA565", r.short), 400, eps.CodePrescriptionDispensed)
		other := *r
		other.items = append([]item{w.newRx(patNoNominee, 1).items[0]}, r.items...)
		expect(t, w.claim(&other, "FQ442", false), 400, eps.CodeItemNotFound)
		expect(t, w.claim(r, "FQ442", false), 200, "")
		w.expectStatus(r, eps.StatusClaimed)
	})
}

// TestOrderKeptApart: the signed order is stored once, apart from the
// prescription's state that every message rewrites, and a release hands
// it out unchanged; a prescription stored with its order inside (before
// the two were kept apart) is released the same way.
func TestOrderKeptApart(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := setup(t, b)
		ctx := context.Background()
		// prescribed returns the signed order, its signature, and the
		// stored state and order records.
		prescribed := func(r *rx) (signed map[string]any, sig string, state, order store.Record) {
			t.Helper()
			signed = w.signed(r)
			expect(t, w.do("POST", "/$process-message", signed), 200, "")
			sig = get(signed, "entry", len(signed["entry"].([]any))-1, "resource", "signature", 0, "data").(string)
			var err error
			if state, err = w.st.Read(ctx, "_Prescription", r.long); err != nil {
				t.Fatal(err)
			}
			if order, err = w.st.Read(ctx, "_PrescriptionOrder", r.long); err != nil {
				t.Fatal(err)
			}
			return signed, sig, state, order
		}
		r := w.newRx(patNoNominee, 1)
		signed, sig, state, order := prescribed(r)
		if strings.Contains(string(state.Body), sig) || strings.Contains(string(state.Body), `"order"`) {
			t.Fatalf("the prescription's state holds the order: %s", state.Body)
		}
		if !strings.Contains(string(order.Body), sig) {
			t.Fatalf("the stored order lacks its signature: %s", order.Body)
		}
		released := func(r *rx) map[string]any {
			t.Helper()
			res := w.release("FA565", r.short)
			expect(t, res, 200, "")
			ps := passed(res)
			if len(ps) != 1 {
				t.Fatalf("released %d prescriptions: %s", len(ps), res.raw)
			}
			return ps[0]
		}
		got := released(r)
		if mrs(got)[0]["id"] != mrs(signed)[0]["id"] || !strings.Contains(fmt.Sprint(got), sig) {
			t.Fatalf("the released order is not the signed one: %v", got)
		}

		// A prescription stored before: its order inside, none apart.
		old := w.newRx(patNoNominee, 1)
		_, oldSig, st, ord := prescribed(old)
		var doc map[string]any
		if err := json.Unmarshal(st.Body, &doc); err != nil {
			t.Fatal(err)
		}
		doc["order"] = json.RawMessage(ord.Body)
		legacy, _ := json.Marshal(doc)
		if _, err := w.st.Apply(ctx, []store.Change{
			{Op: store.Update, Type: "_Prescription", ID: old.long, IfMatch: st.Version, Render: func(int64, time.Time) ([]byte, error) { return legacy, nil }},
			{Op: store.Delete, Type: "_PrescriptionOrder", ID: old.long},
		}); err != nil {
			t.Fatal(err)
		}
		if got := released(old); !strings.Contains(fmt.Sprint(got), oldSig) {
			t.Fatalf("the embedded order was not released: %v", got)
		}
		// and it keeps its order through the next message
		expect(t, w.dispense(old, "FA565", eps.StatusDispensed, map[string]string{old.itemIDs()[0]: eps.ItemDispensed}), 200, "")
		if st, err := w.st.Read(ctx, "_Prescription", old.long); err != nil || !strings.Contains(string(st.Body), oldSig) {
			t.Fatalf("the embedded order was lost: %v", err)
		}
	})
}
