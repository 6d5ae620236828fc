package eps_test

import (
	"net/url"
	"testing"

	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/eps"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/policy"
	"github.com/openspine/openspine/internal/store/storetest"
)

// TestAccessControl runs EPS behind the real auth middleware and policy:
// who may prescribe, cancel, release, dispense and track, and the
// dispenser is the signed-in user's organisation.
func TestAccessControl(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st, _, _ := b.Open(t)
		dir := t.TempDir()
		as, err := auth.New(auth.Config{DataDir: dir, Dev: true, TokenURL: "http://localhost/oauth2/token", Authorizer: policy.Default()})
		if err != nil {
			t.Fatal(err)
		}
		w := setupStore(t, st, as.Wrap)
		token := func(o auth.DevTokenOptions) []string {
			tok, err := auth.DevToken(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			return []string{"Authorization", "Bearer " + tok}
		}
		carter := token(auth.DevTokenOptions{User: userCarter, Role: "R8000", Org: "Y12345", RoleProfile: roleCarter, Activities: []string{"B0420"}})
		nurse := token(auth.DevTokenOptions{User: "555021935109", Role: "R8001", Org: "Y12345", RoleProfile: roleNowak})
		pharmacist := token(auth.DevTokenOptions{User: "555021935110", Role: "R1290", Org: "FA565", RoleProfile: "555021936111", Activities: []string{"B0570"}})
		otherPharmacist := token(auth.DevTokenOptions{User: "555021935113", Role: "R1290", Org: "FQ442", RoleProfile: "555021936114", Activities: []string{"B0570"}})
		receptionist := token(auth.DevTokenOptions{User: "555021935111", Role: "R8009", Org: "FA565", RoleProfile: "555021936112"})
		patient := token(auth.DevTokenOptions{Patient: patNominated})

		// Prescribing.
		r := w.newRx(patNominated, 1)
		b1 := w.bundle(r, eps.EventOrder)
		expect(t, w.do("POST", "/$prepare", b1), 401, fhir.CodeAccessDenied)
		expect(t, w.do("POST", "/$prepare", b1, nurse...), 403, fhir.CodeAccessDenied)
		expect(t, w.do("POST", "/$prepare", b1, pharmacist...), 403, fhir.CodeAccessDenied)
		bnd := w.signed(r, carter...)
		expect(t, w.do("POST", "/$process-message", bnd, nurse...), 403, fhir.CodeAccessDenied)      // checked in the handler: order → prescribe
		expect(t, w.do("POST", "/$process-message", bnd, pharmacist...), 403, fhir.CodeAccessDenied) // idem
		expect(t, w.do("POST", "/$process-message", bnd, patient...), 403, fhir.CodeAccessDenied)
		expect(t, w.do("POST", "/$process-message", bnd, carter...), 200, "")
		// The prescriber in the message must be the signed-in role.
		okafor := w.newRx(patNominated, 1).by(roleOkafor)
		expect(t, w.do("POST", "/$prepare", w.bundle(okafor, eps.EventOrder), carter...), 403, fhir.CodeAccessDenied)
		expect(t, w.do("POST", "/$prepare", b1, append(carter, auth.HeaderSessionURID, "555021936999")...), 403, fhir.CodeAccessDenied)

		// Cancelling: prescribers only.
		r2 := w.newRx(patNominated, 1)
		expect(t, w.do("POST", "/$process-message", w.signed(r2, carter...), carter...), 200, "")
		expect(t, w.do("POST", "/$process-message", w.bundle(r2, eps.EventOrderUpdate), pharmacist...), 403, fhir.CodeAccessDenied)
		expect(t, w.do("POST", "/$process-message", w.bundle(r2, eps.EventOrderUpdate), carter...), 200, "")

		// Dispensing: the pharmacy is the signed-in user's organisation.
		expect(t, w.release("FA565", "", receptionist...), 403, fhir.CodeAccessDenied)
		expect(t, w.release("FX123", "", pharmacist...), 403, fhir.CodeAccessDenied) // names another pharmacy
		res := w.release("FA565", "", pharmacist...)
		expect(t, res, 200, "")
		if len(passed(res)) != 1 {
			t.Fatalf("nominated release: %s", res.raw)
		}
		expect(t, w.release("FQ442", r.short, otherPharmacist...), 400, eps.CodeWithAnotherDispenser)
		expect(t, w.dispense(r, "FQ442", eps.StatusDispensed, all(r, eps.ItemDispensed), otherPharmacist...), 400, eps.CodeWithAnotherDispenser)
		expect(t, w.dispense(r, "FA565", eps.StatusDispensed, all(r, eps.ItemDispensed), carter...), 403, fhir.CodeAccessDenied) // a prescriber cannot dispense
		expect(t, w.dispense(r, "FA565", eps.StatusDispensed, all(r, eps.ItemDispensed), pharmacist...), 200, "")
		expect(t, w.do("POST", "/Claim", claimBody(r, "FA565", false), receptionist...), 403, fhir.CodeAccessDenied)
		expect(t, w.do("POST", "/Claim", claimBody(r, "FA565", false), pharmacist...), 200, "")

		// Tracking: the patient, the prescriber, the dispenser; no one else.
		for name, c := range map[string]struct {
			hdr  []string
			want int
		}{"patient": {patient, 200}, "prescriber": {carter, 200}, "dispenser": {pharmacist, 200}, "other pharmacy": {otherPharmacist, 404}} {
			if res := w.do("GET", "/Task/"+r.long, nil, c.hdr...); res.status != c.want {
				t.Errorf("%s tracking: %d %s", name, res.status, res.raw)
			}
		}
		res = w.do("GET", "/Task?patient:identifier="+eps.SystemNHSNumber+"|"+patNominated, nil, patient...)
		expect(t, res, 200, "")
		if res.body["total"] != float64(2) {
			t.Fatalf("patient's own search: %s", res.raw)
		}
		expect(t, w.do("GET", "/Task?patient:identifier="+patNoNominee, nil, patient...), 403, fhir.CodeAccessDenied)
		res = w.do("GET", "/Task?patient:identifier="+patNominated, nil, otherPharmacist...)
		if res.status != 200 || res.body["total"] != float64(0) {
			t.Fatalf("unrelated pharmacy's search: %s", res.raw)
		}
		res = w.do("GET", "/Task?focus:identifier="+url.QueryEscape(r.short), nil, pharmacist...)
		if res.status != 200 || res.body["total"] != float64(1) {
			t.Fatalf("dispenser's search: %s", res.raw)
		}
	})
}
