package auth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/openspine/openspine/internal/auth"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func jwksKIDs(t *testing.T, ring *auth.KeyRing) []string {
	rec := httptest.NewRecorder()
	ring.JWKSHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
	var set struct {
		Keys []struct {
			Kid, Kty, Alg, Use, D string
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range set.Keys {
		if k.Kty != "EC" || k.Alg != "ES256" || k.Use != "sig" || k.D != "" {
			t.Fatalf("published key %+v", k)
		}
		ids = append(ids, k.Kid)
	}
	return ids
}

func TestKeyRotation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	c := &clock{t: time.Now()}
	opts := auth.KeyOptions{Rotate: time.Hour, Retain: 20 * time.Minute, Now: c.now}
	ring, err := auth.OpenKeyRing(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	first := ring.KeyIDs()
	if len(first) != 1 {
		t.Fatalf("keys %v", first)
	}
	fi, err := os.Stat(filepath.Join(dir, "spine-"+first[0]+".pem"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Fatalf("keys folder mode %v", di.Mode())
	}
	// Reopening (a restart) keeps the key.
	again, _ := auth.OpenKeyRing(dir, opts)
	if got := again.KeyIDs(); len(got) != 1 || got[0] != first[0] {
		t.Fatalf("after reopen: %v", got)
	}

	v := auth.NewVerifier(ring, auth.VerifierOptions{CacheSize: -1, Now: c.now})
	// A token issued five minutes before the rotation.
	c.add(56 * time.Minute)
	old, _ := auth.Issue(ring, appGrant("directory:read"), c.now(), auth.DefaultTokenTTL)
	c.add(5 * time.Minute)
	if err := ring.Maintain(); err != nil {
		t.Fatal(err)
	}
	ids := ring.KeyIDs()
	if len(ids) != 2 || ids[0] != first[0] {
		t.Fatalf("after rotation: %v", ids)
	}
	if got := jwksKIDs(t, ring); len(got) != 2 {
		t.Fatalf("JWKS lists %v", got)
	}
	if _, err := v.Verify(old); err != nil {
		t.Fatalf("token of the previous key: %v", err)
	}
	fresh, _ := auth.Issue(ring, appGrant("directory:read"), c.now(), auth.DefaultTokenTTL)
	if strings.Contains(fresh, first[0]) {
		t.Fatal("fresh token signed by the old key")
	}
	if _, err := v.Verify(fresh); err != nil {
		t.Fatal(err)
	}
	// Another process sharing the folder sees the new key without restart.
	if _, err := auth.NewVerifier(again, auth.VerifierOptions{CacheSize: -1, Now: c.now}).Verify(fresh); err != nil {
		t.Fatalf("other process: %v", err)
	}
	// After Retain the old key is gone from the JWKS and from disk.
	c.add(21 * time.Minute)
	ring.Maintain()
	if got := jwksKIDs(t, ring); len(got) != 1 || got[0] != ids[1] {
		t.Fatalf("after retain: %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "spine-"+first[0]+".pem")); !os.IsNotExist(err) {
		t.Fatalf("old key file still there: %v", err)
	}
}

func TestVerifierCache(t *testing.T) {
	ring, _ := auth.OpenKeyRing(t.TempDir(), auth.KeyOptions{})
	c := &clock{t: time.Now()}
	v := auth.NewVerifier(ring, auth.VerifierOptions{CacheSize: 2, Now: c.now})
	var toks []string
	for range 5 {
		tok, _ := auth.Issue(ring, appGrant("directory:read"), c.now(), time.Minute)
		toks = append(toks, tok)
	}
	for range 2 {
		for _, tok := range toks {
			p, err := v.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			p.Emergency = true // a request's copy; must not leak into the cache
		}
	}
	if p, _ := v.Verify(toks[0]); p.Emergency {
		t.Fatal("cached principal was modified through a request's copy")
	}
	// Cached tokens still expire.
	c.add(61 * time.Second)
	for _, tok := range toks {
		if _, err := v.Verify(tok); err == nil {
			t.Fatal("expired cached token accepted")
		}
	}
}

func TestDevToken(t *testing.T) {
	data := t.TempDir()
	if _, err := auth.DevToken(data, auth.DevTokenOptions{}); err == nil {
		t.Fatal("dev token minted for a non-dev data folder")
	}
	idp, err := auth.OpenDevIdP(data)
	if err != nil {
		t.Fatal(err)
	}
	if !auth.IsDevInstance(data) {
		t.Fatal("not a dev instance after OpenDevIdP")
	}
	tok, err := auth.DevToken(data, auth.DevTokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ring, err := auth.OpenKeyRing(auth.KeysDir(data), auth.KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.NewVerifier(ring, auth.VerifierOptions{}).Verify(tok); err != auth.ErrDevToken {
		t.Fatalf("non-dev verifier: %v", err)
	}
	dv := auth.NewVerifier(ring, auth.VerifierOptions{Dev: true})
	p, err := dv.Verify(tok)
	if err != nil || p.AppID != auth.DemoAppID || p.Mode != auth.ModeApplication || !p.Dev || !p.HasScope("pds", "read") {
		t.Fatalf("demo token: %+v %v", p, err)
	}
	tok, err = auth.DevToken(data, auth.DevTokenOptions{User: "555021935107", Role: "R8000", Org: "Y12345", Activities: []string{"B0420"}})
	if p, err = dv.Verify(tok); err != nil || !p.IsUser() || p.JobRole != "R8000" || p.OrgODS != "Y12345" || !p.HasActivity("B0420") {
		t.Fatalf("user token: %+v %v", p, err)
	}
	tok, err = auth.DevToken(data, auth.DevTokenOptions{Patient: "9000000009"})
	if p, err = dv.Verify(tok); err != nil || !p.IsPatient() || p.NHSNumber != "9000000009" {
		t.Fatalf("patient token: %+v %v", p, err)
	}
	for _, o := range []auth.DevTokenOptions{
		{User: "555021935107"},
		{User: "x", Role: "R8000", Org: "Y12345"},
		{Role: "R8000"},
		{Patient: "1234567890"},
		{User: "1", Role: "R8000", Org: "Y12345", Patient: "9000000009"},
		{TTL: 24 * time.Hour},
	} {
		if _, err := auth.DevToken(data, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	// The dev identity provider's ID tokens are exchangeable when trusted.
	keys(t)
	reg, _ := auth.NewMemRegistry(&auth.Application{ID: "app-user", Mode: auth.ModeUser,
		JWKS: jwks(t, jose.JSONWebKey{Key: ecKey.Public(), KeyID: "ec1"})})
	ts, err := auth.NewTokenService(auth.TokenConfig{Keys: ring, Apps: reg, Replay: auth.NewMemReplayCache(0), TokenURL: tokenURL,
		Issuers: []auth.TrustedIssuer{idp.TrustedIssuer(auth.IssuerCIS2), idp.TrustedIssuer(auth.IssuerNHSLogin)}})
	if err != nil {
		t.Fatal(err)
	}
	idTok, err := idp.IDToken(auth.IssuerCIS2, "app-user", map[string]any{"uid": "555021935107", "nhsid_nrbac_roles": []any{
		map[string]any{"person_roleid": "555021936108", "org_code": "Y12345", "role_code": "S8000:G8000:R8000"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ts)
	defer srv.Close()
	resp, err := http.PostForm(srv.URL, exchangeForm(sign(t, jose.ES256, ecKey, "ec1", assertion("app-user", time.Now(), nil)), idTok))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("dev IdP exchange: %d", resp.StatusCode)
	}
}

// Tokens from a spine process whose clock is a little ahead still verify.
func TestVerifierSkew(t *testing.T) {
	ring, _ := auth.OpenKeyRing(t.TempDir(), auth.KeyOptions{})
	v := auth.NewVerifier(ring, auth.VerifierOptions{CacheSize: -1})
	ahead, _ := auth.Issue(ring, appGrant("directory:read"), time.Now().Add(10*time.Second), time.Minute)
	if _, err := v.Verify(ahead); err != nil {
		t.Fatalf("10 s ahead: %v", err)
	}
	future, _ := auth.Issue(ring, appGrant("directory:read"), time.Now().Add(2*time.Minute), time.Minute)
	if _, err := v.Verify(future); err == nil {
		t.Fatal("token issued 2 minutes in the future accepted")
	}
}

func TestMemReplayCache(t *testing.T) {
	c := auth.NewMemReplayCache(2)
	ctx := t.Context()
	soon := time.Now().Add(50 * time.Millisecond)
	for _, k := range []string{"a", "b"} {
		if seen, err := c.Seen(ctx, k, soon); seen || err != nil {
			t.Fatalf("%s: %v %v", k, seen, err)
		}
	}
	if seen, _ := c.Seen(ctx, "a", soon); !seen {
		t.Fatal("replay not detected")
	}
	// Full of live keys: fail closed rather than forget one.
	if _, err := c.Seen(ctx, "c", soon); err != auth.ErrReplayCacheFull {
		t.Fatalf("full cache: %v", err)
	}
	time.Sleep(60 * time.Millisecond)
	if seen, err := c.Seen(ctx, "c", time.Now().Add(time.Minute)); seen || err != nil {
		t.Fatalf("after expiry: %v %v", seen, err)
	}
}
