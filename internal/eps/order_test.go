package eps_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openspine/openspine/internal/eps"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/store/storetest"
	"github.com/openspine/openspine/internal/trace"
)

// mrs returns the MedicationRequests of a message.
func mrs(b map[string]any) []map[string]any {
	var out []map[string]any
	for _, e := range b["entry"].([]any) {
		res := e.(map[string]any)["resource"].(map[string]any)
		if res["resourceType"] == "MedicationRequest" {
			out = append(out, res)
		}
	}
	return out
}

// TestOrderRefusals: every way a prescription-order is refused.
func TestOrderRefusals(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := setup(t, b)
		send := func(bnd map[string]any) resp { return w.do("POST", "/$process-message", bnd) }

		// Signatures.
		r := w.newRx(patNominated, 1)
		expect(t, send(w.bundle(r, eps.EventOrder)), 400, eps.CodeMissingSignature)
		bnd := w.signed(r)
		mrs(bnd)[0]["dosageInstruction"] = []any{map[string]any{"text": "Two tablets four times a day"}} // changed after signing
		res := send(bnd)
		expect(t, res, 400, fhir.CodeInvalidValue)
		if !strings.Contains(res.raw, "Signature is invalid") || !strings.Contains(res.raw, "Provenance.signature.data") {
			t.Fatalf("tampered: %s", res.raw)
		}
		bnd = w.signed(r)
		mrs(bnd)[0]["dispenseRequest"].(map[string]any)["quantity"].(map[string]any)["value"] = "1000"
		expect(t, send(bnd), 400, fhir.CodeInvalidValue)
		// Signed with another prescriber's key.
		bnd = w.bundle(r, eps.EventOrder)
		digest, when, _ := w.prepare(bnd)
		addSignature(bnd, signWith(roleNowak, digest), when)
		expect(t, send(bnd), 400, fhir.CodeInvalidValue)
		// A signature over another time than the one signed.
		bnd = w.bundle(r, eps.EventOrder)
		digest, when, _ = w.prepare(bnd)
		addSignature(bnd, signWith(r.role, digest), strings.Replace(when, ":", ":0", 0)+"")
		last := bnd["entry"].([]any)[len(bnd["entry"].([]any))-1].(map[string]any)["resource"].(map[string]any)
		last["signature"].([]any)[0].(map[string]any)["when"] = "2020-01-01T00:00:00+00:00"
		expect(t, send(bnd), 400, fhir.CodeInvalidValue)
		// Garbage, and an XML-DSig as the live service takes.
		bnd = w.bundle(r, eps.EventOrder)
		_, when, _ = w.prepare(bnd)
		addSignature(bnd, base64.StdEncoding.EncodeToString([]byte("<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"/>")), when)
		expect(t, send(bnd), 400, fhir.CodeInvalidValue)
		// RSA (raw PKCS#1 v1.5) signatures verify too.
		w.prescribe(w.newRx(patNominated, 1).by(roleOkafor))

		// Ids.
		r = w.newRx(patNominated, 1)
		r.short = r.short[:len(r.short)-1] + map[bool]string{true: "A", false: "B"}[r.short[len(r.short)-1] != 'A']
		expect(t, send(w.bundle(r, eps.EventOrder)), 400, eps.CodeInvalidCheckDigit)
		r = w.newRx(patNominated, 1)
		r.short = eps.NewShortFormID("B82001") // another practice's id
		expect(t, send(w.bundle(r, eps.EventOrder)), 400, fhir.CodeInvalidValue)
		r = w.newRx(patNominated, 1)
		r.long = "not-a-uuid"
		expect(t, send(w.bundle(r, eps.EventOrder)), 400, fhir.CodeInvalidValue)

		// Duplicates and retries.
		r = w.newRx(patNominated, 1)
		bnd = w.signed(r)
		expect(t, send(bnd), 200, "")
		res = send(bnd) // the same message again (a new X-Request-ID): answered, not applied twice
		expect(t, res, 200, "")
		if n := len(w.track(r)["extension"].([]any)); n != 1 {
			t.Fatalf("a retried order was applied again: %d events", n)
		}
		r.msg = "" // a new message with the same prescription id
		expect(t, send(w.signed(r)), 400, eps.CodeDuplicatePrescriptionID)
		r2 := w.newRx(patNominated, 1)
		r2.short = r.short // same short form, another long form
		expect(t, send(w.signed(r2)), 400, eps.CodeDuplicatePrescriptionID)
		bnd2 := w.signed(w.newRx(patNominated, 1))
		bnd2["identifier"] = bnd["identifier"] // a different message reusing a message id
		expect(t, send(bnd2), 409, fhir.CodeDuplicate)
		// The same X-Request-ID is answered with the first answer.
		rid := "0b3a9c3e-5d2f-4a8e-9f1c-2b7d4e6a8c01"
		r3 := w.newRx(patNominated, 1)
		bnd3 := w.signed(r3)
		expect(t, w.do("POST", "/$process-message", bnd3, "X-Request-ID", rid), 200, "")
		expect(t, w.do("POST", "/$process-message", bnd3, "X-Request-ID", rid), 200, "")

		// Patient and prescriber.
		expect(t, send(w.signed(w.newRx(patUnknown, 1))), 400, fhir.CodeResourceNotFound)
		expect(t, send(w.signed(w.newRx(patDeceased, 1))), 400, eps.CodePatientDeceased)
		r = w.newRx(patNominated, 1)
		r.role = "555021936777" // not in the directory
		expect(t, w.do("POST", "/$prepare", w.bundle(r, eps.EventOrder)), 400, fhir.CodeResourceNotFound)
		expect(t, w.do("POST", "/$prepare", w.bundle(w.newRx(patNominated, 1).by(roleOBrien), eps.EventOrder)), 403, fhir.CodeAccessDenied)
		expect(t, w.do("POST", "/$prepare", w.bundle(w.newRx(patNominated, 1).by(roleRetired), eps.EventOrder)), 403, fhir.CodeAccessDenied)
		r = w.newRx(patNominated, 1).by(roleOkafor)
		r.ods = "Y12345"
		r.setIDs()
		expect(t, w.do("POST", "/$prepare", w.bundle(r, eps.EventOrder)), 400, fhir.CodeInvalidValue) // role of another organisation

		// Content.
		for name, c := range map[string]struct {
			mutate func(r *rx, b map[string]any)
			status int
			code   string
		}{
			"no items":       {func(r *rx, b map[string]any) { b["entry"] = []any{b["entry"].([]any)[0]} }, 400, eps.CodeInvalidItemCount},
			"five items":     {func(r *rx, b map[string]any) {}, 400, eps.CodeInvalidItemCount},
			"duplicate item": {func(r *rx, b map[string]any) { mrs(b)[1]["identifier"] = mrs(b)[0]["identifier"] }, 400, eps.CodeDuplicateItemID},
			"not dm+d": {func(r *rx, b map[string]any) {
				mrs(b)[0]["medicationCodeableConcept"] = cc("http://example.org/drugs", "123456", "X")
			}, 400, fhir.CodeMissingValue},
			"bad dm+d code": {func(r *rx, b map[string]any) {
				mrs(b)[0]["medicationCodeableConcept"] = cc(eps.SystemSNOMED, "paracetamol", "X")
			}, 400, fhir.CodeInvalidValue},
			"no display": {func(r *rx, b map[string]any) {
				mrs(b)[0]["medicationCodeableConcept"] = cc(eps.SystemDMD, "322237000", "")
			}, 400, fhir.CodeMissingValue},
			"no dosage":    {func(r *rx, b map[string]any) { delete(mrs(b)[0], "dosageInstruction") }, 400, fhir.CodeMissingValue},
			"no quantity":  {func(r *rx, b map[string]any) { delete(mrs(b)[0]["dispenseRequest"].(map[string]any), "quantity") }, 400, fhir.CodeInvalidValue},
			"no site type": {func(r *rx, b map[string]any) { delete(mrs(b)[0]["dispenseRequest"].(map[string]any), "extension") }, 400, fhir.CodeMissingValue},
			"status":       {func(r *rx, b map[string]any) { mrs(b)[0]["status"] = "draft" }, 400, fhir.CodeInvalidValue},
			"two patients": {func(r *rx, b map[string]any) { mrs(b)[1]["subject"] = map[string]any{"reference": "urn:uuid:x"} }, 400, fhir.CodeInvalidValue},
			"bad NHS number": {func(r *rx, b map[string]any) {
				patientOf(b)["identifier"] = []any{map[string]any{"system": eps.SystemNHSNumber, "value": "9000000008"}}
			}, 400, fhir.CodeInvalidResourceID},
			"no header first": {func(r *rx, b map[string]any) { e := b["entry"].([]any); e[0], e[1] = e[1], e[0] }, 400, eps.CodeInvalidMessage},
			"unknown event": {func(r *rx, b map[string]any) {
				b["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)["eventCoding"] = map[string]any{"code": "nonsense"}
			}, 400, fhir.CodeInvalidValue},
			"not a message": {func(r *rx, b map[string]any) { b["type"] = "collection" }, 400, fhir.CodeInvalidValue},
			"no message id": {func(r *rx, b map[string]any) { delete(b, "identifier") }, 400, fhir.CodeMissingValue},
			"therapy mismatch": {func(r *rx, b map[string]any) {
				mrs(b)[1]["courseOfTherapyType"] = cc("http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy", "continuous", "")
			}, 400, fhir.CodeInvalidValue},
		} {
			r := w.newRx(patNominated, 2)
			if name == "five items" {
				r = w.newRx(patNominated, 5)
			}
			bnd := w.bundle(r, eps.EventOrder)
			c.mutate(r, bnd)
			if res := send(bnd); res.status != c.status || code(res) != c.code {
				t.Errorf("%s: got %d %s, want %d %s: %.300s", name, res.status, code(res), c.status, c.code, res.raw)
			}
		}
		// Repeat counts and controlled drugs.
		r = w.newRx(patNominated, 1)
		r.repeats = 2
		expect(t, send(w.bundle(r, eps.EventOrder)), 400, eps.CodeInvalidRepeatCount) // acute with repeats
		r = w.newRx(patNominated, 2)
		r.course, r.repeats = "continuous-repeat-dispensing", 2
		bnd = w.bundle(r, eps.EventOrder)
		mrs(bnd)[1]["dispenseRequest"].(map[string]any)["numberOfRepeatsAllowed"] = jsonNumber("3")
		expect(t, send(bnd), 400, eps.CodeMismatchRepeatCount)
		r.repeats = 99
		expect(t, send(w.bundle(r, eps.EventOrder)), 400, eps.CodeInvalidRepeatCount)
		r.repeats = -1
		expect(t, send(w.bundle(r, eps.EventOrder)), 400, fhir.CodeMissingValue)
		r = w.newRx(patNominated, 1)
		r.items[0] = medicines[4]
		r.items[0].id, r.items[0].schedule = strings.ToLower(r.long), "CD2"
		expect(t, send(w.bundle(r, eps.EventOrder)), 400, fhir.CodeMissingValue) // no quantity in words
		r.items[0].words = "three hundred millilitres"
		r.course, r.repeats = "continuous-repeat-dispensing", 1
		expect(t, send(w.bundle(r, eps.EventOrder)), 400, fhir.CodeInvalidValue) // CD2 on repeat dispensing
		r.items[0].schedule = "CD1"
		r.course, r.repeats = "acute", -1
		expect(t, send(w.bundle(r, eps.EventOrder)), 400, fhir.CodeInvalidValue)
		r.items[0].schedule = "CD2"
		w.prescribe(r)

		// Validity already over.
		r = w.newRx(patNominated, 1)
		r.validFrom, r.validTo = "2020-01-01", "2020-02-01"
		expect(t, send(w.signed(r)), 400, fhir.CodeInvalidValue)

		// Headers and media types.
		r = w.newRx(patNominated, 1)
		expect(t, w.do("POST", "/$process-message", w.signed(r), "X-Request-ID", ""), 400, fhir.CodeMissingValue)
		expect(t, w.do("POST", "/$process-message", w.signed(r), "X-Request-ID", "not-a-uuid"), 400, fhir.CodeInvalidValue)
		expect(t, w.do("POST", "/$process-message", w.signed(r), "Content-Type", "text/plain"), 415, fhir.CodeUnsupportedMedia)
		expect(t, w.do("POST", "/$process-message", `{"resourceType":"Bundle",`), 400, fhir.CodeInvalidValue)
		expect(t, w.do("POST", "/$process-message", `{"resourceType":"Bundle","type":"message","identifier":{"value":null}}`), 400, fhir.CodeInvalidValue)
		expect(t, w.do("POST", "/$prepare", w.bundle(r, eps.EventOrderUpdate)), 400, fhir.CodeInvalidValue)
	})
}

func cc(system, code, display string) map[string]any {
	c := map[string]any{"system": system, "code": code}
	if display != "" {
		c["display"] = display
	}
	return map[string]any{"coding": []any{c}}
}

func patientOf(b map[string]any) map[string]any {
	for _, e := range b["entry"].([]any) {
		res := e.(map[string]any)["resource"].(map[string]any)
		if res["resourceType"] == "Patient" {
			return res
		}
	}
	return nil
}

// pairingReads counts the store reads of short-form pairings.
type pairingReads struct {
	store.Store
	n atomic.Int64
}

func (s *pairingReads) Read(ctx context.Context, typ, id string) (store.Record, error) {
	if typ == "_PrescriptionShortForm" {
		s.n.Add(1)
	}
	return s.Store.Read(ctx, typ, id)
}

// TestOrderKeepsItsShortForm: the release that follows an order finds the
// prescription by its short form without reading the pairing back; a
// service that did not take the order reads it once; an order answered
// with an earlier request's answer (its X-Request-ID was used before)
// leaves no pairing behind: its short form, when another instance takes
// the order that really uses it, finds that prescription.
func TestOrderKeepsItsShortForm(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st, _, _ := b.Open(t)
		counted := &pairingReads{Store: st}
		w := setupStore(t, counted, nil)
		r := w.newRx(patNoNominee, 1)
		w.prescribe(r)
		expect(t, w.release("FA565", r.short), 200, "")
		if n := counted.n.Load(); n != 0 {
			t.Fatalf("the release read the pairing of the order just taken %d times", n)
		}

		other := setupStore(t, counted, nil) // another instance over the same store
		r2 := w.newRx(patNoNominee, 1)
		w.prescribe(r2)
		expect(t, other.release("FA565", r2.short), 200, "")
		if n := counted.n.Load(); n != 1 {
			t.Fatalf("another instance read the pairing %d times, want 1", n)
		}

		// same X-Request-ID, another prescription: answered as the first, not applied
		rid := trace.NewUUID()
		expect(t, w.do("POST", "/$process-message", w.signed(w.newRx(patNoNominee, 1)), "X-Request-ID", rid), 200, "")
		r3 := w.newRx(patNoNominee, 1)
		expect(t, w.do("POST", "/$process-message", w.signed(r3), "X-Request-ID", rid), 200, "")
		r4 := w.newRx(patNoNominee, 1)
		r4.short = r3.short // a later order really using that short form, taken by the other instance
		other.prescribe(r4)
		rel := w.release("FA565", r3.short)
		expect(t, rel, 200, "")
		if got := passed(rel); len(got) != 1 || !strings.Contains(fmt.Sprint(got[0]), r4.long) {
			t.Fatalf("released %v, want the prescription %s", got, r4.long)
		}
	})
}
