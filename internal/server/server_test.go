package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/openspine/openspine/internal/directory"
	"github.com/openspine/openspine/internal/fhirtest"
	"github.com/openspine/openspine/internal/server"
	"github.com/openspine/openspine/internal/store/storetest"
)

const ods = "https://fhir.nhs.uk/Id/ods-organization-code"

type client struct {
	t    *testing.T
	base string
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (c *client) do(method, path, ctype, body string, headers ...string) resp {
	c.t.Helper()
	r := fhirtest.Do(c.t, method, c.base+path, ctype, strings.NewReader(body), headers...)
	return resp{status: r.Status, header: r.Header, body: r.Body, raw: r.Raw}
}

const fj = "application/fhir+json"

func (c *client) get(path string, headers ...string) resp {
	return c.do("GET", path, "", "", headers...)
}

func code(r resp) string { return fhirtest.Code(r.body) }

func expect(t *testing.T, r resp, status int, nhsCode string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if nhsCode != "" && code(r) != nhsCode {
		t.Fatalf("code %q, want %q: %s", code(r), nhsCode, r.raw)
	}
	if status >= 400 && r.body["resourceType"] != "OperationOutcome" {
		t.Fatalf("error without OperationOutcome: %s", r.raw)
	}
}

func orgJSON(name, code string, extra string) string {
	return fmt.Sprintf(`{"resourceType":"Organization","name":%q,"identifier":[{"system":%q,"value":%q}]%s}`, name, ods, code, extra)
}

func entries(r resp) []map[string]any {
	var out []map[string]any
	es, _ := r.body["entry"].([]any)
	for _, e := range es {
		out = append(out, e.(map[string]any))
	}
	return out
}

func matchIDs(r resp) []string {
	var out []string
	for _, e := range entries(r) {
		if s, _ := e["search"].(map[string]any); s != nil && s["mode"] == "match" {
			out = append(out, e["resource"].(map[string]any)["id"].(string))
		}
	}
	return out
}

func start(t *testing.T, b storetest.Backend) *client {
	st, _, _ := b.Open(t)
	srv, err := server.New(server.Config{}, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := directory.LoadDemo(context.Background(), srv.Directory); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler)
	t.Cleanup(ts.Close)
	return &client{t: t, base: ts.URL}
}

func TestDirectoryHTTP(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		c := start(t, b)
		d := "/directory/FHIR/R4"

		// read, ETag, If-None-Match, request ids
		r := c.get(d+"/Organization/RR8", "X-Correlation-ID", "corr-1")
		expect(t, r, 200, "")
		if r.header.Get("ETag") != `W/"1"` || r.header.Get("X-Request-ID") == "" || r.header.Get("X-Correlation-ID") != "corr-1" {
			t.Fatalf("headers: %v", r.header)
		}
		if r.header.Get("Content-Type") != "application/fhir+json; charset=utf-8" {
			t.Fatalf("content type %q", r.header.Get("Content-Type"))
		}
		if r := c.get(d+"/Organization/RR8", "If-None-Match", `W/"1"`); r.status != 304 {
			t.Fatalf("If-None-Match: %d", r.status)
		}
		if r := c.get(d+"/Organization/RR8", "X-Request-ID", "abc-123"); r.header.Get("X-Request-ID") != "abc-123" {
			t.Fatalf("request id not echoed")
		}
		expect(t, c.get(d+"/Organization/RR8", "X-Request-ID", "bad id with spaces"), 400, "INVALID_VALUE")
		expect(t, c.get(d+"/Organization/nope"), 404, "RESOURCE_NOT_FOUND")
		expect(t, c.get(d+"/Organization/bad$id"), 400, "INVALID_RESOURCE_ID")
		expect(t, c.get(d+"/Patient/1"), 404, "UNSUPPORTED_SERVICE")
		expect(t, c.get(d+"/Organization/RR8", "Accept", "application/xml"), 406, "NOT_ACCEPTABLE")
		expect(t, c.do("POST", d+"/Organization/RR8", fj, "{}"), 405, "METHOD_NOT_ALLOWED")
		expect(t, c.get("/nowhere"), 404, "UNSUPPORTED_SERVICE")

		// create, validation, media types, size
		r = c.do("POST", d+"/Organization", fj, orgJSON("Test Surgery", "T10001", ""))
		expect(t, r, 201, "")
		id := r.body["id"].(string)
		if !strings.HasSuffix(r.header.Get("Location"), "/Organization/"+id+"/_history/1") {
			t.Fatalf("Location %q", r.header.Get("Location"))
		}
		expect(t, c.do("POST", d+"/Organization", fj, orgJSON("Bad", "abc", "")), 400, "INVALID_VALUE")
		expect(t, c.do("POST", d+"/Organization", fj, `{"resourceType":"Organization","name":"x","name":"y"}`), 400, "INVALID_VALUE")
		expect(t, c.do("POST", d+"/Organization", fj, `{"resourceType":"Patient"}`), 400, "INVALID_VALUE")
		expect(t, c.do("POST", d+"/Organization", fj, `{"resourceType":"Organization","name":null}`), 400, "INVALID_VALUE")
		expect(t, c.do("POST", d+"/Organization", fj, `{"resourceType":`), 400, "INVALID_VALUE")
		expect(t, c.do("POST", d+"/Organization", fj, ""), 400, "MISSING_VALUE")
		expect(t, c.do("POST", d+"/Organization", "text/plain", orgJSON("x", "X1X", "")), 415, "UNSUPPORTED_MEDIA_TYPE")
		big := orgJSON(strings.Repeat("a", 9<<20), "BIG01", "")
		expect(t, c.do("POST", d+"/Organization", fj, big), 413, "MESSAGE_TOO_LARGE")

		// conditional create: a retried create makes no duplicate
		cond := "identifier=" + ods + "|C00001"
		r1 := c.do("POST", d+"/Organization", fj, orgJSON("Cond", "C00001", ""), "If-None-Exist", cond)
		r2 := c.do("POST", d+"/Organization", fj, orgJSON("Cond", "C00001", ""), "If-None-Exist", cond)
		expect(t, r1, 201, "")
		expect(t, r2, 200, "")
		if r1.body["id"] != r2.body["id"] {
			t.Fatalf("conditional create made a duplicate")
		}

		// update, If-Match, vread, history
		upd := strings.Replace(orgJSON("Test Surgery Renamed", "T10001", ""), `{"resourceType":"Organization"`, `{"resourceType":"Organization","id":"`+id+`"`, 1)
		expect(t, c.do("PUT", d+"/Organization/"+id, fj, upd, "If-Match", `W/"2"`), 412, "PRECONDITION_FAILED")
		r = c.do("PUT", d+"/Organization/"+id, fj, upd, "If-Match", `W/"1"`)
		expect(t, r, 200, "")
		if r.header.Get("ETag") != `W/"2"` || r.body["name"] != "Test Surgery Renamed" {
			t.Fatalf("update: %v %s", r.header.Get("ETag"), r.raw)
		}
		expect(t, c.do("PUT", d+"/Organization/other", fj, upd), 400, "INVALID_RESOURCE_ID")
		expect(t, c.do("PUT", d+"/Organization/newid", fj, strings.Replace(upd, id, "newid", 1)), 404, "RESOURCE_NOT_FOUND")
		r = c.get(d + "/Organization/" + id + "/_history/1")
		expect(t, r, 200, "")
		if r.body["name"] != "Test Surgery" {
			t.Fatalf("vread 1: %s", r.raw)
		}
		expect(t, c.get(d+"/Organization/"+id+"/_history/9"), 404, "RESOURCE_NOT_FOUND")

		// patch
		patch := `[{"op":"test","path":"/name","value":"Test Surgery Renamed"},{"op":"replace","path":"/name","value":"Patched"}]`
		expect(t, c.do("PATCH", d+"/Organization/"+id, fj, patch), 415, "UNSUPPORTED_MEDIA_TYPE")
		expect(t, c.do("PATCH", d+"/Organization/"+id, "application/json-patch+json", patch, "If-Match", `W/"1"`), 412, "PRECONDITION_FAILED")
		r = c.do("PATCH", d+"/Organization/"+id, "application/json-patch+json", patch, "If-Match", `W/"2"`)
		expect(t, r, 200, "")
		if r.body["name"] != "Patched" || r.header.Get("ETag") != `W/"3"` {
			t.Fatalf("patch: %s", r.raw)
		}
		expect(t, c.do("PATCH", d+"/Organization/"+id, "application/json-patch+json", `[{"op":"test","path":"/name","value":"nope"}]`), 400, "INVALID_VALUE")
		expect(t, c.do("PATCH", d+"/Organization/"+id, "application/json-patch+json", `[{"op":"replace","path":"/id","value":"other"}]`), 400, "INVALID_UPDATE")
		expect(t, c.do("PATCH", d+"/Organization/"+id, "application/json-patch+json", `[{"op":"replace","path":"/identifier/0/value","value":"bad"}]`), 400, "INVALID_VALUE")

		r = c.get(d + "/Organization/" + id + "/_history")
		expect(t, r, 200, "")
		if es := entries(r); len(es) != 3 || es[0]["resource"].(map[string]any)["name"] != "Patched" {
			t.Fatalf("history: %s", r.raw)
		}

		// delete
		expect(t, c.do("DELETE", d+"/Organization/"+id, "", "", "If-Match", `W/"1"`), 412, "PRECONDITION_FAILED")
		if r := c.do("DELETE", d+"/Organization/"+id, "", ""); r.status != 204 {
			t.Fatalf("delete: %d", r.status)
		}
		expect(t, c.get(d+"/Organization/"+id), 410, "RESOURCE_DELETED")
		if es := entries(c.get(d + "/Organization/" + id + "/_history")); len(es) != 4 {
			t.Fatalf("history after delete has %d entries", len(es))
		}

		// search
		r = c.get(d + "/Organization?name=leeds&_sort=name")
		expect(t, r, 200, "")
		if got := fmt.Sprint(matchIDs(r)); got != "[RR8]" || r.body["total"] != float64(1) {
			t.Fatalf("name search: %s %v", got, r.body["total"])
		}
		r = c.get(d + "/Organization?partof=Organization/RR8&_include=Organization:partof")
		if got := fmt.Sprint(matchIDs(r)); got != "[RR813]" || len(entries(r)) != 2 {
			t.Fatalf("include: %s", r.raw)
		}
		r = c.get(d + "/PractitionerRole?organization=Y12345&_include=PractitionerRole:practitioner&_revinclude=PractitionerRole:organization")
		if len(matchIDs(r)) != 3 || len(entries(r)) != 6 {
			t.Fatalf("role include: %d matches, %d entries", len(matchIDs(r)), len(entries(r)))
		}
		r = c.get(d + "/Organization?_summary=count&type=RO182")
		if r.body["total"] != float64(3) || len(entries(r)) != 0 {
			t.Fatalf("summary count: %s", r.raw)
		}
		r = c.get(d + "/Organization?_id=RR8&_elements=name")
		res := entries(r)[0]["resource"].(map[string]any)
		if res["name"] == nil || res["address"] != nil {
			t.Fatalf("_elements: %v", res)
		}
		expect(t, c.get(d+"/Organization?unknown=1"), 400, "INVALID_SEARCH_DATA")
		expect(t, c.get(d+"/Organization?unknown=1&name=leeds", "Prefer", "handling=lenient"), 200, "")
		expect(t, c.get(d+"/Organization?name:bogus=x"), 400, "INVALID_SEARCH_DATA")
		expect(t, c.get(d+"/Organization?_count=abc"), 400, "INVALID_SEARCH_DATA")
		expect(t, c.get(d+"/PractitionerRole?date=2024-13-01"), 400, "INVALID_SEARCH_DATA")
		r = c.do("POST", d+"/Organization/_search", "application/x-www-form-urlencoded", "identifier=RR8")
		if fmt.Sprint(matchIDs(r)) != "[RR8]" {
			t.Fatalf("POST _search: %s", r.raw)
		}

		// metadata
		r = c.get(d + "/metadata")
		expect(t, r, 200, "")
		rest := r.body["rest"].([]any)[0].(map[string]any)
		if n := len(rest["resource"].([]any)); n != 6 {
			t.Fatalf("capability lists %d types", n)
		}
	})
}

func TestPagingIsConsistent(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		c := start(t, b)
		d := "/directory/FHIR/R4"
		for i := 0; i < 25; i++ {
			expect(t, c.do("POST", d+"/Organization", fj, orgJSON(fmt.Sprintf("Paging Org %02d", i), fmt.Sprintf("P%05d", i), "")), 201, "")
		}
		r := c.get(d + "/Organization?name=paging&_count=10&_sort=name")
		if r.body["total"] != float64(25) {
			t.Fatalf("total %v", r.body["total"])
		}
		seen := map[string]bool{}
		first := matchIDs(r)
		// writes between pages: delete one not yet seen, create a new match
		var next string
		for _, l := range r.body["link"].([]any) {
			if l.(map[string]any)["relation"] == "next" {
				next = l.(map[string]any)["url"].(string)
			}
		}
		later := c.get(d + "/Organization?name=paging&_sort=-name&_count=1")
		lastID := matchIDs(later)[0]
		c.do("DELETE", d+"/Organization/"+lastID, "", "")
		expect(t, c.do("POST", d+"/Organization", fj, orgJSON("Paging Org 99", "P00099", "")), 201, "")
		for _, id := range first {
			seen[id] = true
		}
		pages := 1
		for next != "" {
			req, _ := http.NewRequest("GET", next, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			json.NewDecoder(res.Body).Decode(&body)
			res.Body.Close()
			pr := resp{status: res.StatusCode, body: body}
			if pr.status != 200 {
				t.Fatalf("page %d: %d %v", pages+1, pr.status, body)
			}
			for _, id := range matchIDs(pr) {
				if seen[id] {
					t.Fatalf("%s seen twice", id)
				}
				seen[id] = true
			}
			pages++
			next = ""
			for _, l := range body["link"].([]any) {
				if l.(map[string]any)["relation"] == "next" {
					next = l.(map[string]any)["url"].(string)
				}
			}
		}
		if len(seen) != 25 || pages != 3 || !seen[lastID] {
			t.Fatalf("paging saw %d resources on %d pages (deleted one seen: %v)", len(seen), pages, seen[lastID])
		}
		expect(t, c.get(d+"/?_getpages=nope&_getpagesoffset=0"), 410, "INVALID_SEARCH_DATA")
	})
}

func TestBundles(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		c := start(t, b)
		d := "/directory/FHIR/R4"
		tx := `{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:11111111-1111-4111-8111-111111111111","request":{"method":"POST","url":"Organization"},"resource":` + orgJSON("Parent Trust", "TX001", "") + `},
 {"fullUrl":"urn:uuid:22222222-2222-4222-8222-222222222222","request":{"method":"POST","url":"Organization"},"resource":` + orgJSON("Child Site", "TX00101", `,"partOf":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"}`) + `},
 {"request":{"method":"GET","url":"Organization?identifier=TX001"}}]}`
		r := c.do("POST", d+"/", fj, tx)
		expect(t, r, 200, "")
		es := entries(r)
		if len(es) != 3 || es[0]["response"].(map[string]any)["status"] != "201 Created" {
			t.Fatalf("transaction: %s", r.raw)
		}
		parentID := es[0]["resource"].(map[string]any)["id"].(string)
		child := es[1]["resource"].(map[string]any)
		if child["partOf"].(map[string]any)["reference"] != "Organization/"+parentID {
			t.Fatalf("urn:uuid not resolved: %v", child["partOf"])
		}
		if got := es[2]["resource"].(map[string]any)["total"]; got != float64(1) {
			t.Fatalf("GET after commit saw %v", got)
		}
		// a failing entry rolls back the whole transaction
		bad := `{"resourceType":"Bundle","type":"transaction","entry":[
 {"request":{"method":"POST","url":"Organization"},"resource":` + orgJSON("Atomic", "AT001", "") + `},
 {"request":{"method":"PUT","url":"Organization/RR8","ifMatch":"W/\"9\""},"resource":` + strings.Replace(orgJSON("X", "RR8", ""), `"Organization"`, `"Organization","id":"RR8"`, 1) + `}]}`
		expect(t, c.do("POST", d+"/", fj, bad), 412, "PRECONDITION_FAILED")
		if r := c.get(d + "/Organization?identifier=AT001"); r.body["total"] != float64(0) {
			t.Fatalf("failed transaction left a resource behind")
		}
		// batch: entries fail on their own
		batch := `{"resourceType":"Bundle","type":"batch","entry":[
 {"request":{"method":"POST","url":"Organization"},"resource":` + orgJSON("Batch One", "BA001", "") + `},
 {"request":{"method":"GET","url":"Organization/missing"}},
 {"request":{"method":"POST","url":"Organization"},"resource":` + orgJSON("Bad", "bad", "") + `}]}`
		r = c.do("POST", d+"/", fj, batch)
		es = entries(r)
		st := func(i int) string { return es[i]["response"].(map[string]any)["status"].(string) }
		if st(0) != "201 Created" || st(1) != "404 Not Found" || st(2) != "400 Bad Request" {
			t.Fatalf("batch statuses: %s %s %s", st(0), st(1), st(2))
		}
		expect(t, c.do("POST", d+"/", fj, `{"resourceType":"Bundle","type":"collection"}`), 400, "INVALID_VALUE")
	})
}

// TestConcurrentConditionalUpdates: 50 concurrent PUTs with If-Match on one
// resource: stale ones get 412, none is lost, final version = 1 + successes.
func TestConcurrentConditionalUpdates(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		c := start(t, b)
		d := "/directory/FHIR/R4"
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, stale := 0, 0
		var names []string
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				name := fmt.Sprintf("Demo Medical Practice %d", i)
				body := `{"resourceType":"Organization","id":"Y12345","name":"` + name + `","identifier":[{"system":"` + ods + `","value":"Y12345"}]}`
				req, _ := http.NewRequest("PUT", c.base+d+"/Organization/Y12345", strings.NewReader(body))
				req.Header.Set("Content-Type", fj)
				req.Header.Set("If-Match", `W/"1"`)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mu.Lock()
				defer mu.Unlock()
				switch res.StatusCode {
				case 200:
					ok++
					names = append(names, name)
				case 412:
					stale++
				default:
					t.Errorf("status %d", res.StatusCode)
				}
			}(i)
		}
		wg.Wait()
		r := c.get(d + "/Organization/Y12345")
		if ok != 1 || stale != 49 || r.header.Get("ETag") != `W/"2"` || r.body["name"] != names[0] {
			t.Fatalf("ok=%d stale=%d etag=%s name=%v", ok, stale, r.header.Get("ETag"), r.body["name"])
		}
	})
}

func TestMain(m *testing.M) {
	fhirtest.QuietLogs()
	os.Exit(m.Run())
}
