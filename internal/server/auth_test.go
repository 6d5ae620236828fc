package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/directory"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/pds"
	"github.com/openspine/openspine/internal/policy"
	"github.com/openspine/openspine/internal/population"
	"github.com/openspine/openspine/internal/server"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/store/storetest"
)

// authServer runs the real server with authentication (dev mode, so that
// tokens can be minted) over a store holding the demo directory and a
// small synthetic population.
func authServer(t *testing.T, dev bool) (url, dataDir string, pop []population.Patient) {
	dataDir = t.TempDir()
	st, _, _ := storetest.Backends()[0].Open(t)
	testStore = st
	svc, err := auth.New(auth.Config{DataDir: dataDir, Dev: dev, TokenURL: tokenURL, Authorizer: policy.Default(),
		Apps: auth.StoreRegistry{Store: st}, Replay: auth.StoreReplay{Store: st}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Auth: svc, AuditDir: dataDir}, st)
	if err != nil {
		t.Fatal(err)
	}
	srv.Run(t.Context())
	t.Cleanup(func() { srv.Close() })
	testServer = srv
	ctx := context.Background()
	if _, err := directory.LoadDemo(ctx, srv.Directory); err != nil {
		t.Fatal(err)
	}
	gen := population.New(3, population.Options{})
	var batch []fhir.Resource
	for len(pop) < 40 || !hasRestricted(pop) {
		p := gen.Next()
		if p.SupersededBy != "" || p.Deceased() {
			continue
		}
		pop = append(pop, p)
		batch = append(batch, p.FHIR())
	}
	// everyone has related people: a partner by reference where the
	// population gave them none
	for i := range pop {
		if len(pop[i].Related) == 0 {
			pop[i].Related = []population.Related{{ID: fmt.Sprintf("A%07d", i), Patient: pop[(i+1)%len(pop)].NHSNumber,
				Role: "Personal", Type: "SPS", NextOfKin: true, Rank: 1, Start: "2020-01-01"}}
		}
		batch = append(batch, pds.SeedRelated(pop[i]))
	}
	if err := srv.PDS.Load(ctx, batch); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler)
	t.Cleanup(ts.Close)
	return ts.URL, dataDir, pop
}

const tokenURL = "http://spine.test/oauth2/token"

var (
	testStore  store.Store
	testServer *server.Server
)

func hasRestricted(pop []population.Patient) bool {
	for _, p := range pop {
		if p.Restricted {
			return true
		}
	}
	return false
}

func token(t *testing.T, dataDir string, o auth.DevTokenOptions) string {
	t.Helper()
	tok, err := auth.DevToken(dataDir, o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestAccessControl tries every route with no token, a forged, an expired
// and a dev token on a non-dev server, roles without the permission, and
// patients reaching for other patients; every refusal is a FHIR
// OperationOutcome and leaks nothing of the record asked for.
func TestAccessControl(t *testing.T) {
	base, dataDir, pop := authServer(t, true)
	var plain, restricted population.Patient
	for _, p := range pop {
		if p.Restricted && restricted.NHSNumber == "" {
			restricted = p
		} else if !p.Restricted && plain.NHSNumber == "" {
			plain = p
		}
	}
	other := pop[len(pop)-1]
	if other.NHSNumber == plain.NHSNumber || other.Restricted {
		other = pop[len(pop)-2]
	}
	c := &client{t: t, base: base}
	pdsH := func(h ...string) []string {
		return append([]string{"X-Request-ID", "0f9b2f3e-6c0e-4a5e-9a36-1a2b3c4d5e6f"}, h...)
	}
	bearer := func(tok string) string { return "Bearer " + tok }

	app := token(t, dataDir, auth.DevTokenOptions{})
	clinician := token(t, dataDir, auth.DevTokenOptions{User: "555021935107", Role: "R8000", Org: "Y12345"})
	receptionist := token(t, dataDir, auth.DevTokenOptions{User: "555021935111", Role: "R8009", Org: "Y12345"})
	patientTok := token(t, dataDir, auth.DevTokenOptions{Patient: plain.NHSNumber})
	restrictedSelf := token(t, dataDir, auth.DevTokenOptions{Patient: restricted.NHSNumber})

	// a token signed by another spine's keys, and an expired one
	otherDir := t.TempDir()
	if _, err := auth.New(auth.Config{DataDir: otherDir, Dev: true, TokenURL: "http://x/oauth2/token"}); err != nil {
		t.Fatal(err)
	}
	forged := token(t, otherDir, auth.DevTokenOptions{})
	ring, err := auth.OpenKeyRing(auth.KeysDir(dataDir), auth.KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := auth.Issue(ring, &auth.Grant{App: &auth.Application{ID: auth.DemoAppID, OrgODS: "X26", Mode: auth.ModeApplication, Allowed: auth.DemoAllowed}, Dev: true},
		time.Now().Add(-2*time.Hour), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	d, p := "/directory/FHIR/R4", "/personal-demographics/FHIR/R4"
	org := `{"resourceType":"Organization","name":"X","identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"ACL01"}]}`
	patch := `{"patches":[{"op":"replace","path":"/gender","value":"unknown"}]}`
	routes := []struct {
		name, method, path, ctype, body string
	}{
		{"directory read", "GET", d + "/Organization/RR8", "", ""},
		{"directory search", "GET", d + "/Organization?name=leeds", "", ""},
		{"directory history", "GET", d + "/Organization/RR8/_history", "", ""},
		{"directory create", "POST", d + "/Organization", fj, org},
		{"directory update", "PUT", d + "/Organization/RR8", fj, strings.Replace(org, `"Organization"`, `"Organization","id":"RR8"`, 1)},
		{"directory patch", "PATCH", d + "/Organization/RR8", "application/json-patch+json", `[{"op":"replace","path":"/name","value":"Y"}]`},
		{"directory delete", "DELETE", d + "/Organization/B82005", "", ""},
		{"directory bundle", "POST", d, fj, `{"resourceType":"Bundle","type":"batch"}`},
		{"pds read", "GET", p + "/Patient/" + other.NHSNumber, "", ""},
		{"pds search", "GET", p + "/Patient?family=" + other.Names[0].Family + "&birthdate=eq" + other.BirthDate + "&_max-results=1", "", ""},
		{"pds patch", "PATCH", p + "/Patient/" + other.NHSNumber, "application/json-patch+json", patch},
		{"pds create", "POST", p + "/Patient", fj, `{"name":[{"use":"usual","family":"Acl"}],"gender":"male","birthDate":"2000-01-01"}`},
		{"pds related", "GET", p + "/Patient/" + other.NHSNumber + "/RelatedPerson", "", ""},
		{"unknown path", "GET", "/elsewhere", "", ""},
	}
	leak := func(r resp) {
		t.Helper()
		if strings.Contains(r.raw, other.Names[0].Family) || strings.Contains(r.raw, other.BirthDate) || (len(other.Addresses) > 0 && strings.Contains(r.raw, other.Addresses[0].PostalCode)) {
			t.Fatalf("refusal leaks the record: %s", r.raw)
		}
	}
	for _, rt := range routes {
		for name, auth := range map[string]string{"no token": "", "forged": bearer(forged), "expired": bearer(expired), "garbage": "Bearer abc.def.ghi", "basic": "Basic dXNlcjpwdw=="} {
			h := pdsH()
			if auth != "" {
				h = append(h, "Authorization", auth)
			}
			r := c.do(rt.method, rt.path, rt.ctype, rt.body, h...)
			if r.status != 401 || code(r) != "ACCESS_DENIED" || r.header.Get("WWW-Authenticate") == "" {
				t.Fatalf("%s with %s: %d %s", rt.name, name, r.status, r.raw)
			}
			leak(r)
		}
	}
	// public routes need no token
	for _, path := range []string{"/_ping", d + "/metadata", p + "/metadata", "/.well-known/jwks.json", "/audit/FHIR/R4/metadata"} {
		if r := c.get(path); r.status != 200 {
			t.Fatalf("%s without a token: %d", path, r.status)
		}
	}
	// the audit view states what it serves: AuditEvent search, with the parameters it takes
	if r := c.get("/audit/FHIR/R4/metadata"); r.body["resourceType"] != "CapabilityStatement" ||
		!strings.Contains(r.raw, `"type":"AuditEvent"`) || !strings.Contains(r.raw, `"search-type"`) || !strings.Contains(r.raw, `"name":"patient"`) {
		t.Fatalf("audit metadata: %s", r.raw)
	}
	// roles: allowed and refused
	type want struct {
		tok    string
		route  string
		status int
	}
	byName := map[string]int{}
	for i, rt := range routes {
		byName[rt.name] = i
	}
	for _, w := range []want{
		{receptionist, "directory read", 200}, {receptionist, "directory create", 403}, {receptionist, "directory delete", 403},
		{receptionist, "pds read", 200}, {receptionist, "pds search", 200}, {receptionist, "pds patch", 403},
		{clinician, "directory update", 403}, {clinician, "pds read", 200},
		{patientTok, "pds read", 403}, {patientTok, "pds patch", 403}, {patientTok, "pds search", 403}, {patientTok, "directory create", 403},
		{app, "pds read", 200}, {app, "directory create", 201},
		{receptionist, "pds related", 200}, {clinician, "pds related", 200}, {app, "pds related", 200}, {patientTok, "pds related", 403},
	} {
		rt := routes[byName[w.route]]
		r := c.do(rt.method, rt.path, rt.ctype, rt.body, pdsH("Authorization", bearer(w.tok), "If-Match", `W/"1"`)...)
		if r.status != w.status {
			t.Fatalf("%s: got %d, want %d: %s", w.route, r.status, w.status, r.raw)
		}
		if r.status == 403 {
			if code(r) != "ACCESS_DENIED" {
				t.Fatalf("%s: refusal code %s", w.route, code(r))
			}
			leak(r)
		}
	}
	// application-restricted PDS search: one result at most
	r := c.get(p+"/Patient?family="+other.Names[0].Family+"&birthdate=eq"+other.BirthDate, pdsH("Authorization", bearer(app))...)
	if r.status != 403 || code(r) != "INVALID_VALUE" {
		t.Fatalf("application-restricted search for many: %d %s", r.status, r.raw)
	}
	// a patient reads their own record; a restricted patient sees their own address
	// another patient's number, existing or not, is refused alike (no existence oracle)
	for _, n := range []string{other.NHSNumber, "9000000009"} {
		if r := c.get(p+"/Patient/"+n, pdsH("Authorization", bearer(patientTok))...); r.status != 403 {
			t.Fatalf("patient reading %s: %d", n, r.status)
		}
	}
	if r := c.get(p+"/Patient/"+plain.NHSNumber, pdsH("Authorization", bearer(patientTok))...); r.status != 200 || r.body["id"] != plain.NHSNumber {
		t.Fatalf("patient own record: %d", r.status)
	}
	if r := c.get(p+"/Patient/"+restricted.NHSNumber, pdsH("Authorization", bearer(restrictedSelf))...); r.status != 200 || r.body["address"] == nil {
		t.Fatalf("restricted patient's own record: %d %s", r.status, r.raw)
	}
	// related people: a patient sees their own; a restricted patient's
	// are shown to no one but the patient themself
	for _, x := range []struct {
		tok, nhs string
		total    float64
	}{
		{patientTok, plain.NHSNumber, float64(len(plain.Related))},
		{restrictedSelf, restricted.NHSNumber, float64(len(restricted.Related))},
		{clinician, restricted.NHSNumber, 0},
		{clinician, plain.NHSNumber, float64(len(plain.Related))},
	} {
		if r := c.get(p+"/Patient/"+x.nhs+"/RelatedPerson", pdsH("Authorization", bearer(x.tok))...); r.status != 200 || r.body["total"] != x.total {
			t.Fatalf("related people of %s: %d %s", x.nhs, r.status, r.raw)
		}
	}
	r = c.get(p+"/Patient/"+restricted.NHSNumber, pdsH("Authorization", bearer(clinician))...)
	if r.status != 200 || r.body["address"] != nil || r.body["telecom"] != nil || r.body["generalPractitioner"] != nil {
		t.Fatalf("restricted record shown to a clinician: %s", r.raw)
	}
	// NHSD-Session-URID must name the token's role
	r = c.get(d+"/Organization/RR8", "Authorization", bearer(clinician), "NHSD-Session-URID", "999999999999")
	if r.status != 403 {
		t.Fatalf("mismatched NHSD-Session-URID: %d", r.status)
	}
}

// TestDevTokensRefusedOutsideDev: a dev token is refused by a server not
// running with --dev, even though it is signed by that server's key.
func TestDevTokensRefusedOutsideDev(t *testing.T) {
	base, dataDir, _ := authServer(t, false)
	if _, err := auth.DevToken(dataDir, auth.DevTokenOptions{}); err == nil {
		t.Fatal("DevToken minted for a non-dev data folder")
	}
	// make the folder look like dev only to mint, the server itself is not dev
	if _, err := auth.OpenDevIdP(dataDir); err != nil {
		t.Fatal(err)
	}
	tok := token(t, dataDir, auth.DevTokenOptions{})
	c := &client{t: t, base: base}
	r := c.get("/directory/FHIR/R4/Organization/RR8", "Authorization", "Bearer "+tok)
	if r.status != 401 {
		t.Fatalf("dev token on a non-dev server: %d", r.status)
	}
}

// TestClientCredentials: an application registered in the store gets a
// token with a signed JWT assertion (RFC 7523), uses it within what it was
// approved for, and cannot replay the assertion.
func TestClientCredentials(t *testing.T) {
	base, _, _ := authServer(t, false)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	app := &auth.Application{ID: "gp-system-1", Name: "GP system", OrgODS: "Y12345", Mode: auth.ModeApplication, JWKS: jwks, Allowed: []string{"directory:read", "directory:search"}}
	if err := (auth.StoreRegistry{Store: testStore}).Register(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	assertion := func(aud string) string {
		claims, _ := json.Marshal(map[string]any{"iss": app.ID, "sub": app.ID, "aud": aud, "jti": fmt.Sprint(time.Now().UnixNano()),
			"iat": time.Now().Unix(), "exp": time.Now().Add(4 * time.Minute).Unix()})
		jws, err := signer.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := jws.CompactSerialize()
		return s
	}
	post := func(a string) (int, map[string]any) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
		res, err := http.PostForm(base+"/oauth2/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	a := assertion(tokenURL)
	status, out := post(a)
	tok, _ := out["access_token"].(string)
	if status != 200 || tok == "" || out["token_type"] != "Bearer" {
		t.Fatalf("token: %d %v", status, out)
	}
	if status, out := post(a); status != 401 || out["error"] == nil {
		t.Fatalf("replayed assertion: %d %v", status, out)
	}
	if status, _ := post(assertion("http://elsewhere/oauth2/token")); status != 401 {
		t.Fatalf("wrong audience: %d", status)
	}
	c := &client{t: t, base: base}
	if r := c.get("/directory/FHIR/R4/Organization/RR8", "Authorization", "Bearer "+tok); r.status != 200 {
		t.Fatalf("read with the app's token: %d %s", r.status, r.raw)
	}
	r := c.do("POST", "/directory/FHIR/R4/Organization", fj, orgJSON("X", "APP01", ""), "Authorization", "Bearer "+tok)
	if r.status != 403 || code(r) != "ACCESS_DENIED" {
		t.Fatalf("create beyond the app's approval: %d %s", r.status, r.raw)
	}
}

// TestAuditTrail: reads of patient data are recorded before release, are
// visible to a privacy officer and to the patient (without the user's
// identity), are committed to by signed checkpoints with verifiable
// inclusion proofs, and refusals of identity are recorded too.
func TestAuditTrail(t *testing.T) {
	base, dataDir, pop := authServer(t, true)
	c := &client{t: t, base: base}
	x, y := pop[0], pop[1]
	if x.Restricted {
		x = pop[2]
	}
	clinician := token(t, dataDir, auth.DevTokenOptions{User: "555021935107", Role: "R8000", Org: "Y12345"})
	officer := token(t, dataDir, auth.DevTokenOptions{User: "555021935112", Role: "R8013", Org: "RR8"})
	patientTok := token(t, dataDir, auth.DevTokenOptions{Patient: x.NHSNumber})
	rid := "7d0c1a9e-1111-4222-8333-944455556666"
	p := "/personal-demographics/FHIR/R4"
	if r := c.get(p+"/Patient/"+x.NHSNumber, "Authorization", "Bearer "+clinician, "X-Request-ID", rid); r.status != 200 {
		t.Fatalf("read: %d %s", r.status, r.raw)
	}
	c.get(p+"/Patient/"+x.NHSNumber, "Authorization", "Bearer forged.token.here", "X-Request-ID", rid)

	// every search parameter the view's CapabilityStatement lists is taken
	meta := c.get("/audit/FHIR/R4/metadata")
	for _, sp := range meta.body["rest"].([]any)[0].(map[string]any)["resource"].([]any)[0].(map[string]any)["searchParam"].([]any) {
		name := sp.(map[string]any)["name"].(string)
		value := map[string]string{"patient": x.NHSNumber, "agent": "555021935107", "organization": "Y12345", "action": "read",
			"date": "ge2020-01-01", "_count": "5", "_before": "1000"}[name]
		if r := c.get("/audit/FHIR/R4/AuditEvent?"+name+"="+value, "Authorization", "Bearer "+officer); r.status != 200 || value == "" {
			t.Fatalf("listed parameter %s=%q: %d %s", name, value, r.status, r.raw)
		}
	}
	// and one it does not list is refused
	if r := c.get("/audit/FHIR/R4/AuditEvent?colour=blue", "Authorization", "Bearer "+officer); r.status != 400 || code(r) != "INVALID_SEARCH_DATA" {
		t.Fatalf("unlisted parameter: %d %s", r.status, r.raw)
	}
	// the privacy officer sees who read X
	r := c.get("/audit/FHIR/R4/AuditEvent?patient="+x.NHSNumber, "Authorization", "Bearer "+officer)
	if r.status != 200 || !strings.Contains(r.raw, "555021935107") || !strings.Contains(r.raw, rid) || !strings.Contains(r.raw, `"action":"R"`) {
		t.Fatalf("officer's view: %d %s", r.status, r.raw)
	}
	// the patient sees the access to their own record, not who the user was
	r = c.get("/audit/FHIR/R4/AuditEvent?patient="+x.NHSNumber, "Authorization", "Bearer "+patientTok)
	if r.status != 200 || !strings.Contains(r.raw, "R8000") || !strings.Contains(r.raw, "Y12345") || strings.Contains(r.raw, "555021935107") {
		t.Fatalf("patient's view: %d %s", r.status, r.raw)
	}
	if r := c.get("/audit/FHIR/R4/AuditEvent?patient="+y.NHSNumber, "Authorization", "Bearer "+patientTok); r.status != 403 {
		t.Fatalf("patient viewing another's accesses: %d", r.status)
	}
	if r := c.get("/audit/FHIR/R4/AuditEvent?patient="+x.NHSNumber, "Authorization", "Bearer "+clinician); r.status != 403 {
		t.Fatalf("clinician viewing the audit trail: %d", r.status)
	}
	// a signed checkpoint commits to every record; an inclusion proof verifies
	req, _ := http.NewRequest("POST", base+"/audit/checkpoint", nil)
	req.Header.Set("Authorization", "Bearer "+officer)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("checkpoint on demand: %v %v", res.StatusCode, err)
	}
	res.Body.Close()
	res, err = http.Get(base + "/audit/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(res.Body)
	res.Body.Close()
	pub, err := audit.LoadPublicKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := audit.ParseCheckpoint(text, pub)
	if err != nil || cp.Size < 3 {
		t.Fatalf("checkpoint %q: %v", text, err)
	}
	var found bool
	for i := int64(0); i < cp.Size; i++ {
		r := c.get(fmt.Sprintf("/audit/record/%d", i), "Authorization", "Bearer "+officer)
		if r.status != 200 {
			t.Fatalf("record %d: %d", i, r.status)
		}
		if r.body["request_id"] == rid && r.body["status"] == float64(401) && r.body["action"] == "authenticate" {
			found = true
		}
		if r.body["request_id"] == rid && r.body["status"] == float64(200) {
			pr := c.get(fmt.Sprintf("/audit/proof/inclusion?index=%d&size=%d", i, cp.Size), "Authorization", "Bearer "+officer)
			var hashes [][]byte
			for _, h := range pr.body["hashes"].([]any) {
				b, _ := base64.StdEncoding.DecodeString(h.(string))
				hashes = append(hashes, b)
			}
			leaf := rfc6962.DefaultHasher.HashLeaf([]byte(r.raw)) // computed here, not taken from the server
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(cp.Size), leaf, hashes, cp.Root); err != nil {
				t.Fatalf("inclusion proof of record %d: %v", i, err)
			}
		}
	}
	if !found {
		t.Fatal("the refused request was not recorded")
	}
	// the log verifies against its checkpoints
	rep, err := audit.Verify(context.Background(), testStore.(audit.Storage), pub)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", rep, err)
	}
}

// TestMonitoringSameSurname: a clinician reading a patient who shares
// their surname raises the same-name alert; the patient's details reach the
// rule from the read itself (decoded after the response, only because the
// rule asks), while reading a patient with another surname raises none.
func TestMonitoringSameSurname(t *testing.T) {
	base, dataDir, pop := authServer(t, true)
	c := &client{t: t, base: base}
	clinician := token(t, dataDir, auth.DevTokenOptions{User: "555021935107", Role: "R8000", Org: "Y12345", Activities: []string{"B0370", "B0168"}})
	officer := token(t, dataDir, auth.DevTokenOptions{User: "555021935112", Role: "R8013", Org: "RR8"})
	// the clinician is Dr Amelia Carter (demo directory): a new Carter patient
	var other population.Patient
	loaded := map[string]bool{}
	for _, p := range pop {
		loaded[p.NHSNumber] = true
		if !p.Restricted {
			other = p
		}
	}
	gen := population.New(77, population.Options{})
	carter := gen.Next()
	for loaded[carter.NHSNumber] || carter.Restricted || carter.SupersededBy != "" || carter.Deceased() {
		carter = gen.Next()
	}
	res := carter.FHIR()
	for _, n := range res["name"].([]any) {
		n.(map[string]any)["family"] = "Carter"
	}
	if err := testServer.PDS.Load(context.Background(), []fhir.Resource{res}); err != nil {
		t.Fatal(err)
	}
	for i, nhs := range []string{other.NHSNumber, carter.NHSNumber} {
		r := c.get("/personal-demographics/FHIR/R4/Patient/"+nhs, "Authorization", "Bearer "+clinician,
			"X-Request-ID", fmt.Sprintf("5b7e0c1a-2222-4333-8444-95556666777%d", i))
		if r.status != 200 {
			t.Fatalf("read %s: %d %s", nhs, r.status, r.raw)
		}
	}
	var raw string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		res := c.get("/monitor/alerts?rule=same-name-address", "Authorization", "Bearer "+officer)
		if res.status != 200 {
			t.Fatalf("alerts: %d %s", res.status, res.raw)
		}
		if raw = res.raw; strings.Contains(raw, carter.NHSNumber) {
			break
		}
	}
	if !strings.Contains(raw, carter.NHSNumber) || !strings.Contains(raw, "same-surname") {
		t.Fatalf("no same-surname alert for patient %s within 5 s: %s", carter.NHSNumber, raw)
	}
	if strings.Contains(raw, other.NHSNumber) {
		t.Fatalf("an alert for patient %s, who does not share the surname: %s", other.NHSNumber, raw)
	}
}

// TestMonitoringAlerts: an emergency (break-glass) access through the real
// server raises an alert from the audit stream, which an officer sees and
// acknowledges over HTTP.
func TestMonitoringAlerts(t *testing.T) {
	base, dataDir, pop := authServer(t, true)
	c := &client{t: t, base: base}
	clinician := token(t, dataDir, auth.DevTokenOptions{User: "555021935107", Role: "R8000", Org: "Y12345", Activities: []string{"B0370", "B0168"}})
	officer := token(t, dataDir, auth.DevTokenOptions{User: "555021935112", Role: "R8013", Org: "RR8"})
	x := pop[3]
	r := c.get("/personal-demographics/FHIR/R4/Patient/"+x.NHSNumber, "Authorization", "Bearer "+clinician,
		"X-Request-ID", "5b7e0c1a-2222-4333-8444-955566667777", "NHSD-Emergency-Access", "true", "NHSD-Emergency-Access-Reason", "unconscious patient in A&E")
	if r.status != 200 {
		t.Fatalf("emergency read: %d %s", r.status, r.raw)
	}
	var alert map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for alert == nil && time.Now().Before(deadline) {
		res := c.get("/monitor/alerts?rule=break-glass", "Authorization", "Bearer "+officer)
		if res.status != 200 {
			t.Fatalf("alerts: %d %s", res.status, res.raw)
		}
		if strings.Contains(res.raw, x.NHSNumber) {
			var list struct {
				Alerts []map[string]any `json:"alerts"`
			}
			json.Unmarshal([]byte(res.raw), &list)
			if len(list.Alerts) > 0 {
				alert = list.Alerts[0]
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if alert == nil {
		t.Fatal("no break-glass alert raised within 5 s")
	}
	id, _ := alert["id"].(string)
	if r := c.get("/monitor/alerts?rule=break-glass", "Authorization", "Bearer "+clinician); r.status != 403 {
		t.Fatalf("a clinician listing alerts: %d", r.status)
	}
	r = c.do("POST", "/monitor/alerts/"+id+"/acknowledge", "", "", "Authorization", "Bearer "+officer)
	if r.status != 200 || !strings.Contains(r.raw, "acknowledged") {
		t.Fatalf("acknowledge: %d %s", r.status, r.raw)
	}
}
