package auth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/openspine/openspine/internal/auth"
)

func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	v := auth.NewVerifier(e.ring, auth.VerifierOptions{})
	for _, c := range []struct {
		app, kid string
		alg      jose.SignatureAlgorithm
		key      any
	}{
		{"app-rsa", "rsa1", jose.RS512, rsaKey},
		{"app-ec", "ec1", jose.ES256, ecKey},
	} {
		st, body := e.post(clientCredentials(sign(t, c.alg, c.key, c.kid, assertion(c.app, time.Now(), nil))))
		if st != 200 {
			t.Fatalf("%s: %d %v", c.app, st, body)
		}
		if body["token_type"] != "Bearer" || body["expires_in"] != "599" || body["access_token"] == "" {
			t.Fatalf("%s: response %v", c.app, body)
		}
		if ms, err := strconv.ParseInt(body["issued_at"], 10, 64); err != nil || time.Since(time.UnixMilli(ms)) > time.Minute {
			t.Fatalf("issued_at %q", body["issued_at"])
		}
		p, err := v.Verify(body["access_token"])
		if err != nil {
			t.Fatal(err)
		}
		if p.AppID != c.app || p.Mode != auth.ModeApplication || p.AppOrg != "X26" || p.UserID != "" || p.Dev {
			t.Fatalf("principal %+v", p)
		}
		if !p.HasScope("directory", "read") || p.HasScope("pds", "read") {
			t.Fatalf("scopes %v", p.Scopes)
		}
		if life := time.Until(p.Expires); life > 600*time.Second || life < 590*time.Second {
			t.Fatalf("lifetime %s", life)
		}
	}
}

// Every failure is a 401 whose body names only the standard code.
func TestTokenFailures(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	es := func(over map[string]any) string {
		return sign(t, jose.ES256, ecKey, "ec1", assertion("app-ec", now, over))
	}
	replayed := es(nil)
	if st, body := e.post(clientCredentials(replayed)); st != 200 {
		t.Fatalf("first use: %d %v", st, body)
	}
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, (&jose.SignerOptions{}).WithHeader("kid", "ec1"))
	hsTok, _ := jose.JSONWebSignature{}.CompactSerialize()
	if obj, err := hs.Sign([]byte(`{"iss":"app-ec","sub":"app-ec","aud":"` + tokenURL + `","jti":"h","exp":` + strconv.FormatInt(now.Add(time.Minute).Unix(), 10) + `}`)); err == nil {
		hsTok, _ = obj.CompactSerialize()
	}
	cases := []struct {
		name string
		form url.Values
		code string
	}{
		{"replayed jti", clientCredentials(replayed), "invalid_client"},
		{"expired", clientCredentials(es(map[string]any{"exp": now.Add(-2 * time.Minute).Unix(), "iat": now.Add(-5 * time.Minute).Unix()})), "invalid_client"},
		{"exp too far ahead", clientCredentials(es(map[string]any{"exp": now.Add(10 * time.Minute).Unix()})), "invalid_client"},
		{"no exp", clientCredentials(es(map[string]any{"exp": nil})), "invalid_client"},
		{"not yet valid", clientCredentials(es(map[string]any{"nbf": now.Add(2 * time.Minute).Unix()})), "invalid_client"},
		{"issued in the future", clientCredentials(es(map[string]any{"iat": now.Add(2 * time.Minute).Unix()})), "invalid_client"},
		{"wrong audience", clientCredentials(es(map[string]any{"aud": "https://elsewhere.test/oauth2/token"})), "invalid_client"},
		{"no jti", clientCredentials(es(map[string]any{"jti": nil})), "invalid_client"},
		{"sub differs", clientCredentials(es(map[string]any{"sub": "app-rsa"})), "invalid_client"},
		{"unknown kid", clientCredentials(sign(t, jose.ES256, ecKey, "nope", assertion("app-ec", now, nil))), "invalid_client"},
		{"no kid", clientCredentials(sign(t, jose.ES256, ecKey, "", assertion("app-ec", now, nil))), "invalid_client"},
		{"bad signature", clientCredentials(sign(t, jose.ES256, ecOther, "ec1", assertion("app-ec", now, nil))), "invalid_client"},
		{"RS256 not allowed", clientCredentials(sign(t, jose.RS256, rsaKey, "rsa1", assertion("app-rsa", now, nil))), "invalid_client"},
		{"HS256 with a guessable secret", clientCredentials(hsTok), "invalid_client"},
		{"alg none", clientCredentials("eyJhbGciOiJub25lIiwia2lkIjoiZWMxIn0.eyJpc3MiOiJhcHAtZWMifQ."), "invalid_client"},
		{"many dots (CVE-2025-27144)", clientCredentials(strings.Repeat(".", 5000)), "invalid_client"},
		{"unknown client", clientCredentials(sign(t, jose.ES256, ecKey, "ec1", assertion("app-nobody", now, nil))), "invalid_client"},
		{"client_id differs", func() url.Values { f := clientCredentials(es(nil)); f.Set("client_id", "app-rsa"); return f }(), "invalid_client"},
		{"wrong grant type", func() url.Values { f := clientCredentials(es(nil)); f.Set("grant_type", "password"); return f }(), "unsupported_grant_type"},
		{"no grant type", func() url.Values { f := clientCredentials(es(nil)); f.Del("grant_type"); return f }(), "invalid_request"},
		{"no assertion", url.Values{"grant_type": {auth.GrantClientCredentials}}, "invalid_request"},
		{"wrong assertion type", func() url.Values { f := clientCredentials(es(nil)); f.Set("client_assertion_type", "x"); return f }(), "invalid_request"},
		{"repeated parameter", func() url.Values {
			f := clientCredentials(es(nil))
			f.Add("grant_type", auth.GrantClientCredentials)
			return f
		}(), "invalid_request"},
		{"user-restricted app with client_credentials", clientCredentials(sign(t, jose.ES256, ecKey, "ec1", assertion("app-user", now, nil))), "unauthorized_client"},
		{"application-restricted app exchanging", exchangeForm(es(nil), "x.y.z"), "unauthorized_client"},
	}
	for _, c := range cases {
		start := time.Now()
		st, body := e.post(c.form)
		if st != http.StatusUnauthorized || body["error"] != c.code {
			t.Errorf("%s: got %d %v, want 401 %s", c.name, st, body, c.code)
			continue
		}
		if d := body["error_description"]; d == "" || strings.Contains(strings.ToLower(d), "kid") || strings.Contains(d, "jti") || strings.Contains(d, "exp") {
			t.Errorf("%s: description %q says too much", c.name, d)
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("%s: took %s", c.name, time.Since(start))
		}
	}
	// Descriptions are per code, never per check.
	_, a := e.post(cases[1].form)
	_, b := e.post(cases[9].form)
	if a["error_description"] != b["error_description"] {
		t.Errorf("descriptions differ by check: %q vs %q", a["error_description"], b["error_description"])
	}
	// Not a form.
	resp, err := http.Post(e.srv.URL+"/oauth2/token", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("JSON body: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

func cis2Claims(iss, aud string, now time.Time, over map[string]any) map[string]any {
	c := map[string]any{"iss": iss, "aud": aud, "sub": "555021935107", "uid": "555021935107",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "selected_roleid": "555021936108",
		"nhsid_nrbac_roles": []any{
			map[string]any{"person_roleid": "555021936199", "org_code": "RR8", "role_code": "S8001:G8001:R8001", "activity_codes": []string{"B0370"}},
			map[string]any{"person_roleid": "555021936108", "org_code": "Y12345", "role_code": "S8000:G8000:R8000", "activity_codes": []string{"B0420", "B0370"}},
		}}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func TestTokenExchange(t *testing.T) {
	e := newEnv(t)
	v := auth.NewVerifier(e.ring, auth.VerifierOptions{})
	now := time.Now()
	ca := func() string { return sign(t, jose.ES256, ecKey, "ec1", assertion("app-user", now, nil)) }
	idTok := sign(t, jose.ES256, idpKey, "idp1", cis2Claims(e.idpIss, "app-user", now, nil))
	st, body := e.post(exchangeForm(ca(), idTok))
	if st != 200 {
		t.Fatalf("exchange: %d %v", st, body)
	}
	p, err := v.Verify(body["access_token"])
	if err != nil {
		t.Fatal(err)
	}
	if !p.IsUser() || p.UserID != "555021935107" || p.RoleProfileID != "555021936108" || p.JobRole != "R8000" ||
		p.OrgODS != "Y12345" || !p.HasActivity("B0420") || p.AppID != "app-user" || p.AppOrg != "Y12345" {
		t.Fatalf("principal %+v", p)
	}
	// A patient through NHS login.
	nl := sign(t, jose.ES256, idpKey, "idp1", map[string]any{"iss": e.idpIss + "/nhslogin", "aud": "app-user", "sub": "abc",
		"nhs_number": "9000000009", "identity_proofing_level": "P9", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	st, body = e.post(exchangeForm(ca(), nl))
	if st != 200 {
		t.Fatalf("NHS login exchange: %d %v", st, body)
	}
	if p, err = v.Verify(body["access_token"]); err != nil || !p.IsPatient() || p.NHSNumber != "9000000009" || p.IdentityLevel != "P9" {
		t.Fatalf("patient %+v %v", p, err)
	}
	bad := map[string]string{
		"wrong audience":   sign(t, jose.ES256, idpKey, "idp1", cis2Claims(e.idpIss, "app-other", now, nil)),
		"untrusted issuer": sign(t, jose.ES256, idpKey, "idp1", cis2Claims("https://evil.test", "app-user", now, nil)),
		"forged":           sign(t, jose.ES256, ecOther, "idp1", cis2Claims(e.idpIss, "app-user", now, nil)),
		"expired":          sign(t, jose.ES256, idpKey, "idp1", cis2Claims(e.idpIss, "app-user", now, map[string]any{"exp": now.Add(-time.Minute).Unix()})),
		"unknown role":     sign(t, jose.ES256, idpKey, "idp1", cis2Claims(e.idpIss, "app-user", now, map[string]any{"selected_roleid": "1"})),
		"no selected role": sign(t, jose.ES256, idpKey, "idp1", cis2Claims(e.idpIss, "app-user", now, map[string]any{"selected_roleid": nil})),
		"P5 patient": sign(t, jose.ES256, idpKey, "idp1", map[string]any{"iss": e.idpIss + "/nhslogin", "aud": "app-user",
			"nhs_number": "9000000009", "identity_proofing_level": "P5", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}),
		"not a JWT": "a.b.c",
	}
	for name, tok := range bad {
		if st, body := e.post(exchangeForm(ca(), tok)); st != 401 || body["error"] != "invalid_grant" {
			t.Errorf("%s: %d %v", name, st, body)
		}
	}
	// The client must still authenticate.
	if st, body := e.post(exchangeForm(sign(t, jose.ES256, ecOther, "ec1", assertion("app-user", now, nil)), idTok)); st != 401 || body["error"] != "invalid_client" {
		t.Errorf("exchange with a forged assertion: %d %v", st, body)
	}
}

// An application whose keys are at a registered JWKS URL.
func TestClientJWKSURL(t *testing.T) {
	keys(t)
	ks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(jwks(t, jose.JSONWebKey{Key: rsaKey.Public(), KeyID: "r", Algorithm: "RS512"}))
	}))
	defer ks.Close()
	ring, _ := auth.OpenKeyRing(t.TempDir(), auth.KeyOptions{})
	reg, err := auth.NewMemRegistry(&auth.Application{ID: "remote", Mode: auth.ModeApplication, JWKSURL: ks.URL})
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := auth.NewTokenService(auth.TokenConfig{Keys: ring, Apps: reg, Replay: auth.NewMemReplayCache(0), TokenURL: tokenURL})
	srv := httptest.NewServer(ts)
	defer srv.Close()
	resp, err := http.PostForm(srv.URL, clientCredentials(sign(t, jose.RS512, rsaKey, "r", assertion("remote", time.Now(), nil))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestApplicationValidate(t *testing.T) {
	keys(t)
	good := jwks(t, jose.JSONWebKey{Key: ecKey.Public(), KeyID: "k"})
	bad := []auth.Application{
		{ID: "", Mode: auth.ModeApplication, JWKS: good},
		{ID: "a b", Mode: auth.ModeApplication, JWKS: good},
		{ID: "a", Mode: "both", JWKS: good},
		{ID: "a", Mode: auth.ModeApplication},
		{ID: "a", Mode: auth.ModeApplication, JWKS: good, JWKSURL: "https://x.test/jwks"},
		{ID: "a", Mode: auth.ModeApplication, JWKSURL: "http://x.test/jwks"},
		{ID: "a", Mode: auth.ModeApplication, JWKS: []byte(`{"keys":[{"kty":"oct","k":"AAAA","kid":"s"}]}`)},
		{ID: "a", Mode: auth.ModeApplication, JWKS: good, Allowed: []string{"pds"}},
	}
	for i, a := range bad {
		if err := a.Validate(); err == nil {
			t.Errorf("case %d: %+v accepted", i, a)
		}
	}
}
