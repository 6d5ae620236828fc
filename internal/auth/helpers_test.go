package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/openspine/openspine/internal/auth"
)

const tokenURL = "https://spine.test/oauth2/token"

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey // RSA 4096, for RS512 assertions
	ecKey   *ecdsa.PrivateKey
	ecOther *ecdsa.PrivateKey // a key nobody registered
	idpKey  *ecdsa.PrivateKey // the test identity provider's
)

func keys(t testing.TB) {
	t.Helper()
	rsaOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 4096); err != nil {
			panic(err)
		}
		ecKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ecOther, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		idpKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	})
}

func jwks(t testing.TB, entries ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: entries})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// env is a token service over httptest with three applications and a
// test identity provider.
type env struct {
	t      testing.TB
	ring   *auth.KeyRing
	ts     *auth.TokenService
	srv    *httptest.Server
	idp    *httptest.Server
	idpIss string
	now    time.Time
}

func newEnv(t testing.TB) *env {
	keys(t)
	e := &env{t: t, now: time.Now()}
	ring, err := auth.OpenKeyRing(t.TempDir(), auth.KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.ring = ring
	e.idp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(jwks(t, jose.JSONWebKey{Key: idpKey.Public(), KeyID: "idp1", Algorithm: "ES256", Use: "sig"}))
	}))
	t.Cleanup(e.idp.Close)
	e.idpIss = e.idp.URL
	reg, err := auth.NewMemRegistry(
		&auth.Application{ID: "app-rsa", Name: "RSA app", OrgODS: "X26", Mode: auth.ModeApplication,
			JWKS:    jwks(t, jose.JSONWebKey{Key: rsaKey.Public(), KeyID: "rsa1", Algorithm: "RS512", Use: "sig"}),
			Allowed: []string{"directory:read", "directory:search"}},
		&auth.Application{ID: "app-ec", Name: "EC app", OrgODS: "X26", Mode: auth.ModeApplication,
			JWKS: jwks(t, jose.JSONWebKey{Key: ecKey.Public(), KeyID: "ec1", Use: "sig"}), Rate: 2, Burst: 3,
			Allowed: []string{"directory:read"}},
		&auth.Application{ID: "app-user", Name: "Clinical app", OrgODS: "Y12345", Mode: auth.ModeUser,
			JWKS: jwks(t, jose.JSONWebKey{Key: ecKey.Public(), KeyID: "ec1"})},
	)
	if err != nil {
		t.Fatal(err)
	}
	e.ts, err = auth.NewTokenService(auth.TokenConfig{
		Keys: ring, Apps: reg, Replay: auth.NewMemReplayCache(1000), TokenURL: tokenURL,
		Issuers: []auth.TrustedIssuer{
			{Issuer: e.idpIss, Kind: auth.IssuerCIS2, JWKSURL: e.idp.URL + "/jwks"},
			{Issuer: e.idpIss + "/nhslogin", Kind: auth.IssuerNHSLogin, JWKSURL: e.idp.URL + "/jwks"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.ts.Register(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims ...any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b := jwt.Signed(s)
	for _, c := range claims {
		b = b.Claims(c)
	}
	tok, err := b.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func newJTI() string { return rand.Text() }

// assertion returns standard client assertion claims for app, with overrides.
func assertion(app string, now time.Time, over map[string]any) map[string]any {
	c := map[string]any{"iss": app, "sub": app, "aud": tokenURL, "jti": newJTI(),
		"iat": now.Unix(), "exp": now.Add(4 * time.Minute).Unix()}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// post sends a token request and returns status and decoded body.
func (e *env) post(form url.Values) (int, map[string]string) {
	e.t.Helper()
	resp, err := http.PostForm(e.srv.URL+"/oauth2/token", form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		e.t.Fatalf("token response: %v", err)
	}
	return resp.StatusCode, body
}

func clientCredentials(assertion string) url.Values {
	return url.Values{"grant_type": {auth.GrantClientCredentials},
		"client_assertion_type": {auth.AssertionTypeJWTBearer}, "client_assertion": {assertion}}
}

func exchangeForm(assertion, idToken string) url.Values {
	f := clientCredentials(assertion)
	f.Set("grant_type", auth.GrantTokenExchange)
	f.Set("subject_token_type", auth.TokenTypeIDToken)
	f.Set("subject_token", idToken)
	return f
}

// token obtains an access token with an ES256 assertion of app.
func (e *env) token(app string) string {
	e.t.Helper()
	st, body := e.post(clientCredentials(sign(e.t, jose.ES256, ecKey, "ec1", assertion(app, time.Now(), nil))))
	if st != 200 {
		e.t.Fatalf("token for %s: %d %v", app, st, body)
	}
	return body["access_token"]
}

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}
