package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/openspine/openspine/internal/nhsnumber"
)

// Development mode: `spine serve --dev` creates a built-in identity
// provider (its key in DATA/keys/dev-idp.pem marks the data folder as a
// development instance) and trusts it; DevToken mints access tokens
// directly with the spine's key, flagged "dev": true so that a server not
// running with --dev refuses them.

// DevIssuer is the issuer of the built-in development identity provider.
const DevIssuer = "urn:openspine:dev-idp"

// DemoAppID is the application DevToken names by default.
const DemoAppID = "openspine-demo"

// MaxDevTokenTTL bounds the lifetime of development tokens.
const MaxDevTokenTTL = 12 * time.Hour

// KeysDir is the folder of a data folder holding the keys.
func KeysDir(dataDir string) string { return filepath.Join(dataDir, "keys") }

func devIdPPath(dataDir string) string { return filepath.Join(KeysDir(dataDir), "dev-idp.pem") }

// IsDevInstance reports whether dataDir belongs to a development instance
// (the dev identity provider's key exists).
func IsDevInstance(dataDir string) bool {
	_, err := os.Stat(devIdPPath(dataDir))
	return err == nil
}

// DevIdP is the built-in development identity provider: it signs
// CIS2-style and NHS login-style ID tokens for the token exchange.
type DevIdP struct {
	key *ecdsa.PrivateKey
	kid string
}

// OpenDevIdP loads or creates the dev identity provider of dataDir. Only
// `spine serve --dev` should call it: it marks the folder as a dev instance.
func OpenDevIdP(dataDir string) (*DevIdP, error) {
	path := devIdPPath(dataDir)
	if err := os.MkdirAll(KeysDir(dataDir), 0o700); err != nil {
		return nil, err
	}
	priv, _, err := readECKey(path)
	if errors.Is(err, os.ErrNotExist) {
		if priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, err
		}
		err = writeKey(path, priv, time.Now())
	}
	if err != nil {
		return nil, fmt.Errorf("dev identity provider key: %w", err)
	}
	sk, err := newSigningKey(priv, time.Time{})
	if err != nil {
		return nil, err
	}
	return &DevIdP{key: priv, kid: sk.kid}, nil
}

// TrustedIssuer returns the dev identity provider as an issuer to trust
// (in dev mode only), as a CIS2 or NHS login (kind) provider.
func (d *DevIdP) TrustedIssuer(kind string) TrustedIssuer {
	iss := DevIssuer
	if kind == IssuerNHSLogin {
		iss += ":nhs-login"
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: d.key.Public(), KeyID: d.kid, Algorithm: string(jose.ES256), Use: "sig"}}}
	b, _ := json.Marshal(set)
	return TrustedIssuer{Issuer: iss, Kind: kind, JWKS: b}
}

// IDToken signs an ID token with the given claims for audience clientID;
// iss (per kind), aud, iat and exp are set.
func (d *DevIdP) IDToken(kind, clientID string, claims map[string]any) (string, error) {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: d.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), d.kid))
	if err != nil {
		return "", err
	}
	now := time.Now()
	std := jwt.Claims{Issuer: d.TrustedIssuer(kind).Issuer, Audience: jwt.Audience{clientID},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))}
	return jwt.Signed(sig).Claims(std).Claims(claims).Serialize()
}

// DevTokenOptions choose who a development token is for. With none set it
// is an application-restricted token of the demo application.
type DevTokenOptions struct {
	App  string // application id (default openspine-demo)
	User string // SDS user id: a user-restricted token (needs Role and Org)
	Role string // job role code, e.g. R8000 or S8000:G8000:R8000
	Org  string // ODS code of the user's organisation
	// RoleProfile is the user's role profile id (URID, sent by EPS clients
	// as NHSD-Session-URID); default dev-USER-ROLE-ORG.
	RoleProfile string
	Patient     string // NHS number: a patient (NHS login P9) token
	// Activities of the user's role (default: none; policy may supply
	// the usual ones for the role).
	Activities []string
	// Allowed: service:action pairs of the application (default: the
	// demo's, DemoAllowed).
	Allowed []string
	TTL     time.Duration // default 1 hour, at most 12 hours
}

// DemoAllowed is everything the demo application may do when
// application-restricted.
var DemoAllowed = []string{
	"directory:read", "directory:search", "directory:create", "directory:update", "directory:delete",
	"pds:read", "pds:search", "pds:create", "pds:update",
	"audit:read", "audit:search",
}

var (
	sdsIDPattern = regexp.MustCompile(`^[0-9]{1,20}$`)
	odsPattern   = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)
	rolePattern  = regexp.MustCompile(`^([A-Z][0-9]{4}:){0,2}R[0-9]{4}$`)
)

// DevToken mints an access token with the spine's current key in dataDir,
// marked as a development token. It refuses unless dataDir is a
// development instance.
func DevToken(dataDir string, o DevTokenOptions) (string, error) {
	if !IsDevInstance(dataDir) {
		return "", fmt.Errorf("%s is not a development instance (run spine serve --dev on it first)", dataDir)
	}
	if o.App == "" {
		o.App = DemoAppID
	}
	if !appIDPattern.MatchString(o.App) {
		return "", errors.New("bad application id")
	}
	if o.TTL <= 0 {
		o.TTL = time.Hour
	}
	if o.TTL > MaxDevTokenTTL {
		return "", fmt.Errorf("dev tokens live at most %s", MaxDevTokenTTL)
	}
	if o.Allowed == nil {
		o.Allowed = DemoAllowed
	}
	g := &Grant{App: &Application{ID: o.App, Name: "OpenSpine demo", OrgODS: "X26", Allowed: o.Allowed,
		Rate: 100000, Burst: 100000}, Dev: true}
	switch {
	case o.User != "" && o.Patient != "":
		return "", errors.New("a token is for a user or a patient, not both")
	case o.User != "":
		if !sdsIDPattern.MatchString(o.User) || !rolePattern.MatchString(o.Role) || !odsPattern.MatchString(o.Org) {
			return "", errors.New("a user token needs --user SDS-ID (digits), --role CODE (e.g. R8000) and --org ODS")
		}
		g.App.Mode = ModeUser
		g.App.Allowed = nil
		g.UserID, g.RoleCode, g.OrgODS, g.Activities = o.User, o.Role, o.Org, o.Activities
		g.RoleProfileID = o.RoleProfile
		if g.RoleProfileID == "" {
			g.RoleProfileID = "dev-" + o.User + "-" + strings.ReplaceAll(o.Role, ":", "") + "-" + o.Org
		}
	case o.Patient != "":
		if !nhsnumber.Valid(o.Patient) {
			return "", errors.New("--patient needs a valid NHS number")
		}
		g.App.Mode = ModeUser
		g.App.Allowed = nil
		g.NHSNumber, g.IdentityLevel = o.Patient, "P9"
	case o.Role != "" || o.Org != "":
		return "", errors.New("--role and --org need --user")
	default:
		g.App.Mode = ModeApplication
	}
	ring, err := openForSigning(KeysDir(dataDir))
	if err != nil {
		return "", err
	}
	return Issue(ring, g, time.Now(), o.TTL)
}
