package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// OAuth 2.0 parameter values.
const (
	GrantClientCredentials = "client_credentials"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	AssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	TokenTypeIDToken       = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"
)

// MaxAssertionLifetime is how far ahead a client assertion's exp may be.
const MaxAssertionLifetime = 5 * time.Minute

// TokenConfig configures a TokenService.
type TokenConfig struct {
	Keys   *KeyRing
	Apps   Registry
	Replay ReplayCache
	// TokenURL is the public URL of POST /oauth2/token: the audience every
	// client assertion must name (required; never taken from the request).
	TokenURL string
	// Issuers are the identity providers whose ID tokens may be exchanged.
	Issuers []TrustedIssuer
	// TTL of access tokens (default 599 s, at most 10 minutes).
	TTL        time.Duration
	HTTPClient *http.Client // fetches registered JWKS URLs (default: 5 s timeout)
	Now        func() time.Time
}

// TokenService implements POST /oauth2/token.
type TokenService struct {
	cfg     TokenConfig
	issuers map[string]*TrustedIssuer
	jwks    *jwksCache
}

// NewTokenService checks cfg and returns the token endpoint.
func NewTokenService(cfg TokenConfig) (*TokenService, error) {
	if cfg.Keys == nil || cfg.Apps == nil || cfg.Replay == nil {
		return nil, errors.New("auth: token service needs keys, an application registry and a replay cache")
	}
	if cfg.TokenURL == "" {
		return nil, errors.New("auth: token service needs its public TokenURL")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTokenTTL
	}
	if cfg.TTL > MaxTokenTTL {
		return nil, errors.New("auth: access tokens may live at most 10 minutes")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t := &TokenService{cfg: cfg, issuers: map[string]*TrustedIssuer{}, jwks: newJWKSCache(cfg.HTTPClient)}
	for i := range cfg.Issuers {
		is := cfg.Issuers[i]
		if err := is.init(); err != nil {
			return nil, err
		}
		t.issuers[is.Issuer] = &is
	}
	return t, nil
}

// Register mounts POST /oauth2/token and GET /.well-known/jwks.json.
func (t *TokenService) Register(mux *http.ServeMux) {
	mux.Handle("POST /oauth2/token", t)
	mux.Handle("GET /.well-known/jwks.json", t.cfg.Keys.JWKSHandler())
}

// oauthError is an RFC 6749 error answer. Reason is logged, never sent.
type oauthError struct {
	Code   string
	Reason string
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Reason }

var oauthDescriptions = map[string]string{
	"invalid_request":        "The request is missing a required parameter or is malformed.",
	"invalid_client":         "Client authentication failed.",
	"invalid_grant":          "The provided grant is invalid, expired or was not issued to this client.",
	"unauthorized_client":    "The client is not authorised to use this grant type.",
	"unsupported_grant_type": "The grant type is not supported.",
}

func fail(code, reason string) *oauthError { return &oauthError{Code: code, Reason: reason} }

type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	ExpiresIn       string `json:"expires_in"`
	TokenType       string `json:"token_type"`
	IssuedAt        string `json:"issued_at"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// ServeHTTP implements the token endpoint.
func (t *TokenService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	resp, err := t.token(r)
	if err != nil {
		var oe *oauthError
		if !errors.As(err, &oe) {
			slog.ErrorContext(r.Context(), "auth: token endpoint failed", "err", err)
			h.Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"The token service is temporarily unavailable."}`))
			return
		}
		slog.InfoContext(r.Context(), "auth: token refused", "error", oe.Code, "reason", oe.Reason)
		b, _ := json.Marshal(map[string]string{"error": oe.Code, "error_description": oauthDescriptions[oe.Code]})
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write(b)
		return
	}
	b, _ := json.Marshal(resp)
	h.Set("Content-Type", "application/json")
	w.Write(b)
}

func (t *TokenService) token(r *http.Request) (*tokenResponse, error) {
	ctx := r.Context()
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return nil, fail("invalid_request", "content type "+mt)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, fail("invalid_request", "form: "+err.Error())
	}
	form := r.PostForm
	for k, v := range form {
		if len(v) != 1 {
			return nil, fail("invalid_request", "repeated parameter "+k)
		}
	}
	grant := form.Get("grant_type")
	if grant != GrantClientCredentials && grant != GrantTokenExchange {
		if grant == "" {
			return nil, fail("invalid_request", "grant_type missing")
		}
		return nil, fail("unsupported_grant_type", grant)
	}
	if form.Get("client_assertion_type") != AssertionTypeJWTBearer || form.Get("client_assertion") == "" {
		return nil, fail("invalid_request", "client assertion missing")
	}
	now := t.cfg.Now()
	app, err := t.authenticateClient(ctx, form.Get("client_assertion"), now)
	if err != nil {
		return nil, err
	}
	if cid := form.Get("client_id"); cid != "" && cid != app.ID {
		return nil, fail("invalid_client", "client_id differs from the assertion")
	}
	g := &Grant{App: app}
	switch grant {
	case GrantClientCredentials:
		if app.Mode != ModeApplication {
			return nil, fail("unauthorized_client", "client_credentials for a user-restricted application")
		}
	case GrantTokenExchange:
		if app.Mode != ModeUser {
			return nil, fail("unauthorized_client", "token exchange for an application-restricted application")
		}
		if form.Get("subject_token_type") != TokenTypeIDToken || form.Get("subject_token") == "" {
			return nil, fail("invalid_request", "subject_token or subject_token_type")
		}
		if rt := form.Get("requested_token_type"); rt != "" && rt != TokenTypeAccessToken {
			return nil, fail("invalid_request", "requested_token_type "+rt)
		}
		if err := t.exchange(ctx, form.Get("subject_token"), app, g, now); err != nil {
			return nil, err
		}
	}
	tok, err := Issue(t.cfg.Keys, g, now, t.cfg.TTL)
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{AccessToken: tok, ExpiresIn: strconv.Itoa(int(t.cfg.TTL / time.Second)),
		TokenType: "Bearer", IssuedAt: strconv.FormatInt(now.UnixMilli(), 10)}
	if grant == GrantTokenExchange {
		resp.IssuedTokenType = TokenTypeAccessToken
	}
	return resp, nil
}

// Algorithms accepted in client assertions (NHS England: RS512; also ES256).
var assertionAlgs = []jose.SignatureAlgorithm{jose.RS512, jose.ES256}

// authenticateClient verifies an RFC 7523 client assertion.
func (t *TokenService) authenticateClient(ctx context.Context, assertion string, now time.Time) (*Application, error) {
	if len(assertion) > MaxTokenBytes {
		return nil, fail("invalid_client", "assertion too large")
	}
	tok, err := jwt.ParseSigned(assertion, assertionAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return nil, fail("invalid_client", "assertion does not parse")
	}
	hd := tok.Headers[0]
	if typ, ok := hd.ExtraHeaders[jose.HeaderType].(string); ok && typ != "JWT" {
		return nil, fail("invalid_client", "assertion typ "+typ)
	}
	if hd.KeyID == "" {
		return nil, fail("invalid_client", "assertion has no kid")
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil || unverified.Issuer == "" {
		return nil, fail("invalid_client", "assertion claims")
	}
	app, err := t.cfg.Apps.Application(ctx, unverified.Issuer)
	if err != nil {
		if errors.Is(err, ErrUnknownApplication) {
			return nil, fail("invalid_client", "unknown client "+unverified.Issuer)
		}
		return nil, err
	}
	keys, err := t.clientKeys(ctx, app, hd.KeyID)
	if err != nil {
		return nil, err
	}
	var c jwt.Claims
	verified := false
	for _, k := range keys {
		if k.Algorithm != "" && k.Algorithm != hd.Algorithm {
			continue
		}
		if tok.Claims(k.Key, &c) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, fail("invalid_client", "assertion signature (kid "+hd.KeyID+")")
	}
	if c.Issuer != app.ID || c.Subject != app.ID {
		return nil, fail("invalid_client", "iss and sub must be the client id")
	}
	if !audienceIs(c.Audience, t.cfg.TokenURL) {
		return nil, fail("invalid_client", "audience")
	}
	if c.ID == "" || len(c.ID) > 256 {
		return nil, fail("invalid_client", "jti")
	}
	if err := checkTimes(&c, now, MaxAssertionLifetime); err != nil {
		return nil, fail("invalid_client", err.Error())
	}
	seen, err := t.cfg.Replay.Seen(ctx, app.ID+"\x00"+c.ID, c.Expiry.Time().Add(Skew))
	if err != nil {
		return nil, err
	}
	if seen {
		return nil, fail("invalid_client", "jti replayed")
	}
	return app, nil
}

func (t *TokenService) clientKeys(ctx context.Context, app *Application, kid string) ([]jose.JSONWebKey, error) {
	if app.JWKSURL != "" {
		keys, err := t.jwks.key(ctx, app.JWKSURL, kid)
		if err != nil {
			slog.WarnContext(ctx, "auth: client JWKS unavailable", "app", app.ID, "err", err)
			return nil, fail("invalid_client", "client keys unavailable")
		}
		if len(keys) == 0 {
			return nil, fail("invalid_client", "unknown kid "+kid)
		}
		return keys, nil
	}
	set, err := parseClientJWKS(app.JWKS)
	if err != nil {
		return nil, fail("invalid_client", "registered keys: "+err.Error())
	}
	keys := set.Key(kid)
	if len(keys) == 0 {
		return nil, fail("invalid_client", "unknown kid "+kid)
	}
	return keys, nil
}

// audienceIs accepts aud equal to want (a string or a one-element array).
func audienceIs(aud jwt.Audience, want string) bool {
	return len(aud) == 1 && aud[0] == want
}

// checkTimes requires exp (not passed, at most maxAhead away) and refuses
// iat and nbf in the future, all with Skew.
func checkTimes(c *jwt.Claims, now time.Time, maxAhead time.Duration) error {
	if c.Expiry == nil {
		return errors.New("exp missing")
	}
	exp := c.Expiry.Time()
	if !now.Before(exp.Add(Skew)) {
		return errors.New("expired")
	}
	if maxAhead > 0 && exp.Sub(now) > maxAhead+Skew {
		return errors.New("exp too far ahead")
	}
	if c.IssuedAt != nil && c.IssuedAt.Time().After(now.Add(Skew)) {
		return errors.New("iat in the future")
	}
	if c.NotBefore != nil && c.NotBefore.Time().After(now.Add(Skew)) {
		return errors.New("not yet valid")
	}
	return nil
}
