// Package policy decides what an authenticated principal may do, from a
// table kept as data (policy.json, embedded): SDS job roles and CIS2
// activity codes grant (service, action) pairs to healthcare workers;
// application-restricted applications get the pairs they were registered
// with, within what application-restricted access may do at all; patients
// get a fixed set over their own record. Clinical data further needs a
// legitimate relationship between the user's organisation and the
// patient, which declared emergency access overrides (and flags).
//
// Policy implements auth.Authorizer; this package imports auth, never the
// reverse.
package policy

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/openspine/openspine/internal/auth"
)

//go:embed policy.json
var defaultTable []byte

// Table is the policy as data (the JSON of policy.json).
type Table struct {
	// Services lists every service and its actions; pairs outside it are refused.
	Services map[string][]string `json:"services"`
	// Roles: SDS job role code (Rxxxx) → baseline grants.
	Roles map[string]Row `json:"roles"`
	// Activities: CIS2 activity code → additional grants.
	Activities map[string]Row `json:"activities"`
	// EmergencyActivities: a user must hold one to declare emergency access.
	EmergencyActivities []string `json:"emergency_activities"`
	// Application: what application-restricted access may do at all.
	Application []string `json:"application"`
	// Patient: what a patient (NHS login P9) may do, on their own record.
	Patient []string `json:"patient"`
	// Relationship: pairs that reach clinical data: a user needs a
	// legitimate relationship with the patient (or emergency access).
	Relationship []string `json:"relationship"`
}

// Row is one role or activity.
type Row struct {
	Name  string   `json:"name"`
	Allow []string `json:"allow"`
	// TypicalActivities are the activity codes usually held with this role
	// (used only to make development tokens).
	TypicalActivities []string `json:"typical_activities,omitempty"`
}

// Relationships tells whether an organisation has a legitimate
// relationship with a patient (registration, referral, nomination...).
type Relationships interface {
	Has(ctx context.Context, orgODS, nhsNumber string) (bool, error)
}

type pair struct{ service, action string }

type set map[pair]bool

// Policy is a compiled Table. It is safe for concurrent use.
type Policy struct {
	table        Table
	all          set
	roles        map[string]set
	activities   map[string]set
	emergency    []string
	application  set
	patient      set
	relationship set
	// Relationships answers legitimate-relationship questions (nil: no
	// relationship is known, so only emergency access reaches clinical data).
	Relationships Relationships
}

// Default returns the embedded policy.
func Default() *Policy {
	p, err := Load(defaultTable)
	if err != nil {
		panic("policy: embedded policy.json: " + err.Error())
	}
	return p
}

// Load compiles a policy table, refusing pairs that name unknown services
// or actions.
func Load(b []byte) (*Policy, error) {
	var t Table
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, err
	}
	p := &Policy{table: t, all: set{}, roles: map[string]set{}, activities: map[string]set{}, emergency: t.EmergencyActivities}
	for s, acts := range t.Services {
		for _, a := range acts {
			p.all[pair{s, a}] = true
		}
	}
	var err error
	compile := func(where string, list []string) set {
		out := set{}
		for _, e := range list {
			s, a, ok := strings.Cut(e, ":")
			if !ok || !p.all[pair{s, a}] {
				if err == nil {
					err = fmt.Errorf("%s: %q is not a known service:action", where, e)
				}
				continue
			}
			out[pair{s, a}] = true
		}
		return out
	}
	for code, r := range t.Roles {
		p.roles[code] = compile("role "+code, r.Allow)
	}
	for code, r := range t.Activities {
		p.activities[code] = compile("activity "+code, r.Allow)
	}
	for _, code := range t.EmergencyActivities {
		if _, ok := t.Activities[code]; !ok && err == nil {
			err = fmt.Errorf("emergency activity %s is not in activities", code)
		}
	}
	p.application = compile("application", t.Application)
	p.patient = compile("patient", t.Patient)
	p.relationship = compile("relationship", t.Relationship)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Table returns the policy's table (do not modify it).
func (p *Policy) Table() *Table { return &p.table }

// TypicalActivities returns the activity codes usually held with a job
// role (for development tokens); role may be a full S:G:R code.
func (p *Policy) TypicalActivities(role string) []string {
	if i := strings.LastIndexByte(role, ':'); i >= 0 {
		role = role[i+1:]
	}
	return slices.Clone(p.table.Roles[role].TypicalActivities)
}

// Allow implements auth.Authorizer: nil when pr may perform action on
// service, else a 403 *fhir.Error saying why in general terms.
func (p *Policy) Allow(pr *auth.Principal, service, action string) error {
	if pr == nil {
		return auth.Forbidden("no principal")
	}
	k := pair{service, action}
	if !p.all[k] {
		return auth.Forbidden("%s %s is not a known service action", service, action)
	}
	switch {
	case pr.Mode == auth.ModeApplication:
		if !p.application[k] {
			return auth.Forbidden("%s %s needs a user: application-restricted access cannot do it", service, action)
		}
		if !pr.HasScope(service, action) {
			return auth.Forbidden("application %s is not registered for %s %s", pr.AppID, service, action)
		}
		return nil
	case pr.IsPatient():
		if !p.patient[k] {
			return auth.Forbidden("patients cannot %s in %s", action, service)
		}
	case pr.IsUser():
		if !p.userGranted(pr, k) {
			return auth.Forbidden("the selected role (%s) and its activities do not allow %s in %s", pr.JobRole, action, service)
		}
		if pr.Emergency && !p.canDeclareEmergency(pr) {
			return auth.Forbidden("the selected role has no emergency access activity (%s)", strings.Join(p.emergency, ", "))
		}
	default:
		return auth.Forbidden("the access token names neither an application, a user nor a patient")
	}
	// User-restricted applications registered with a list are capped by it.
	if len(pr.Scopes) > 0 && !pr.HasScope(service, action) {
		return auth.Forbidden("application %s is not registered for %s %s", pr.AppID, service, action)
	}
	return nil
}

func (p *Policy) userGranted(pr *auth.Principal, k pair) bool {
	if p.roles[pr.JobRole][k] {
		return true
	}
	for _, a := range pr.Activities {
		if p.activities[a][k] {
			return true
		}
	}
	return false
}

func (p *Policy) canDeclareEmergency(pr *auth.Principal) bool {
	for _, a := range p.emergency {
		if pr.HasActivity(a) {
			return true
		}
	}
	return false
}

// AllowPatient is Allow for a request about one patient's record: a
// patient may only reach their own; for pairs that reach clinical data a
// user's organisation needs a legitimate relationship with the patient,
// unless the user declared emergency access, in which case
// pr.RelationshipOverridden is set for audit to alert on.
func (p *Policy) AllowPatient(ctx context.Context, pr *auth.Principal, service, action, nhsNumber string) error {
	if err := p.Allow(pr, service, action); err != nil {
		return err
	}
	switch {
	case pr.IsPatient():
		if pr.NHSNumber != nhsNumber {
			return auth.Forbidden("patients can only reach their own record")
		}
	case pr.IsUser() && p.relationship[pair{service, action}]:
		has := false
		if p.Relationships != nil {
			var err error
			if has, err = p.Relationships.Has(ctx, pr.OrgODS, nhsNumber); err != nil {
				return err
			}
		}
		if !has {
			if !pr.Emergency {
				return auth.Forbidden("organisation %s has no legitimate relationship with this patient; declare emergency access if this is an emergency", pr.OrgODS)
			}
			pr.RelationshipOverridden = true
		}
	}
	return nil
}

// Pairs lists every known service:action, sorted (for tests and docs).
func (p *Policy) Pairs() []string {
	out := make([]string, 0, len(p.all))
	for k := range p.all {
		out = append(out, k.service+":"+k.action)
	}
	sort.Strings(out)
	return out
}

var _ auth.Authorizer = (*Policy)(nil)
