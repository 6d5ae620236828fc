package pds_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/pds"
	"github.com/openspine/openspine/internal/store/storetest"
)

// TestRelatedPerson: GET /Patient/{id}/RelatedPerson answers with the
// patient's related people in a searchset Bundle; a merged number with the
// survivor's; a restricted patient's and a patient's without any with an
// empty Bundle; and refuses what a read refuses, with the same codes.
func TestRelatedPerson(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		c, _, _ := setup(t, b)
		for _, asked := range []string{jane, merged} {
			r := c.get("/Patient/" + asked + "/RelatedPerson")
			expect(t, r, 200, "")
			if r.body["resourceType"] != "Bundle" || r.body["type"] != "searchset" || r.body["total"] != float64(2) || r.body["timestamp"] == nil {
				t.Fatalf("%s: %s", asked, r.raw)
			}
			es := r.body["entry"].([]any)
			got := map[string]map[string]any{}
			for _, e := range es {
				em := e.(map[string]any)
				rp := em["resource"].(map[string]any)
				got[rp["id"].(string)] = rp
				if em["fullUrl"] != c.base+pds.Base+"/Patient/"+jane+"/RelatedPerson/"+rp["id"].(string) {
					t.Fatalf("%s: fullUrl %v", asked, em["fullUrl"])
				}
			}
			mother, brother := got["507B7621"], got["B3380E98"]
			if mother == nil || brother == nil {
				t.Fatalf("%s: %s", asked, r.raw)
			}
			// by reference: the related person's own record, as a URL on this server
			if ref := brother["patient"].(map[string]any)["reference"]; ref != c.base+pds.Base+"/Patient/"+john {
				t.Fatalf("reference %v", ref)
			}
			if ref := mother["patient"].(map[string]any)["reference"]; ref != c.base+pds.Base+"/Patient/"+jane || mother["name"] == nil {
				t.Fatalf("mother: %v", mother)
			}
			if !strings.Contains(r.raw, `"valuePositiveInt":1}`) {
				t.Fatalf("contact rank is not an integer: %s", r.raw)
			}
		}
		// restricted: nothing about the people around them; none: empty too
		for _, n := range []string{janet, john} {
			r := c.get("/Patient/" + n + "/RelatedPerson")
			expect(t, r, 200, "")
			if r.body["total"] != float64(0) || r.body["entry"] != nil {
				t.Fatalf("%s: %s", n, r.raw)
			}
		}
		expect(t, c.get("/Patient/9000000008/RelatedPerson"), 400, "INVALID_RESOURCE_ID")
		expect(t, c.get("/Patient/9000000009/RelatedPerson"), 404, "RESOURCE_NOT_FOUND")
		expect(t, c.get("/Patient/"+invalid+"/RelatedPerson"), 404, "INVALIDATED_RESOURCE")
		expect(t, c.get("/Patient/"+jane+"/RelatedPerson", "X-Request-ID", ""), 400, "MISSING_VALUE")
		expect(t, c.get("/Patient/"+jane+"/RelatedPerson", "X-Request-ID", "not-a-uuid"), 400, "INVALID_VALUE")
	})
}

// TestLoadRefusesBadRelatedPeople: a related-people record is checked
// before it is stored, and a bad one fails the whole batch.
func TestLoadRefusesBadRelatedPeople(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		c, _, srv := setup(t, b)
		good := relatedPerson("0000AAAA", jayne, "Personal", "SPS", true)
		noID := relatedPerson("", jayne, "Personal", "SPS", true)
		noPatient := relatedPerson("0000BBBB", jayne, "Personal", "SPS", true)
		delete(noPatient, "patient")
		twoRel := relatedPerson("0000CCCC", jayne, "Personal", "SPS", true)
		twoRel["relationship"] = append(twoRel["relationship"].([]any), twoRel["relationship"].([]any)[0])
		for name, rec := range map[string]fhir.Resource{
			"bad NHS number":   pds.RelatedPeople("9000000008", []fhir.Resource{good}),
			"none":             pds.RelatedPeople(jayne, nil),
			"no id":            pds.RelatedPeople(jayne, []fhir.Resource{noID}),
			"duplicate id":     pds.RelatedPeople(jayne, []fhir.Resource{good, good}),
			"no patient":       pds.RelatedPeople(jayne, []fhir.Resource{noPatient}),
			"two relationship": pds.RelatedPeople(jayne, []fhir.Resource{twoRel}),
		} {
			if err := srv.PDS.Load(t.Context(), []fhir.Resource{rec}); err == nil {
				t.Fatalf("%s: loaded", name)
			}
		}
		if r := c.get("/Patient/" + jayne + "/RelatedPerson"); r.status != 200 || r.body["total"] != float64(0) {
			t.Fatalf("a refused record was stored: %s", r.raw)
		}
		if err := srv.PDS.Load(t.Context(), []fhir.Resource{pds.RelatedPeople(jayne, []fhir.Resource{good})}); err != nil {
			t.Fatal(err)
		}
		if r := c.get("/Patient/" + jayne + "/RelatedPerson"); r.status != 200 || r.body["total"] != float64(1) {
			t.Fatalf("good record: %s", r.raw)
		}
	})
}

// TestSeededRelatedPeople: the synthetic population's related people are
// what the API serves and what the contract shapes: every child has a
// mother with parental responsibility, about a fifth of adults a next of
// kin (some by reference to another patient's record, without details),
// the same for the same seed; each RelatedPerson decodes strictly and
// loads.
func TestSeededRelatedPeople(t *testing.T) {
	gen, again := pds.SeedGenerator(3), pds.SeedGenerator(3)
	var children, adults, withKin, byRef, carers int
	var records []fhir.Resource
	born := map[string]string{} // birth dates of the patients generated so far
	for range 5000 {
		p, q := gen.Next(), again.Next()
		born[p.NHSNumber] = p.BirthDate
		if fmt.Sprint(p.Related) != fmt.Sprint(q.Related) {
			t.Fatalf("%s: not deterministic", p.NHSNumber)
		}
		if p.SupersededBy != "" {
			if pds.SeedRelated(p) != nil {
				t.Fatalf("superseded %s has its own related people", p.NHSNumber)
			}
			continue
		}
		age := 2025 - atoi(t, p.BirthDate[:4])
		switch {
		case age < 15:
			children++
			if len(p.Related) == 0 || p.Related[0].Type != "MTH" || p.Related[0].Role != "Guardian" || p.Related[0].Rank != 1 {
				t.Fatalf("child %s: %+v", p.NHSNumber, p.Related)
			}
		case age > 18:
			adults++
			for _, rp := range p.Related {
				if rp.NextOfKin {
					withKin++
				}
				if rp.Type == "Carer" {
					carers++
				}
			}
		}
		for _, rp := range p.Related {
			res := rp.FHIR(p.NHSNumber)
			raw := fhir.Marshal(res)
			if _, err := fhir.DecodeResource(raw, "RelatedPerson"); err != nil {
				t.Fatalf("%s: %v: %s", p.NHSNumber, err, raw)
			}
			if rp.Patient != "" {
				byRef++
				if b, ok := born[rp.Patient]; !ok || atoi(t, b[:4]) > 2006 {
					t.Fatalf("%s's partner %s is not an adult patient generated before (born %q)", p.NHSNumber, rp.Patient, b)
				}
				if res["name"] != nil || res["address"] != nil || !strings.Contains(string(raw), rp.Patient) {
					t.Fatalf("by reference: %s", raw)
				}
			} else if res["name"] == nil || res["address"] == nil {
				t.Fatalf("personal details without name or address: %s", raw)
			}
		}
		if rec := pds.SeedRelated(p); rec != nil {
			records = append(records, rec)
		}
	}
	if children < 500 || adults < 2500 || withKin < adults/7 || withKin > adults/3 || byRef == 0 || carers == 0 {
		t.Fatalf("children %d, adults %d, next of kin %d, by reference %d, carers %d", children, adults, withKin, byRef, carers)
	}
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		_, _, srv := setup(t, b)
		if err := srv.PDS.Load(t.Context(), records); err != nil {
			t.Fatal(err)
		}
	})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
