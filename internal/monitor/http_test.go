package monitor

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openspine/openspine/internal/auth"
)

type client struct {
	t   *testing.T
	url string
}

func (c client) do(method, path, body string, hdr ...string) (int, http.Header, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header, out
}

// code returns the Spine error code of an OperationOutcome.
func code(oo map[string]any) string {
	if oo["resourceType"] != "OperationOutcome" {
		return ""
	}
	issue := oo["issue"].([]any)[0].(map[string]any)
	return issue["details"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string)
}

func TestWorkflowOverHTTP(t *testing.T) {
	m := start(t, Config{}, nil)
	m.Observe(emergency(day.Add(10*time.Hour), "u1", "9000000004"))
	drain(t, m)
	mux := http.NewServeMux()
	m.Register(mux)
	officer := &auth.Principal{UserID: "privacy-officer-1", Mode: auth.ModeUser}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test-User") != "" {
			r = r.WithContext(auth.With(r.Context(), officer))
		}
		mux.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := client{t, srv.URL}

	st, _, list := c.do("GET", "/monitor/alerts?status=new&rule=break-glass&user=u1&patient=9000000004&since=2026-06-10", "")
	if st != 200 || list["count"].(float64) != 1 {
		t.Fatalf("list: %d %v", st, list)
	}
	a := list["alerts"].([]any)[0].(map[string]any)
	id := a["id"].(string)
	ev := a["evidence"].([]any)[0].(map[string]any)
	if !strings.HasPrefix(ev["inclusion"].(string), "/audit/proof/inclusion?index=") || !strings.HasPrefix(ev["record"].(string), "/audit/record/") {
		t.Errorf("evidence %v", ev)
	}
	if _, _, l := c.do("GET", "/monitor/alerts?since=2026-06-11T00:00:00Z", ""); l["count"].(float64) != 0 {
		t.Errorf("since filter: %v", l)
	}
	for _, bad := range []string{"?status=open", "?rule=nope", "?since=yesterday", "?_count=0"} {
		if st, _, oo := c.do("GET", "/monitor/alerts"+bad, ""); st != 400 || code(oo) != "INVALID_VALUE" {
			t.Errorf("list%s: %d %v", bad, st, oo)
		}
	}
	if st, _, oo := c.do("GET", "/monitor/alerts/nope", ""); st != 404 || code(oo) != "RESOURCE_NOT_FOUND" {
		t.Errorf("unknown alert: %d %v", st, oo)
	}
	if st, _, oo := c.do("POST", "/monitor/alerts/nope/acknowledge", ""); st != 404 || code(oo) != "RESOURCE_NOT_FOUND" {
		t.Errorf("acknowledge unknown alert: %d %v", st, oo)
	}

	st, hdr, got := c.do("GET", "/monitor/alerts/"+id, "")
	if st != 200 || got["status"] != "new" || hdr.Get("ETag") != `W/"1"` {
		t.Fatalf("get: %d %v %v", st, hdr, got)
	}
	// acknowledge, with a stale If-Match first
	if st, _, oo := c.do("POST", "/monitor/alerts/"+id+"/acknowledge", `{"note": "looking"}`, "If-Match", `W/"7"`); st != 412 {
		t.Errorf("stale If-Match: %d %v", st, oo)
	}
	st, _, got = c.do("POST", "/monitor/alerts/"+id+"/acknowledge", `{"note": "looking"}`, "X-Test-User", "1", "If-Match", `W/"1"`)
	if st != 200 || got["status"] != "acknowledged" {
		t.Fatalf("acknowledge: %d %v", st, got)
	}
	e := got["events"].([]any)[0].(map[string]any)
	if e["by"] != "privacy-officer-1" || e["action"] != "acknowledge" || e["note"] != "looking" {
		t.Errorf("event %v", e)
	}
	if st, _, oo := c.do("POST", "/monitor/alerts/"+id+"/acknowledge", ""); st != 409 || code(oo) != "RESOURCE_CONFLICT" {
		t.Errorf("acknowledge twice: %d %v", st, oo)
	}
	// close
	for _, bad := range []string{`{"outcome": "guilty"}`, `{}`, `{"outcome": "benign", "extra": 1}`, `not json`} {
		if st, _, oo := c.do("POST", "/monitor/alerts/"+id+"/close", bad); st != 400 || code(oo) != "INVALID_VALUE" {
			t.Errorf("close with %s: %d %v", bad, st, oo)
		}
	}
	st, _, got = c.do("POST", "/monitor/alerts/"+id+"/close", `{"outcome": "true-positive", "note": "reported to the Caldicott Guardian"}`)
	if st != 200 || got["status"] != "closed" || got["outcome"] != "true-positive" || len(got["events"].([]any)) != 2 {
		t.Fatalf("close: %d %v", st, got)
	}
	if st, _, oo := c.do("POST", "/monitor/alerts/"+id+"/close", `{"outcome": "benign"}`); st != 409 || code(oo) != "RESOURCE_CONFLICT" {
		t.Errorf("close twice: %d %v", st, oo)
	}
	if _, _, l := c.do("GET", "/monitor/alerts?status=closed", ""); l["count"].(float64) != 1 {
		t.Errorf("closed list: %v", l)
	}

	// a new finding on a closed incident opens a new alert
	m.Observe(emergency(day.Add(10*time.Hour+time.Minute), "u1", "9000000004"))
	drain(t, m)
	if _, _, l := c.do("GET", "/monitor/alerts?rule=break-glass", ""); l["count"].(float64) != 2 {
		t.Errorf("after closing, a new alert: %v", l)
	}
}

func TestConcurrentOfficers(t *testing.T) {
	m := start(t, Config{}, nil)
	m.Observe(emergency(day.Add(9*time.Hour), "u3", "9000000004"))
	drain(t, m)
	mux := http.NewServeMux()
	m.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := client{t, srv.URL}
	_, _, l := c.do("GET", "/monitor/alerts?rule=break-glass", "")
	id := l["alerts"].([]any)[0].(map[string]any)["id"].(string)
	results := make(chan int, 4)
	for range 4 {
		go func() {
			st, _, _ := c.do("POST", "/monitor/alerts/"+id+"/close", `{"outcome": "benign"}`)
			results <- st
		}()
	}
	ok := 0
	for range 4 {
		switch st := <-results; st {
		case 200:
			ok++
		case 409:
		default:
			t.Errorf("concurrent close: %d", st)
		}
	}
	if ok != 1 {
		t.Errorf("%d officers closed the alert, want exactly 1", ok)
	}
	a, _ := m.Alert(t.Context(), id)
	if len(a.Events) != 1 {
		t.Errorf("events %+v", a.Events)
	}
}
