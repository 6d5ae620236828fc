package pds_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/openspine/openspine/internal/fhirtest"
	"github.com/openspine/openspine/internal/store/storetest"
)

// TestMetadata: the CapabilityStatement claims what PDS serves and nothing
// else: every interaction it lists answers (not 404/405), the generic
// engine's ones it leaves out are not routed, and every search parameter
// it lists is accepted.
func TestMetadata(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		c, _, _ := setup(t, b)
		r := c.get("/metadata")
		expect(t, r, 200, "")
		res := fhirtest.Get(r.body, "rest", 0, "resource").([]any)
		patient := res[0].(map[string]any)
		var codes []string
		for _, i := range patient["interaction"].([]any) {
			codes = append(codes, i.(map[string]any)["code"].(string))
		}
		if patient["type"] != "Patient" || strings.Join(codes, ",") != "read,search-type,patch,create" || fhirtest.Get(r.body, "rest", 0, "interaction") != nil {
			t.Fatalf("metadata: %s", r.raw)
		}
		// claimed: routed (a refusal of the body is fine, not a missing route)
		for _, p := range []struct{ method, path, ctype, body string }{
			{"GET", "/Patient/" + jane, "", ""},
			{"GET", "/Patient?family=Smith&birthdate=eq2010-10-22", "", ""},
			{"PATCH", "/Patient/" + jane, "application/json-patch+json", `{"patches":[]}`},
			{"POST", "/Patient", "application/fhir+json", `{}`},
			{"GET", "/Patient/" + jane + "/RelatedPerson", "", ""},
		} {
			if got := c.do(p.method, p.path, p.ctype, p.body); got.status == 404 && code(got) != "RESOURCE_NOT_FOUND" || got.status == 405 {
				t.Fatalf("%s %s claimed but not routed: %d %s", p.method, p.path, got.status, got.raw)
			}
		}
		// not claimed: not routed
		for _, p := range []struct{ method, path string }{
			{"PUT", "/Patient/" + jane}, {"DELETE", "/Patient/" + jane}, {"GET", "/Patient/" + jane + "/_history"},
			{"GET", "/Patient/" + jane + "/_history/1"}, {"POST", ""},
		} {
			if got := c.do(p.method, p.path, "application/fhir+json", `{}`); got.status != 404 && got.status != 405 {
				t.Fatalf("%s %s not claimed but answered %d", p.method, p.path, got.status)
			}
		}
		// every listed search parameter is accepted
		for _, sp := range patient["searchParam"].([]any) {
			name := sp.(map[string]any)["name"].(string)
			if strings.HasPrefix(name, "_") || name == "family" || name == "birthdate" { // the base of every query
				continue
			}
			value := map[string]string{"given": "Jane", "gender": "female", "death-date": "eq2010-10-22", "address-postalcode": "LS1 6AE",
				"general-practitioner": "Y12345", "email": "jane.smith@example.com", "phone": "01632960587"}[name]
			if value == "" {
				t.Fatalf("no test value for the listed parameter %s", name)
			}
			if got := c.get("/Patient?family=Smith&birthdate=eq2010-10-22&" + name + "=" + url.QueryEscape(value)); got.status != 200 {
				t.Fatalf("%s listed but refused: %d %s", name, got.status, got.raw)
			}
		}
	})
}
