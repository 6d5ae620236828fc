package auth_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/policy"
)

// spine is a server with the auth middleware in front of a handler that
// reports the principal.
type spine struct {
	t    *testing.T
	ring *auth.KeyRing
	srv  *httptest.Server
	last *auth.Principal
}

func newSpine(t *testing.T, dev bool) *spine {
	s := &spine{t: t}
	var err error
	if s.ring, err = auth.OpenKeyRing(t.TempDir(), auth.KeyOptions{}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	handler := func(w http.ResponseWriter, r *http.Request) {
		s.last = auth.From(r.Context())
		w.Write([]byte("ok"))
	}
	for _, base := range []string{"/directory/FHIR/R4", "/personal-demographics/FHIR/R4", "/electronic-prescriptions/FHIR/R4"} {
		mux.HandleFunc(base+"/", handler)
	}
	mux.HandleFunc("GET /_ping", handler)
	mux.HandleFunc("POST /electronic-prescriptions/FHIR/R4/$process-message", func(w http.ResponseWriter, r *http.Request) {
		if err := auth.Check(r.Context(), "eps", r.URL.Query().Get("as")); err != nil {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		handler(w, r)
	})
	v := auth.NewVerifier(s.ring, auth.VerifierOptions{Dev: dev})
	s.srv = httptest.NewServer(auth.Middleware(v, auth.DefaultRules(policy.Default(), auth.NewMemLimiter(0)), mux))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *spine) do(method, path, token string, hdr ...string) (*http.Response, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	s.last = nil
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var oo map[string]any
	json.Unmarshal(b, &oo)
	return resp, oo
}

// outcome returns the issue code and Spine error code of an OperationOutcome.
func outcome(oo map[string]any) (issue, code string) {
	defer func() { recover() }()
	is := oo["issue"].([]any)[0].(map[string]any)
	c := is["details"].(map[string]any)["coding"].([]any)[0].(map[string]any)
	return is["code"].(string), c["code"].(string)
}

func (s *spine) issue(g *auth.Grant, now time.Time, ttl time.Duration) string {
	s.t.Helper()
	tok, err := auth.Issue(s.ring, g, now, ttl)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

func appGrant(allowed ...string) *auth.Grant {
	return &auth.Grant{App: &auth.Application{ID: "app", OrgODS: "X26", Mode: auth.ModeApplication, Allowed: allowed, Rate: 1000, Burst: 1000}}
}

func userGrant(role string, activities ...string) *auth.Grant {
	return &auth.Grant{App: &auth.Application{ID: "clinical", Mode: auth.ModeUser, Rate: 1000, Burst: 1000},
		UserID: "555021935107", RoleProfileID: "555021936108", RoleCode: "S0:G0:" + role, OrgODS: "Y12345", Activities: activities}
}

func TestMiddlewareAuthentication(t *testing.T) {
	s := newSpine(t, false)
	good := s.issue(appGrant("directory:read"), time.Now(), auth.DefaultTokenTTL)
	other, _ := auth.OpenKeyRing(t.TempDir(), auth.KeyOptions{})
	forged, _ := auth.Issue(other, appGrant("directory:read"), time.Now(), auth.DefaultTokenTTL)
	expired := s.issue(appGrant("directory:read"), time.Now().Add(-time.Hour), auth.DefaultTokenTTL)
	tooLong := s.issue(appGrant("directory:read"), time.Now(), time.Hour)
	dg := appGrant("directory:read")
	dg.Dev = true
	dev := s.issue(dg, time.Now(), auth.DefaultTokenTTL)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2]

	cases := []struct{ name, token, challenge string }{
		{"no token", "", `Bearer realm="OpenSpine"`},
		{"garbage", "not-a-token", `error="invalid_token"`},
		{"expired", expired, `error="invalid_token"`},
		{"forged (another key)", forged, `error="invalid_token"`},
		{"tampered payload", tampered, `error="invalid_token"`},
		{"lifetime over 10 minutes", tooLong, `error="invalid_token"`},
		{"dev token, server not dev", dev, `error="invalid_token"`},
		{"many dots", strings.Repeat(".", 8000), `error="invalid_token"`},
	}
	for _, c := range cases {
		resp, oo := s.do("GET", "/directory/FHIR/R4/Organization/X26", c.token)
		issue, code := outcome(oo)
		if resp.StatusCode != 401 || issue != "login" || code != "ACCESS_DENIED" || !strings.Contains(resp.Header.Get("WWW-Authenticate"), c.challenge) {
			t.Errorf("%s: %d %s %s %q", c.name, resp.StatusCode, issue, code, resp.Header.Get("WWW-Authenticate"))
		}
		if s.last != nil {
			t.Errorf("%s: reached the handler", c.name)
		}
	}
	if resp, _ := s.do("GET", "/directory/FHIR/R4/Organization/X26", good); resp.StatusCode != 200 || s.last == nil || s.last.AppID != "app" {
		t.Fatalf("good token: %d %+v", resp.StatusCode, s.last)
	}
	if s.last.Service != "directory" || s.last.Action != "read" {
		t.Errorf("classified as %s %s", s.last.Service, s.last.Action)
	}
	// Public routes need no token.
	for _, p := range []string{"/_ping", "/directory/FHIR/R4/metadata", "/personal-demographics/FHIR/R4/metadata"} {
		if resp, _ := s.do("GET", p, ""); resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	// A dev server accepts dev tokens.
	ds := newSpine(t, true)
	dt, _ := auth.Issue(ds.ring, dg, time.Now(), time.Hour)
	if resp, _ := ds.do("GET", "/directory/FHIR/R4/Organization/X26", dt); resp.StatusCode != 200 || !ds.last.Dev {
		t.Errorf("dev token on a dev server: %d", resp.StatusCode)
	}
}

func TestMiddlewareAuthorization(t *testing.T) {
	s := newSpine(t, false)
	now := time.Now()
	reception := s.issue(userGrant("R8009"), now, auth.DefaultTokenTTL)
	prescriber := s.issue(userGrant("R8000", "B0420", "B0168"), now, auth.DefaultTokenTTL)
	pharmacist := s.issue(userGrant("R1290", "B0570"), now, auth.DefaultTokenTTL)
	app := s.issue(appGrant("directory:read", "directory:search"), now, auth.DefaultTokenTTL)
	const pds, eps, dir = "/personal-demographics/FHIR/R4", "/electronic-prescriptions/FHIR/R4", "/directory/FHIR/R4"
	cases := []struct {
		name, token, method, path string
		status                    int
	}{
		{"receptionist reads demographics", reception, "GET", pds + "/Patient/9000000009", 200},
		{"receptionist searches demographics", reception, "GET", pds + "/Patient?family=Smith", 200},
		{"receptionist cannot update demographics", reception, "PATCH", pds + "/Patient/9000000009", 403},
		{"receptionist cannot prescribe", reception, "POST", eps + "/$prepare", 403},
		{"receptionist cannot release", reception, "POST", eps + "/Task/$release", 403},
		{"prescriber prepares", prescriber, "POST", eps + "/$prepare", 200},
		{"prescriber cannot release", prescriber, "POST", eps + "/Task/$release", 403},
		{"pharmacist releases", pharmacist, "POST", eps + "/Task/$release", 200},
		{"pharmacist claims", pharmacist, "POST", eps + "/Claim", 200},
		{"pharmacist cannot prepare", pharmacist, "POST", eps + "/$prepare", 403},
		{"body-dependent action allowed in handler", pharmacist, "POST", eps + "/$process-message?as=dispense", 200},
		{"body-dependent action refused in handler", pharmacist, "POST", eps + "/$process-message?as=prescribe", 403},
		{"app reads the directory", app, "GET", dir + "/Organization/X26", 200},
		{"app searches the directory", app, "GET", dir + "/Organization?name=leeds", 200},
		{"app cannot write the directory", app, "PUT", dir + "/Organization/X26", 403},
		{"app cannot post a transaction", app, "POST", dir + "/", 403},
		{"app cannot read demographics", app, "GET", pds + "/Patient/9000000009", 403},
		{"unknown operation", app, "POST", dir + "/Organization/$everything", 403},
	}
	for _, c := range cases {
		resp, oo := s.do(c.method, c.path, c.token)
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d (%v)", c.name, resp.StatusCode, c.status, oo)
			continue
		}
		if c.status == 403 && oo != nil {
			if issue, code := outcome(oo); issue != "forbidden" || code != "ACCESS_DENIED" {
				t.Errorf("%s: outcome %s %s", c.name, issue, code)
			}
		}
	}
}

func TestEmergencyAccess(t *testing.T) {
	s := newSpine(t, false)
	now := time.Now()
	doc := s.issue(userGrant("R8000", "B0420", "B0168"), now, auth.DefaultTokenTTL)
	noEmergency := s.issue(userGrant("R8000", "B0420"), now, auth.DefaultTokenTTL)
	app := s.issue(appGrant("directory:read"), now, auth.DefaultTokenTTL)
	path := "/electronic-prescriptions/FHIR/R4/MedicationRequest?patient=9000000009"
	resp, _ := s.do("GET", path, doc, auth.HeaderEmergency, "true", auth.HeaderEmergencyReason, "unconscious in A&E")
	if resp.StatusCode != 200 || !s.last.Emergency || s.last.EmergencyReason != "unconscious in A&E" {
		t.Fatalf("emergency: %d %+v", resp.StatusCode, s.last)
	}
	if resp, _ := s.do("GET", path, doc); resp.StatusCode != 200 || s.last.Emergency {
		t.Fatal("emergency leaked into the next request (shared principal)")
	}
	for name, c := range map[string]struct {
		token  string
		hdr    []string
		status int
	}{
		"no reason":             {doc, []string{auth.HeaderEmergency, "true"}, 400},
		"bad value":             {doc, []string{auth.HeaderEmergency, "yes"}, 400},
		"no emergency activity": {noEmergency, []string{auth.HeaderEmergency, "true", auth.HeaderEmergencyReason, "r"}, 403},
		"application":           {app, []string{auth.HeaderEmergency, "true", auth.HeaderEmergencyReason, "r"}, 403},
		"URID mismatch":         {doc, []string{auth.HeaderSessionURID, "999"}, 403},
		"URID match":            {doc, []string{auth.HeaderSessionURID, "555021936108"}, 200},
	} {
		if resp, _ := s.do("GET", path, c.token, c.hdr...); resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, c.status)
		}
	}
}

func TestRateLimit(t *testing.T) {
	s := newSpine(t, false)
	g := appGrant("directory:read", "directory:search")
	g.App.Rate, g.App.Burst = 1, 3
	tok := s.issue(g, time.Now(), auth.DefaultTokenTTL)
	var last *http.Response
	var oo map[string]any
	ok := 0
	for range 5 {
		last, oo = s.do("GET", "/directory/FHIR/R4/Organization/X26", tok)
		if last.StatusCode == 200 {
			ok++
		}
	}
	if ok != 3 || last.StatusCode != 429 {
		t.Fatalf("%d allowed, last %d", ok, last.StatusCode)
	}
	if ra, err := strconv.Atoi(last.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Fatalf("Retry-After %q", last.Header.Get("Retry-After"))
	}
	if issue, code := outcome(oo); issue != "throttled" || code != "TOO_MANY_REQUESTS" {
		t.Fatalf("outcome %s %s", issue, code)
	}
	// Another service has its own bucket; another application too.
	if resp, _ := s.do("GET", "/personal-demographics/FHIR/R4/Patient/9000000009", tok); resp.StatusCode == 429 {
		t.Fatal("the pds bucket was drained by directory requests")
	}
	og := appGrant("directory:read")
	og.App.ID = "app2"
	other := s.issue(og, time.Now(), auth.DefaultTokenTTL)
	if resp, _ := s.do("GET", "/directory/FHIR/R4/Organization/X26", other); resp.StatusCode != 200 {
		t.Fatalf("another application: %d", resp.StatusCode)
	}
}

func TestMemLimiterRefill(t *testing.T) {
	l := auth.NewMemLimiter(2)
	ctx := t.Context()
	for i := range 3 {
		if ok, _, _ := l.Take(ctx, "a", 100, 2); ok != (i < 2) {
			t.Fatalf("take %d: %v", i, ok)
		}
	}
	time.Sleep(25 * time.Millisecond)
	if ok, _, _ := l.Take(ctx, "a", 100, 2); !ok {
		t.Fatal("bucket did not refill")
	}
	// Bounded: more keys than the maximum still work.
	for i := range 10 {
		if ok, _, _ := l.Take(ctx, strconv.Itoa(i), 1, 1); !ok {
			t.Fatalf("key %d refused", i)
		}
	}
}

func TestClassify(t *testing.T) {
	rr := auth.DefaultRules(nil, nil)
	const d, e = "/directory/FHIR/R4", "/electronic-prescriptions/FHIR/R4"
	cases := []struct {
		method, path, service, actions string
		public                         bool
	}{
		{"GET", "/_ping", "", "", true},
		{"GET", "/.well-known/jwks.json", "", "", true},
		{"POST", "/oauth2/token", "", "", true},
		{"GET", d + "/metadata", "directory", "", true},
		{"GET", "/_ping/x", "", "", false},
		{"GET", "/elsewhere", "", "", false},
		{"GET", d, "directory", "search", false},
		{"GET", d + "/", "directory", "search", false},
		{"POST", d + "/", "directory", "create,update,delete", false},
		{"GET", d + "/_history", "directory", "search", false},
		{"GET", d + "/Organization", "directory", "search", false},
		{"HEAD", d + "/Organization", "directory", "search", false},
		{"POST", d + "/Organization", "directory", "create", false},
		{"POST", d + "/Organization/_search", "directory", "search", false},
		{"GET", d + "/Organization/_history", "directory", "search", false},
		{"GET", d + "/Organization/X26", "directory", "read", false},
		{"PUT", d + "/Organization/X26", "directory", "update", false},
		{"PATCH", d + "/Organization/X26", "directory", "update", false},
		{"DELETE", d + "/Organization/X26", "directory", "delete", false},
		{"GET", d + "/Organization/X26/_history", "directory", "read", false},
		{"GET", d + "/Organization/X26/_history/2", "directory", "read", false},
		{"POST", d + "/Organization/X26", "directory", "", false},
		{"GET", d + "/Organization/X26/other", "directory", "", false},
		{"POST", d + "/Organization/$validate", "directory", "", false},
		{"POST", d + "/$everything", "directory", "", false},
		{"POST", e + "/$prepare", "eps", "prescribe", false},
		{"POST", e + "/$process-message", "eps", auth.ActionInHandler, false},
		{"POST", e + "/Task/$release", "eps", "release", false},
		{"POST", e + "/Task", "eps", "dispense", false},
		{"POST", e + "/Claim", "eps", "claim", false},
		{"GET", e + "/Task", "eps", "search", false},
		// Escapes: like the mux, split first, then unescape each segment.
		{"GET", "/directory/FHIR/R%34/Organization/X26", "directory", "read", false},
		{"GET", "/%5Fping", "", "", true},
		{"GET", d + "/Organization%2FX26", "directory", "search", false},
		{"POST", d + "/Organization/%24validate", "directory", "", false},
		{"GET", d + "/Organization/%zz", "", "", false},
		{"GET", "/personal-demographics/FHIR/R4/metadata", "pds", "", true},
		{"GET", "/directory/FHIR/R4metadata", "", "", false},
	}
	for _, c := range cases {
		svc, acts, public := rr.Classify(c.method, c.path)
		if svc != c.service || strings.Join(acts, ",") != c.actions || public != c.public {
			t.Errorf("%s %s: got %q %v %v, want %q %q %v", c.method, c.path, svc, acts, public, c.service, c.actions, c.public)
		}
	}
}
