package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// accessClaims is the payload of a spine access token.
type accessClaims struct {
	jwt.Claims
	App           string   `json:"app"`
	AppOrg        string   `json:"app_org,omitempty"`
	Mode          string   `json:"mode"`
	Scope         string   `json:"scope,omitempty"` // space-separated service:action
	Rate          int      `json:"rate,omitempty"`
	Burst         int      `json:"burst,omitempty"`
	User          string   `json:"sds_user_id,omitempty"`
	RoleProfile   string   `json:"sds_role_profile_id,omitempty"`
	RoleCode      string   `json:"role_code,omitempty"`
	Activities    []string `json:"activity_codes,omitempty"`
	Org           string   `json:"org_code,omitempty"`
	NHSNumber     string   `json:"nhs_number,omitempty"`
	IdentityLevel string   `json:"identity_proofing_level,omitempty"`
	Dev           bool     `json:"dev,omitempty"`
}

// Grant is what an access token is issued for.
type Grant struct {
	App *Application
	// For users: the selected CIS2 role.
	UserID, RoleProfileID, RoleCode, OrgODS string
	Activities                              []string
	// For patients.
	NHSNumber, IdentityLevel string
	Dev                      bool
}

// Issue signs an access token for g, valid for ttl from now. The token
// endpoint and DevToken use it; tests may too.
func Issue(keys *KeyRing, g *Grant, now time.Time, ttl time.Duration) (string, error) {
	sig, _, err := keys.signer()
	if err != nil {
		return "", err
	}
	var jti [16]byte
	rand.Read(jti[:])
	sub := g.App.ID
	switch {
	case g.UserID != "":
		sub = g.UserID
	case g.NHSNumber != "":
		sub = g.NHSNumber
	}
	mode := ModeApplication
	if g.UserID != "" || g.NHSNumber != "" {
		mode = ModeUser
	}
	c := accessClaims{
		Claims: jwt.Claims{
			Issuer: TokenIssuer, Subject: sub, Audience: jwt.Audience{TokenAudience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			Expiry: jwt.NewNumericDate(now.Add(ttl)), ID: hex.EncodeToString(jti[:]),
		},
		App: g.App.ID, AppOrg: g.App.OrgODS, Mode: mode, Scope: strings.Join(g.App.Allowed, " "),
		Rate: g.App.Rate, Burst: g.App.Burst,
		User: g.UserID, RoleProfile: g.RoleProfileID, RoleCode: g.RoleCode, Activities: g.Activities, Org: g.OrgODS,
		NHSNumber: g.NHSNumber, IdentityLevel: g.IdentityLevel, Dev: g.Dev,
	}
	return jwt.Signed(sig).Claims(c).Serialize()
}

// VerifierOptions tune a Verifier.
type VerifierOptions struct {
	// Dev accepts tokens minted by DevToken (spine serve --dev only).
	Dev bool
	// CacheSize bounds the verified-token cache (default 20,000 tokens,
	// about 20 MB at most; <0 disables).
	CacheSize int
	Now       func() time.Time
}

// Verifier checks access tokens signed by a KeyRing.
type Verifier struct {
	keys  *KeyRing
	dev   bool
	now   func() time.Time
	cache *tokenCache
}

// Errors of Verify. The middleware answers all of them with 401.
var (
	ErrNoToken      = errors.New("no bearer token")
	ErrInvalidToken = errors.New("invalid token")
	ErrExpiredToken = errors.New("token expired")
	ErrDevToken     = errors.New("development token refused: the server is not running with --dev")
)

// MaxTokenBytes bounds the size of a bearer token (larger ones are refused
// before parsing).
const MaxTokenBytes = 8 << 10

// NewVerifier returns a Verifier of tokens signed by keys.
func NewVerifier(keys *KeyRing, opts VerifierOptions) *Verifier {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	v := &Verifier{keys: keys, dev: opts.Dev, now: opts.Now}
	if opts.CacheSize >= 0 {
		if opts.CacheSize == 0 {
			opts.CacheSize = 20000
		}
		v.cache = &tokenCache{max: opts.CacheSize, m: map[string]*Principal{}}
	}
	return v
}

// Verify checks a token and returns a new Principal for one request.
func (v *Verifier) Verify(token string) (*Principal, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	if len(token) > MaxTokenBytes || strings.Count(token, ".") != 2 {
		return nil, ErrInvalidToken
	}
	now := v.now()
	if v.cache != nil {
		if p := v.cache.get(token); p != nil {
			if !now.Before(p.Expires) {
				return nil, ErrExpiredToken
			}
			c := *p
			return &c, nil
		}
	}
	p, err := v.verify(token, now)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(token, p, now)
	}
	c := *p
	return &c, nil
}

func (v *Verifier) verify(token string, now time.Time) (*Principal, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(tok.Headers) != 1 {
		return nil, ErrInvalidToken
	}
	hd := tok.Headers[0]
	if typ, _ := hd.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") {
		return nil, ErrInvalidToken
	}
	key, ok := v.keys.publicKey(hd.KeyID)
	if !ok {
		return nil, ErrInvalidToken
	}
	var c accessClaims
	if err := tok.Claims(key, &c); err != nil {
		return nil, ErrInvalidToken
	}
	if c.Expiry == nil || c.IssuedAt == nil || c.App == "" || (c.Mode != ModeApplication && c.Mode != ModeUser) {
		return nil, ErrInvalidToken
	}
	if c.Issuer != TokenIssuer || !audienceIs(c.Audience, TokenAudience) {
		return nil, ErrInvalidToken
	}
	// Expiry is exact; iat and nbf may be a little ahead (another spine
	// process's clock).
	if !now.Before(c.Expiry.Time()) {
		return nil, ErrExpiredToken
	}
	if c.IssuedAt.Time().After(now.Add(Skew)) || (c.NotBefore != nil && c.NotBefore.Time().After(now.Add(Skew))) {
		return nil, ErrInvalidToken
	}
	if c.Dev && !v.dev {
		return nil, ErrDevToken
	}
	if life := c.Expiry.Time().Sub(c.IssuedAt.Time()); life <= 0 || (!c.Dev && life > MaxTokenTTL) || life > MaxDevTokenTTL {
		return nil, ErrInvalidToken
	}
	p := &Principal{
		TokenID: c.ID, Expires: c.Expiry.Time(), Dev: c.Dev,
		AppID: c.App, AppOrg: c.AppOrg, Mode: c.Mode, Rate: c.Rate, Burst: c.Burst,
		UserID: c.User, RoleProfileID: c.RoleProfile, RoleCode: c.RoleCode, JobRole: jobRole(c.RoleCode),
		Activities: c.Activities, OrgODS: c.Org, NHSNumber: c.NHSNumber, IdentityLevel: c.IdentityLevel,
	}
	if c.Scope != "" {
		p.Scopes = strings.Fields(c.Scope)
	}
	if c.Mode == ModeUser && (p.UserID == "") == (p.NHSNumber == "") {
		return nil, ErrInvalidToken // exactly one of a user and a patient
	}
	return p, nil
}

// tokenCache maps a verified token to its Principal until the token
// expires; bounded, evicting expired then arbitrary entries. It is keyed
// by the whole token (about 1 KB): hashing it with SHA-256 cost more than
// the rest of the cached path, and a shorter key (such as the signature
// alone) would not bind the header and payload.
type tokenCache struct {
	mu  sync.RWMutex
	max int
	m   map[string]*Principal
}

func (c *tokenCache) get(token string) *Principal {
	c.mu.RLock()
	p := c.m[token]
	c.mu.RUnlock()
	return p
}

func (c *tokenCache) put(token string, p *Principal, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.Expires) {
				delete(c.m, k)
			}
		}
		// Still full: drop about a quarter, arbitrarily (map order).
		for k := range c.m {
			if len(c.m) < c.max*3/4 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[token] = p
}
