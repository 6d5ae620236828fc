package auth

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/openspine/openspine/internal/nhsnumber"
)

// Kinds of identity provider.
const (
	IssuerCIS2     = "cis2"      // NHS Care Identity Service 2: healthcare workers
	IssuerNHSLogin = "nhs-login" // NHS login: patients
)

// TrustedIssuer is an OpenID Connect provider whose ID tokens the token
// endpoint exchanges for access tokens.
type TrustedIssuer struct {
	Issuer  string `json:"issuer"`             // exact iss
	Kind    string `json:"kind"`               // cis2 or nhs-login
	JWKSURL string `json:"jwks_url,omitempty"` // its published keys
	JWKS    []byte `json:"jwks,omitempty"`     // or the keys themselves
	// MaxAge bounds how old (by iat) an ID token may be (default 1 hour).
	MaxAge time.Duration `json:"-"`

	set *jose.JSONWebKeySet
}

func (is *TrustedIssuer) init() error {
	if is.Issuer == "" || (is.Kind != IssuerCIS2 && is.Kind != IssuerNHSLogin) {
		return fmt.Errorf("auth: trusted issuer %q: kind must be %s or %s", is.Issuer, IssuerCIS2, IssuerNHSLogin)
	}
	if (len(is.JWKS) == 0) == (is.JWKSURL == "") {
		return fmt.Errorf("auth: trusted issuer %q: exactly one of jwks and jwks_url", is.Issuer)
	}
	if len(is.JWKS) > 0 {
		set, err := parseClientJWKS(is.JWKS)
		if err != nil {
			return fmt.Errorf("auth: trusted issuer %q: %w", is.Issuer, err)
		}
		is.set = set
	}
	if is.MaxAge <= 0 {
		is.MaxAge = time.Hour
	}
	return nil
}

// Algorithms accepted in ID tokens.
var idTokenAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS512, jose.ES256}

// cis2Role is one entry of the CIS2 nhsid_nrbac_roles claim.
type cis2Role struct {
	PersonRoleID  string   `json:"person_roleid"`
	OrgCode       string   `json:"org_code"`
	RoleCode      string   `json:"role_code"`
	RoleName      string   `json:"role_name,omitempty"`
	ActivityCodes []string `json:"activity_codes,omitempty"`
}

// idClaims are the ID token claims the exchange reads.
type idClaims struct {
	jwt.Claims
	AuthorizedParty string     `json:"azp,omitempty"`
	UID             string     `json:"uid,omitempty"` // CIS2: SDS user id
	Roles           []cis2Role `json:"nhsid_nrbac_roles,omitempty"`
	SelectedRoleID  string     `json:"selected_roleid,omitempty"`
	NHSNumber       string     `json:"nhs_number,omitempty"`
	IdentityLevel   string     `json:"identity_proofing_level,omitempty"`
}

// exchange verifies the subject ID token and fills g with the identity.
func (t *TokenService) exchange(ctx context.Context, idToken string, app *Application, g *Grant, now time.Time) error {
	if len(idToken) > 64<<10 {
		return fail("invalid_grant", "subject token too large")
	}
	tok, err := jwt.ParseSigned(idToken, idTokenAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return fail("invalid_grant", "subject token does not parse")
	}
	hd := tok.Headers[0]
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return fail("invalid_grant", "subject token claims")
	}
	is := t.issuers[unverified.Issuer]
	if is == nil {
		return fail("invalid_grant", "untrusted issuer "+unverified.Issuer)
	}
	var keys []jose.JSONWebKey
	if is.set != nil {
		keys = is.set.Key(hd.KeyID)
	} else if hd.KeyID != "" {
		keys, err = t.jwks.key(ctx, is.JWKSURL, hd.KeyID)
		if err != nil {
			slog.WarnContext(ctx, "auth: issuer JWKS unavailable", "issuer", is.Issuer, "err", err)
			return fail("invalid_grant", "issuer keys unavailable")
		}
	}
	var c idClaims
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
		return fail("invalid_grant", "subject token signature")
	}
	if c.Issuer != is.Issuer || !c.Audience.Contains(app.ID) {
		return fail("invalid_grant", "subject token issuer or audience")
	}
	if len(c.Audience) > 1 && c.AuthorizedParty != app.ID {
		return fail("invalid_grant", "subject token azp")
	}
	if err := checkTimes(&c.Claims, now, 0); err != nil {
		return fail("invalid_grant", "subject token "+err.Error())
	}
	if c.IssuedAt == nil || now.Sub(c.IssuedAt.Time()) > is.MaxAge {
		return fail("invalid_grant", "subject token too old")
	}
	switch is.Kind {
	case IssuerCIS2:
		return cis2Identity(&c, g)
	default:
		return nhsLoginIdentity(&c, g)
	}
}

// cis2Identity takes the user's selected role from CIS2 claims.
func cis2Identity(c *idClaims, g *Grant) error {
	user := c.UID
	if user == "" {
		user = c.Subject
	}
	if user == "" || len(c.Roles) == 0 {
		return fail("invalid_grant", "CIS2 token without user or roles")
	}
	var sel *cis2Role
	if c.SelectedRoleID == "" {
		if len(c.Roles) != 1 {
			return fail("invalid_grant", "CIS2 token without selected_roleid")
		}
		sel = &c.Roles[0]
	} else {
		for i := range c.Roles {
			if c.Roles[i].PersonRoleID == c.SelectedRoleID {
				sel = &c.Roles[i]
				break
			}
		}
	}
	if sel == nil || sel.PersonRoleID == "" || sel.OrgCode == "" || sel.RoleCode == "" {
		return fail("invalid_grant", "CIS2 selected role missing or incomplete")
	}
	g.UserID, g.RoleProfileID, g.RoleCode, g.OrgODS = user, sel.PersonRoleID, sel.RoleCode, sel.OrgCode
	g.Activities = sel.ActivityCodes
	return nil
}

// nhsLoginIdentity takes the patient from NHS login claims (P9 only).
func nhsLoginIdentity(c *idClaims, g *Grant) error {
	if c.IdentityLevel != "P9" {
		return fail("invalid_grant", "NHS login identity level "+c.IdentityLevel)
	}
	if !nhsnumber.Valid(c.NHSNumber) {
		return fail("invalid_grant", "NHS login token without a valid nhs_number")
	}
	g.NHSNumber, g.IdentityLevel = c.NHSNumber, c.IdentityLevel
	return nil
}
