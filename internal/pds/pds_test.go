package pds_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/fhirtest"
	"github.com/openspine/openspine/internal/nhsnumber"
	"github.com/openspine/openspine/internal/pds"
	"github.com/openspine/openspine/internal/server"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/store/storetest"
)

func TestMain(m *testing.M) {
	fhirtest.QuietLogs()
	os.Exit(m.Run())
}

// nhs returns the i-th valid test NHS number.
func nhs(i int) string {
	for p := uint64(999100000 + i*7); ; p++ {
		if n, ok := nhsnumber.FromNine(fmt.Sprint(p)); ok {
			return n
		}
	}
}

var (
	jane, janet, merged, invalid, john, jayne = nhs(1), nhs(2), nhs(3), nhs(4), nhs(5), nhs(6)
)

func patient(id, family, given, gender, birth, postcode, sec string, extra map[string]any) fhir.Resource {
	p := fhir.Resource{
		"resourceType": "Patient", "id": id,
		"meta":       map[string]any{"security": []any{map[string]any{"system": pds.SystemConfidentiality, "code": sec}}},
		"identifier": []any{map[string]any{"system": pds.SystemNHSNumber, "value": id}},
		"name":       []any{map[string]any{"id": "n1", "use": "usual", "family": family, "given": []any{given}, "period": map[string]any{"start": "2010-10-22"}}},
		"gender":     gender, "birthDate": birth,
		"address":             []any{map[string]any{"id": "a1", "use": "home", "line": []any{"1 Trevelyan Square"}, "postalCode": postcode}},
		"generalPractitioner": []any{map[string]any{"type": "Organization", "identifier": map[string]any{"system": pds.SystemODS, "value": "Y12345"}}},
		"telecom": []any{map[string]any{"id": "t1", "system": "phone", "value": "01632960587", "use": "home"},
			map[string]any{"id": "t2", "system": "email", "value": strings.ToLower(given) + "." + strings.ToLower(family) + "@example.com", "use": "home"}},
		"extension": []any{map[string]any{"url": pds.ExtNominatedPharmacy, "valueReference": map[string]any{"identifier": map[string]any{"system": pds.SystemODS, "value": "FA565"}}}},
	}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

// relatedPerson is a RelatedPerson as the PDS API shapes it: by its own
// details when ref is the subject, else by reference to ref's record.
func relatedPerson(id, ref, role, typ string, nextOfKin bool) fhir.Resource {
	coding := []any{
		map[string]any{"system": "https://fhir.nhs.uk/R4/CodeSystem/UKCore-AdditionalRelatedPersonRole", "code": role},
		map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": typ},
	}
	if nextOfKin {
		coding = append(coding, map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"})
	}
	rp := fhir.Resource{
		"resourceType": "RelatedPerson", "id": id, "active": true,
		"patient":      map[string]any{"type": "Patient", "identifier": map[string]any{"system": pds.SystemNHSNumber, "value": ref}},
		"relationship": []any{map[string]any{"coding": coding}},
		"extension":    []any{map[string]any{"url": "https://fhir.nhs.uk/R4/StructureDefinition/Extension-UKCore-ContactRank", "valuePositiveInt": 1}},
	}
	if typ == "MTH" {
		rp["name"] = []any{map[string]any{"use": "usual", "family": "Smith", "given": []any{"Mary"}}}
		rp["address"] = []any{map[string]any{"use": "home", "line": []any{"1 Trevelyan Square"}, "postalCode": "LS1 6AE"}}
	}
	return rp
}

type client struct {
	t    *testing.T
	base string
	n    int
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (c *client) do(method, path, ctype, body string, headers ...string) resp {
	c.t.Helper()
	c.n++
	rid := fmt.Sprintf("60E0B220-8136-4CA5-AE46-1D97EF%06d", c.n)
	r := fhirtest.Do(c.t, method, c.base+pds.Base+path, ctype, strings.NewReader(body), append([]string{"X-Request-ID", rid}, headers...)...)
	return resp{status: r.Status, header: r.Header, body: r.Body, raw: r.Raw}
}

func (c *client) get(path string, headers ...string) resp {
	return c.do("GET", path, "", "", headers...)
}

func code(r resp) string { return fhirtest.Code(r.body) }

func expect(t *testing.T, r resp, status int, nhsCode string) {
	t.Helper()
	if r.status != status || (nhsCode != "" && code(r) != nhsCode) {
		t.Fatalf("got %d %s, want %d %s: %s", r.status, code(r), status, nhsCode, r.raw)
	}
}

func ids(r resp) []string {
	var out []string
	es, _ := r.body["entry"].([]any)
	for _, e := range es {
		out = append(out, e.(map[string]any)["resource"].(map[string]any)["id"].(string))
	}
	return out
}

func scores(r resp) []float64 {
	var out []float64
	es, _ := r.body["entry"].([]any)
	for _, e := range es {
		out = append(out, e.(map[string]any)["search"].(map[string]any)["score"].(float64))
	}
	return out
}

func setup(t *testing.T, b storetest.Backend) (*client, store.Store, *server.Server) {
	st, _, _ := b.Open(t)
	srv, err := server.New(server.Config{}, st)
	if err != nil {
		t.Fatal(err)
	}
	restricted := patient(janet, "Smythe", "Janet", "female", "2005-06-16", "LS2 7UE", "R", nil)
	err = srv.PDS.Load(context.Background(), []fhir.Resource{
		patient(jane, "Smith", "Jane", "female", "2010-10-22", "LS1 6AE", "U", nil),
		restricted,
		patient(merged, "Smith", "Jane", "female", "2010-10-22", "LS1 6AE", "U", map[string]any{"link": []any{map[string]any{"type": "replaced-by", "other": map[string]any{"reference": "Patient/" + jane}}}}),
		patient(invalid, "Smith", "Jane", "female", "2010-10-22", "LS1 6AE", "REDACTED", nil),
		patient(john, "Smith", "John", "male", "2010-10-22", "LS1 6AE", "U", map[string]any{"name": []any{
			map[string]any{"id": "n1", "use": "usual", "family": "Smith", "given": []any{"John", "Paul"}},
			map[string]any{"id": "n2", "use": "old", "family": "Jones", "given": []any{"John"}, "period": map[string]any{"start": "2010-10-22", "end": "2015-01-01"}}}}),
		patient(jayne, "Smith", "Jayne", "female", "2010-10-22", "HG1 5AR", "U", nil),
		pds.RelatedPeople(jane, []fhir.Resource{
			relatedPerson("507B7621", jane, "Guardian", "MTH", true),
			relatedPerson("B3380E98", john, "Personal", "BRO", false),
		}),
		pds.RelatedPeople(janet, []fhir.Resource{relatedPerson("C0FFEE01", janet, "Guardian", "MTH", true)}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler)
	t.Cleanup(ts.Close)
	return &client{t: t, base: ts.URL}, st, srv
}

func TestRead(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		c, _, _ := setup(t, b)
		r := c.get("/Patient/" + jane)
		expect(t, r, 200, "")
		if r.header.Get("ETag") != `W/"1"` || r.body["address"] == nil || r.body["extension"] == nil || r.header.Get("X-Request-ID") == "" {
			t.Fatalf("read: %v %s", r.header, r.raw)
		}
		expect(t, c.get("/Patient/9000000008"), 400, "INVALID_RESOURCE_ID")
		expect(t, c.get("/Patient/12345"), 400, "INVALID_RESOURCE_ID")
		expect(t, c.get("/Patient/9000000009"), 404, "RESOURCE_NOT_FOUND")
		expect(t, c.get("/Patient/"+invalid), 404, "INVALIDATED_RESOURCE")
		expect(t, c.get("/Patient/"+jane, "X-Request-ID", ""), 400, "MISSING_VALUE")
		expect(t, c.get("/Patient/"+jane, "X-Request-ID", "not-a-uuid"), 400, "INVALID_VALUE")
		if r := c.get("/Patient/" + merged); r.status != 200 || r.body["id"] != jane {
			t.Fatalf("superseded read: %s", r.raw)
		}
		r = c.get("/Patient/" + janet)
		expect(t, r, 200, "")
		for _, k := range []string{"address", "telecom", "generalPractitioner", "extension"} {
			if r.body[k] != nil {
				t.Fatalf("restricted read reveals %s: %s", k, r.raw)
			}
		}
		if !strings.Contains(r.raw, `"code":"R"`) {
			t.Fatalf("restricted flag missing: %s", r.raw)
		}
	})
}

func TestSearch(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		c, _, _ := setup(t, b)
		r := c.get("/Patient?family=Smith&birthdate=eq2010-10-22")
		expect(t, r, 200, "")
		if got := ids(r); len(got) != 3 || r.body["total"] != float64(3) {
			t.Fatalf("basic search: %v", got)
		}
		r = c.get("/Patient?family=smith&gender=female&birthdate=2010-10-22")
		if got := fmt.Sprint(ids(r)); got != fmt.Sprint([]string{jane, jayne}) && got != fmt.Sprint([]string{jayne, jane}) {
			t.Fatalf("gender search: %v", got)
		}
		if es := r.body["entry"].([]any); strings.Contains(fmt.Sprint(es), pds.ExtNominatedPharmacy) {
			t.Fatalf("search result carries the nominated pharmacy")
		}
		expect(t, c.get("/Patient?family=Smith&birthdate=eq2010-10-22&_max-results=1"), 200, "TOO_MANY_MATCHES")
		r = c.get("/Patient?family=Smith&given=Jane&birthdate=eq2010-10-22&_exact-match=true")
		if got := ids(r); len(got) != 1 || got[0] != jane || scores(r)[0] != 1 {
			t.Fatalf("exact: %v %v", got, scores(r))
		}
		r = c.get("/Patient?family=Sm*&birthdate=ge2010-10-01&birthdate=le2010-10-31&gender=male")
		if got := ids(r); len(got) != 1 || got[0] != john || scores(r)[0] >= 1 {
			t.Fatalf("wildcard and range: %v %v", got, scores(r))
		}
		r = c.get("/Patient?family=Smith&birthdate=eq2010-10-22&address-postalcode=ls16ae")
		if got := ids(r); len(got) != 2 {
			t.Fatalf("postcode without spaces: %v", got)
		}
		r = c.get("/Patient?family=Smith&birthdate=eq2010-10-22&email=JANE.SMITH@example.com&phone=01632%20960587")
		if got := ids(r); len(got) != 1 || got[0] != jane {
			t.Fatalf("email and phone: %v", got)
		}
		// history: previous names only with _history
		if got := ids(c.get("/Patient?family=Jones&birthdate=eq2010-10-22")); len(got) != 0 {
			t.Fatalf("historic name without _history: %v", got)
		}
		if got := ids(c.get("/Patient?family=Jones&birthdate=eq2010-10-22&_history=true")); len(got) != 1 || got[0] != john {
			t.Fatalf("historic name with _history: %v", got)
		}
		// fuzzy: homophone, sorted by score
		r = c.get("/Patient?family=Smyth&given=Jane&birthdate=eq2010-10-22&_fuzzy-match=true")
		got, sc := ids(r), scores(r)
		if len(got) == 0 || got[0] != jane || sc[0] >= 1 || sc[0] < 0.8 {
			t.Fatalf("fuzzy: %v %v", got, sc)
		}
		for i := 1; i < len(sc); i++ {
			if sc[i] > sc[i-1] {
				t.Fatalf("not sorted by score: %v", sc)
			}
		}
		for _, id := range got {
			if id == invalid || id == merged {
				t.Fatalf("fuzzy search returned invalidated or superseded %s", id)
			}
		}
		// restricted: returned redacted, but never for a location search
		r = c.get("/Patient?family=Smythe&birthdate=eq2005-06-16")
		if got := ids(r); len(got) != 1 || strings.Contains(r.raw, "LS2 7UE") || strings.Contains(r.raw, "telecom") {
			t.Fatalf("restricted search: %s", r.raw)
		}
		if got := ids(c.get("/Patient?family=Smythe&birthdate=eq2005-06-16&address-postalcode=LS2%207UE")); len(got) != 0 {
			t.Fatalf("restricted patient found by postcode")
		}
		if got := ids(c.get("/Patient?family=Smythe&birthdate=eq2005-06-16&general-practitioner=Y12345")); len(got) != 0 {
			t.Fatalf("restricted patient found by GP")
		}
		// refusals
		for q, want := range map[string][2]string{
			"": {"400", "UNSUPPORTED_SERVICE"},
			"family=Smith&birthdate=eq2010-10-22&colour=blue": {"400", "ADDITIONAL_PROPERTIES"},
			"family=Smith": {"400", "INVALID_SEARCH_DATA"},
			"family=Smith&birthdate=eq2010-10-22&gender=mal":                 {"400", "INVALID_VALUE"},
			"family=Smith&birthdate=2010/10/22":                              {"400", "INVALID_VALUE"},
			"family=S*&birthdate=eq2010-10-22":                               {"400", "INVALID_SEARCH_DATA"},
			"family=Sm*&given=Jane&birthdate=eq2010-10-22&_fuzzy-match=true": {"400", "INVALID_SEARCH_DATA"},
			"family=Smith&birthdate=eq2010-10-22&address-postcode=LS1":       {"400", "INVALID_SEARCH_DATA"},
			"family=Smith&birthdate=eq2010-10-22&_max-results=51":            {"400", "INVALID_VALUE"},
			"family=Smith&birthdate=eq2010-10-22&_fuzzy-match=yes":           {"400", "INVALID_VALUE"},
			"family=Smith&birthdate=eq2010-10-22&_fuzzy-match=true":          {"400", "INVALID_SEARCH_DATA"},
			"email=jane.smith@example.com":                                   {"400", "INVALID_SEARCH_DATA"},
			"family=Smith&birthdate=ge2010-01-01&birthdate=ge2011-01-01":     {"400", "INVALID_SEARCH_DATA"},
		} {
			r := c.get("/Patient?" + q)
			if fmt.Sprint(r.status) != want[0] || code(r) != want[1] {
				t.Errorf("%q: got %d %s, want %s %s", q, r.status, code(r), want[0], want[1])
			}
		}
	})
}

const jp = "application/json-patch+json"

func TestPatch(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		c, _, _ := setup(t, b)
		p := "/Patient/" + jane
		gender := `{"patches":[{"op":"replace","path":"/gender","value":"other"}]}`
		expect(t, c.do("PATCH", p, jp, gender), 412, "PRECONDITION_FAILED")
		expect(t, c.do("PATCH", p, jp, gender, "If-Match", `W/"7"`), 409, "RESOURCE_VERSION_MISMATCH")
		expect(t, c.do("PATCH", p, jp, gender, "If-Match", `7`), 400, "INVALID_VALUE")
		expect(t, c.do("PATCH", "/Patient/9000000008", jp, gender, "If-Match", `W/"1"`), 400, "INVALID_RESOURCE_ID")
		expect(t, c.do("PATCH", "/Patient/9000000009", jp, gender, "If-Match", `W/"1"`), 404, "RESOURCE_NOT_FOUND")
		expect(t, c.do("PATCH", p, jp, `[{"op":"replace","path":"/gender","value":"other"}]`, "If-Match", `W/"1"`), 400, "INVALID_UPDATE")
		// a retried request (same X-Request-ID) is applied once
		rid := "11111111-2222-4333-8444-555555555555"
		r1 := c.do("PATCH", p, jp, gender, "If-Match", `W/"1"`, "X-Request-ID", rid)
		r2 := c.do("PATCH", p, jp, gender, "If-Match", `W/"1"`, "X-Request-ID", rid)
		expect(t, r1, 200, "")
		expect(t, r2, 200, "")
		if r1.body["gender"] != "other" || r1.header.Get("ETag") != `W/"2"` || r2.header.Get("ETag") != `W/"2"` {
			t.Fatalf("patch/retry: %s / %s", r1.header.Get("ETag"), r2.header.Get("ETag"))
		}
		if r := c.get(p); r.header.Get("ETag") != `W/"2"` {
			t.Fatalf("retry applied twice: %s", r.header.Get("ETag"))
		}
		// list rules
		for body, want := range map[string][2]string{
			`{"patches":[{"op":"add","path":"/name/0","value":{"use":"nickname","family":"Smith","given":["Janey"]}}]}`: {"400", "INVALID_UPDATE"},
			`{"patches":[{"op":"remove","path":"/address/0"}]}`:                                                         {"400", "INVALID_UPDATE"},
			`{"patches":[{"op":"replace","path":"/address/0","value":{"use":"home","postalCode":"LS1 1AA"}}]}`:          {"400", "INVALID_UPDATE"},
			`{"patches":[{"op":"replace","path":"/name/0/family","value":"Jones"}]}`:                                    {"400", "INVALID_UPDATE"},
			`{"patches":[{"op":"replace","path":"/identifier/0/value","value":"9000000009"}]}`:                          {"403", "FORBIDDEN_UPDATE"},
			`{"patches":[{"op":"replace","path":"/id","value":"9000000009"}]}`:                                          {"403", "FORBIDDEN_UPDATE"},
			`{"patches":[{"op":"replace","path":"/birthDate","value":"2099-01-01"}]}`:                                   {"400", "INVALID_VALUE"},
			`{"patches":[{"op":"add","path":"/telecom/-","value":{"system":"email","value":"not-an-email"}}]}`:          {"400", "INVALID_VALUE"},
			`{"patches":[{"op":"test","path":"/gender","value":"male"}]}`:                                               {"400", "INVALID_UPDATE"},
			`{"patches":[{"op":"move","from":"/name/0","path":"/name/-"}]}`:                                             {"400", "INVALID_UPDATE"},
		} {
			r := c.do("PATCH", p, jp, body, "If-Match", `W/"2"`)
			if fmt.Sprint(r.status) != want[0] || code(r) != want[1] || !strings.Contains(r.raw, "patch operation 0") {
				t.Errorf("%s: got %d %s: %s", body, r.status, code(r), r.raw)
			}
		}
		// allowed list changes, atomically in one patch
		ok := `{"patches":[
 {"op":"add","path":"/name/-","value":{"use":"nickname","family":"Smith","given":["Janey"]}},
 {"op":"test","path":"/name/0/id","value":"n1"},
 {"op":"replace","path":"/name/0/given/0","value":"Janet"},
 {"op":"test","path":"/address/0/id","value":"a1"},
 {"op":"remove","path":"/address/0"},
 {"op":"add","path":"/address/-","value":{"use":"home","line":["2 New Street"],"postalCode":"LS2 8AA"}}]}`
		r := c.do("PATCH", p, jp, ok, "If-Match", `W/"2"`)
		expect(t, r, 200, "")
		if r.header.Get("ETag") != `W/"3"` || len(r.body["name"].([]any)) != 2 || !strings.Contains(r.raw, "LS2 8AA") || strings.Contains(r.raw, "LS1 6AE") {
			t.Fatalf("list patch: %s", r.raw)
		}
		// the index follows: the new postcode finds her, the old does not
		if got := ids(c.get("/Patient?family=Smith&birthdate=eq2010-10-22&address-postalcode=LS28AA")); len(got) != 1 {
			t.Fatalf("index not updated: %v", got)
		}
		// restricted record: location fields cannot be patched
		expect(t, c.do("PATCH", "/Patient/"+janet, jp, `{"patches":[{"op":"add","path":"/telecom/-","value":{"system":"phone","value":"0113"}}]}`, "If-Match", `W/"1"`), 403, "FORBIDDEN_UPDATE")
		expect(t, c.do("PATCH", "/Patient/"+merged, jp, gender, "If-Match", `W/"1"`), 403, "FORBIDDEN_UPDATE")
	})
}

func TestCreate(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		c, _, srv := setup(t, b)
		baby := `{"name":[{"use":"usual","family":"Okonkwo","given":["Adaeze"],"period":{"start":"2026-11-01"}}],"gender":"female","birthDate":"2026-11-01",
 "address":[{"use":"home","line":["3 Park Row"],"postalCode":"LS1 5AB"}]}`
		rid := "22222222-2222-4333-8444-555555555555"
		r1 := c.do("POST", "/Patient", fhir.ContentType, baby, "X-Request-ID", rid)
		expect(t, r1, 201, "")
		id, _ := r1.body["id"].(string)
		if !nhsnumber.Valid(id) || !srv.PDS.Allocation.Contains(id) {
			t.Fatalf("allocated %q", id)
		}
		r2 := c.do("POST", "/Patient", fhir.ContentType, baby, "X-Request-ID", rid)
		if r2.status != 201 || r2.body["id"] != id {
			t.Fatalf("retried create: %d %v", r2.status, r2.body["id"])
		}
		// the same person again (a new request): nothing created
		r3 := c.do("POST", "/Patient", fhir.ContentType, baby)
		expect(t, r3, 200, "SINGLE_MATCH")
		r4 := c.do("POST", "/Patient", fhir.ContentType, strings.Replace(baby, "Adaeze", "Chioma", 1))
		expect(t, r4, 201, "")
		if r4.body["id"] == id {
			t.Fatalf("NHS number reissued")
		}
		expect(t, c.do("POST", "/Patient", fhir.ContentType, `{"name":[{"use":"usual","family":"X"}],"birthDate":"2020-01-01"}`), 400, "MISSING_VALUE")
		expect(t, c.do("POST", "/Patient", fhir.ContentType, `{"id":"9000000009","name":[{"use":"usual","family":"X"}],"gender":"male","birthDate":"2020-01-01"}`), 400, "INVALID_VALUE")
		expect(t, c.do("POST", "/Patient", fhir.ContentType, `{"name":[{"use":"usual","family":"X"}],"gender":"male","birthDate":"2020-13-01"}`), 400, "INVALID_VALUE")
	})
}

// TestAllocationAcrossRestart: numbers are never reissued after a reopen.
func TestAllocationAcrossRestart(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st, dsn, dir := b.Open(t)
		seen := map[int64]bool{}
		for i := 0; i < 5; i++ {
			n, err := st.NextSequence(context.Background(), "pds.nhs-number", 1)
			if err != nil || seen[n] {
				t.Fatalf("%d %v", n, err)
			}
			seen[n] = true
		}
		st.Close()
		st2, err := store.Open(context.Background(), dsn, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer st2.Close()
		for i := 0; i < 5; i++ {
			n, err := st2.NextSequence(context.Background(), "pds.nhs-number", 1)
			if err != nil || seen[n] {
				t.Fatalf("reissued %d after restart (%v)", n, err)
			}
			seen[n] = true
		}
	})
}

// TestReindexKeepsDerivedKeys: rebuilding the index from stored bodies
// gives the same search results (derived keys included, superseded records
// still hidden).
func TestReindexKeepsDerivedKeys(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		c, _, srv := setup(t, b)
		fuzzy := "/Patient?family=Smyth&given=Jane&birthdate=eq2010-10-22&_fuzzy-match=true"
		before := fmt.Sprint(ids(c.get(fuzzy)))
		n, err := srv.PDS.Engine().Reindex(context.Background(), "Patient")
		if err != nil || n != 6 {
			t.Fatalf("reindex: %d %v", n, err)
		}
		if after := fmt.Sprint(ids(c.get(fuzzy))); after != before || !strings.Contains(after, jane) || strings.Contains(after, merged) {
			t.Fatalf("fuzzy search changed by reindex: %s -> %s", before, after)
		}
	})
}

// Parameters that Search checks on candidates are not written to the
// index; those it looks up are.
func TestIndexLeavesOutParametersCheckedOnCandidates(t *testing.T) {
	def, _ := pds.New(nil).Engine().Type("Patient")
	res := fhir.Resource{"resourceType": "Patient", "id": "9000000009", "gender": "female", "birthDate": "2010-10-22",
		"identifier":          []any{map[string]any{"system": pds.SystemNHSNumber, "value": "9000000009"}},
		"name":                []any{map[string]any{"use": "usual", "family": "Smith", "given": []any{"Jane"}}},
		"generalPractitioner": []any{map[string]any{"identifier": map[string]any{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y12345"}}},
		"address":             []any{map[string]any{"postalCode": "LS1 6AE"}}}
	got := map[string]int{}
	for _, e := range def.IndexEntries(res) {
		got[e.Param]++
	}
	for _, p := range []string{"gender", "general-practitioner", "identifier"} {
		if got[p] != 0 {
			t.Errorf("%s: %d index rows, want none (checked on candidates)", p, got[p])
		}
	}
	for _, p := range []string{"family", "given", "birthdate", "address-postalcode", "matchkey"} {
		if got[p] == 0 {
			t.Errorf("%s: no index rows", p)
		}
	}
}
