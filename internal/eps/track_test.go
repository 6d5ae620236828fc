package eps_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/openspine/openspine/internal/eps"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/store/storetest"
)

// TestTracking: a prescription's status and history by its ids or by
// patient; $verify-signature on tampered prescriptions; the metadata.
func TestTracking(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := setup(t, b)
		r1 := w.newRx(patNominated, 2)
		w.prescribe(r1)
		r2 := w.newRx(patNominated, 1)
		w.prescribe(r2)
		w.prescribe(w.newRx(patNoNominee, 1))
		expect(t, w.release("FA565", r1.short), 200, "")

		res := w.do("GET", "/Task?patient:identifier="+eps.SystemNHSNumber+"|"+patNominated, nil)
		expect(t, res, 200, "")
		if res.body["total"] != float64(2) || res.body["type"] != "searchset" {
			t.Fatalf("by patient: %.500s", res.raw)
		}
		res = w.do("GET", "/Task?patient:identifier="+patNominated+"&business-status=0002", nil)
		if res.body["total"] != float64(1) || get(res.body, "entry", 0, "resource", "owner", "identifier", "value") != "FA565" {
			t.Fatalf("by patient and status: %.500s", res.raw)
		}
		for _, q := range []string{"focus:identifier=" + url.QueryEscape(r1.short), "identifier=" + eps.SystemLongForm + "|" + r1.long, "group-identifier=" + r1.short} {
			res = w.do("GET", "/Task?"+q, nil)
			if res.body["total"] != float64(1) || get(res.body, "entry", 0, "resource", "groupIdentifier", "value") != r1.short {
				t.Fatalf("%s: %.500s", q, res.raw)
			}
		}
		res = w.do("GET", "/Task/"+r2.short, nil)
		expect(t, res, 200, "")
		if res.body["id"] != r2.long || get(res.body, "businessStatus", "coding", 0, "code") != eps.StatusToBeDispensed ||
			get(res.body, "owner", "identifier", "value") != "FA565" || get(res.body, "status") != "requested" {
			t.Fatalf("by short form: %.800s", res.raw)
		}
		bad := r1.short[:len(r1.short)-1] + map[bool]string{true: "A", false: "B"}[r1.short[len(r1.short)-1] != 'A']
		expect(t, w.do("GET", "/Task/"+bad, nil), 400, eps.CodeInvalidCheckDigit)
		expect(t, w.do("GET", "/Task?focus:identifier="+url.QueryEscape(bad), nil), 400, eps.CodeInvalidCheckDigit)
		expect(t, w.do("GET", "/Task/nonsense", nil), 400, fhir.CodeInvalidResourceID)
		expect(t, w.do("GET", "/Task/"+eps.NewLongFormID(), nil), 404, fhir.CodeResourceNotFound)
		expect(t, w.do("GET", "/Task?patient:identifier=9000000008", nil), 400, fhir.CodeInvalidResourceID)
		expect(t, w.do("GET", "/Task?owner=FA565", nil), 400, fhir.CodeInvalidSearchData)
		expect(t, w.do("GET", "/Task", nil), 400, fhir.CodeInvalidSearchData)
		expect(t, w.do("GET", "/Task/"+r1.long, nil, "X-Request-ID", ""), 400, fhir.CodeMissingValue)
		res = w.do("GET", "/Task?focus:identifier="+eps.NewShortFormID("Y12345"), nil)
		if res.status != 200 || res.body["total"] != float64(0) {
			t.Fatalf("unknown id: %s", res.raw)
		}

		// $verify-signature: the released prescription verifies; altered, it does not.
		rel := w.release("FX123", "")
		expect(t, rel, 200, eps.CodeNoMorePrescriptions)
		r3 := w.newRx(patNominatedFX, 1)
		w.prescribe(r3)
		ps := passed(w.release("FX123", ""))
		good := ps[0]
		res = w.do("POST", "/$verify-signature", map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": []any{map[string]any{"resource": good}}})
		if !strings.Contains(res.raw, "Signature is valid.") {
			t.Fatalf("verify: %s", res.raw)
		}
		mrs(good)[0]["dosageInstruction"] = []any{map[string]any{"text": "Ten tablets at once"}}
		res = w.do("POST", "/$verify-signature", good)
		expect(t, res, 200, "")
		if !strings.Contains(res.raw, "Signature is invalid") || strings.Contains(res.raw, "Signature is valid.") {
			t.Fatalf("verify tampered: %s", res.raw)
		}
		expect(t, w.do("POST", "/$verify-signature", map[string]any{"resourceType": "Parameters"}), 400, fhir.CodeInvalidValue)

		res = w.do("GET", "/metadata", nil)
		if res.status != 200 || res.body["resourceType"] != "CapabilityStatement" {
			t.Fatalf("metadata: %s", res.raw)
		}
		if url, _ := res.body["implementation"].(map[string]any)["url"].(string); !strings.HasPrefix(url, "http") || !strings.HasSuffix(url, eps.Base) ||
			!strings.Contains(res.raw, `"name":"release"`) {
			t.Fatalf("metadata: the base URL %q is not absolute, or the release operation is missing: %s", url, res.raw)
		}
	})
}
