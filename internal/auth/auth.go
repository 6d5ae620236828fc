// Package auth is OpenSpine's identity layer, shaped like the NHS England
// API platform: applications authenticate to POST /oauth2/token with a
// signed client assertion (RFC 7523 private_key_jwt), optionally exchanging
// a user's CIS2 or patient's NHS login ID token (RFC 8693), and receive a
// short-lived access token signed by the spine's own rotating keys (ES256,
// published at /.well-known/jwks.json). Every other request carries that
// token; Middleware verifies it (with a bounded cache), applies per
// application rate limits, records declared emergency access, asks an
// Authorizer (package policy) whether the request is allowed, and puts the
// resulting Principal in the request context.
//
// All JOSE work is done by github.com/go-jose/go-jose/v4 with explicit
// algorithm allow-lists; this package contains no cryptography of its own.
package auth

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Access modes of an application (and of the tokens it obtains).
const (
	ModeApplication = "application-restricted"
	ModeUser        = "user-restricted"
)

// Fixed issuer and audience of the spine's access tokens.
const (
	TokenIssuer   = "urn:openspine:spine"
	TokenAudience = "urn:openspine:api"
)

// Token lifetimes.
const (
	DefaultTokenTTL = 599 * time.Second
	MaxTokenTTL     = 10 * time.Minute
	// Skew is the clock difference tolerated on iat, nbf and exp.
	Skew = 30 * time.Second
)

// Headers a user sends to declare emergency (break-glass) access for one
// request, and the header naming the selected role (EPS contract).
const (
	HeaderEmergency       = "NHSD-Emergency-Access"
	HeaderEmergencyReason = "NHSD-Emergency-Access-Reason"
	HeaderSessionURID     = "NHSD-Session-URID"
)

// Principal is what a verified access token says about the caller, plus
// what the request declared (emergency access) and how it was classified.
// A Principal in a request context belongs to that request; its slices
// are shared with the token cache and must not be modified.
type Principal struct {
	TokenID string    // jti of the access token
	Expires time.Time // when the access token expires
	Dev     bool      // minted by DevToken: accepted only by a --dev server

	AppID  string // the application (API key / client id)
	AppOrg string // ODS code of the organisation owning the application
	Mode   string // ModeApplication or ModeUser
	Scopes []string
	Rate   int // sustained requests per second per service (0: default)
	Burst  int

	// Users (CIS2): the selected role.
	UserID        string   // SDS user id
	RoleProfileID string   // person_roleid (the URID)
	RoleCode      string   // as given, e.g. S8000:G8000:R8000
	JobRole       string   // the job role part, e.g. R8000
	Activities    []string // CIS2 activity codes of the selected role
	OrgODS        string   // organisation of the selected role

	// Patients (NHS login).
	NHSNumber     string
	IdentityLevel string // P9

	// Per request.
	Emergency       bool   // emergency (break-glass) access declared
	EmergencyReason string // as declared
	// RelationshipOverridden is set by policy when emergency access was
	// what let the request reach a patient without a legitimate
	// relationship: audit should raise an alert.
	RelationshipOverridden bool
	Service, Action        string // how the middleware classified the request

	authz Authorizer // the middleware's, for Check
}

// IsUser reports whether a healthcare worker is acting.
func (p *Principal) IsUser() bool { return p != nil && p.Mode == ModeUser && p.UserID != "" }

// IsPatient reports whether a patient is acting on their own behalf.
func (p *Principal) IsPatient() bool {
	return p != nil && p.Mode == ModeUser && p.NHSNumber != "" && p.UserID == ""
}

// HasActivity reports whether the selected role carries the activity code.
func (p *Principal) HasActivity(code string) bool {
	return p != nil && slices.Contains(p.Activities, code)
}

// HasScope reports whether the application was granted service:action.
func (p *Principal) HasScope(service, action string) bool {
	if p == nil {
		return false
	}
	for _, s := range p.Scopes {
		if len(s) == len(service)+1+len(action) && strings.HasPrefix(s, service) && s[len(service)] == ':' && strings.HasSuffix(s, action) {
			return true
		}
	}
	return false
}

// jobRole extracts the Rxxxx part of an SDS role code (S..:G..:R..).
func jobRole(code string) string {
	if i := strings.LastIndexByte(code, ':'); i >= 0 {
		return code[i+1:]
	}
	return code
}

type ctxKey struct{}

// With returns ctx carrying p.
func With(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the Principal of the request, or nil when the request was
// not authenticated (a public route, or no middleware).
func From(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}
