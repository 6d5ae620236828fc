package policy

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/fhir"
)

func user(role string, activities ...string) *auth.Principal {
	return &auth.Principal{AppID: "app", Mode: auth.ModeUser, UserID: "555021935107", RoleProfileID: "555021936108",
		RoleCode: "S8000:G8000:" + role, JobRole: role, Activities: activities, OrgODS: "Y12345"}
}

func split(pair string) (string, string) {
	s, a, _ := strings.Cut(pair, ":")
	return s, a
}

// check asserts that pr is allowed exactly the pairs in want, refused all others.
func check(t *testing.T, p *Policy, name string, pr *auth.Principal, want []string) {
	t.Helper()
	for _, pair := range p.Pairs() {
		s, a := split(pair)
		err := p.Allow(pr, s, a)
		if allowed := slices.Contains(want, pair); allowed != (err == nil) {
			t.Errorf("%s: %s: want allowed=%v, got %v", name, pair, allowed, err)
		}
		if err != nil {
			var fe *fhir.Error
			if !errors.As(err, &fe) || fe.Status != http.StatusForbidden || fe.Code != fhir.CodeAccessDenied {
				t.Errorf("%s: %s: refusal is not a 403 ACCESS_DENIED: %v", name, pair, err)
			}
		}
	}
}

// Every row of the table, from the table itself: a role alone is allowed
// exactly its row; an activity alone (with a role that has no row) exactly its row.
func TestEveryRow(t *testing.T) {
	p := Default()
	tb := p.Table()
	if len(tb.Roles) < 10 || len(tb.Activities) < 8 {
		t.Fatalf("table too small: %d roles, %d activities", len(tb.Roles), len(tb.Activities))
	}
	for code, row := range tb.Roles {
		check(t, p, "role "+code, user(code), row.Allow)
	}
	for code, row := range tb.Activities {
		check(t, p, "activity "+code, user("R0000", code), row.Allow)
	}
	patient := &auth.Principal{AppID: "app", Mode: auth.ModeUser, NHSNumber: "9000000009", IdentityLevel: "P9"}
	check(t, p, "patient", patient, tb.Patient)
	// An application-restricted app registered for everything gets the application row.
	app := &auth.Principal{AppID: "app", Mode: auth.ModeApplication, Scopes: p.Pairs()}
	check(t, p, "application", app, tb.Application)
	// ... and one registered for two pairs gets those only.
	app.Scopes = []string{"directory:read", "pds:search"}
	check(t, p, "narrow application", app, app.Scopes)
	// A role alone is capped by a user-restricted app's registration.
	capped := user("R8000")
	capped.Scopes = []string{"pds:read", "eps:prescribe"}
	check(t, p, "capped user", capped, []string{"pds:read"})
}

// Hand-written expectations (not derived from the table).
func TestExamples(t *testing.T) {
	p := Default()
	cases := []struct {
		name    string
		pr      *auth.Principal
		allowed []string
		refused []string
	}{
		{"receptionist", user("R8009"),
			[]string{"pds:read", "pds:search", "directory:read"},
			[]string{"pds:update", "eps:read", "eps:search", "eps:prescribe", "eps:release", "eps:dispense", "eps:claim", "eps:cancel", "audit:read", "directory:create"}},
		{"admin and clerical", user("R8008"),
			[]string{"pds:read", "pds:search"},
			[]string{"eps:read", "eps:prescribe", "eps:dispense"}},
		{"pharmacist", user("R1290", "B0570"),
			[]string{"eps:release", "eps:dispense", "eps:claim", "eps:read", "pds:search"},
			[]string{"eps:prescribe", "eps:cancel", "directory:delete"}},
		{"health professional at a pharmacy", user("R8003", "B0570"),
			[]string{"eps:release", "eps:dispense", "eps:claim"},
			[]string{"eps:prescribe", "eps:cancel"}},
		{"prescriber", user("R8000", "B0420"),
			[]string{"eps:prescribe", "eps:cancel", "eps:read", "pds:update"},
			[]string{"eps:release", "eps:dispense", "eps:claim", "audit:read"}},
		{"doctor without prescribing activity", user("R8000"),
			[]string{"eps:read"},
			[]string{"eps:prescribe", "eps:cancel"}},
		{"nurse independent prescriber", user("R8001", "B0420"),
			[]string{"eps:prescribe"}, []string{"eps:dispense"}},
		{"privacy officer", user("R8013", "B0011"),
			[]string{"audit:read", "audit:search"}, []string{"eps:read", "directory:update"}},
		{"unknown role", user("R9999"),
			nil, []string{"directory:read", "pds:read"}},
		{"unknown pair", user("R8000", "B0420"),
			nil, []string{"eps:teleport", "nosuch:read"}},
		{"application-restricted", &auth.Principal{AppID: "a", Mode: auth.ModeApplication, Scopes: []string{"pds:read", "eps:prescribe"}},
			[]string{"pds:read"}, []string{"eps:prescribe", "pds:search"}},
		{"patient", &auth.Principal{AppID: "a", Mode: auth.ModeUser, NHSNumber: "9000000009"},
			[]string{"pds:read", "eps:read", "audit:search"}, []string{"pds:search", "eps:prescribe", "directory:read"}},
		{"nobody", &auth.Principal{AppID: "a", Mode: auth.ModeUser},
			nil, []string{"pds:read"}},
	}
	for _, c := range cases {
		for _, pair := range c.allowed {
			s, a := split(pair)
			if err := p.Allow(c.pr, s, a); err != nil {
				t.Errorf("%s: %s refused: %v", c.name, pair, err)
			}
		}
		for _, pair := range c.refused {
			s, a := split(pair)
			if err := p.Allow(c.pr, s, a); err == nil {
				t.Errorf("%s: %s allowed", c.name, pair)
			}
		}
	}
}

func TestEmergencyNeedsActivity(t *testing.T) {
	p := Default()
	pr := user("R8000")
	pr.Emergency = true
	if err := p.Allow(pr, "eps", "read"); err == nil {
		t.Fatal("emergency declared without an emergency activity was allowed")
	}
	pr.Activities = []string{"B0168"}
	if err := p.Allow(pr, "eps", "read"); err != nil {
		t.Fatal(err)
	}
}

type rels map[string]bool

func (r rels) Has(_ context.Context, org, nhs string) (bool, error) { return r[org+"/"+nhs], nil }

func TestLegitimateRelationship(t *testing.T) {
	p := Default()
	p.Relationships = rels{"Y12345/9000000009": true}
	ctx := context.Background()
	doc := user("R8000", "B0420")
	if err := p.AllowPatient(ctx, doc, "eps", "read", "9000000009"); err != nil {
		t.Fatalf("with a relationship: %v", err)
	}
	if err := p.AllowPatient(ctx, doc, "eps", "read", "9000000017"); err == nil {
		t.Fatal("without a relationship: allowed")
	}
	// Demographics are not clinical data: no relationship needed.
	if err := p.AllowPatient(ctx, doc, "pds", "read", "9000000017"); err != nil {
		t.Fatalf("pds read: %v", err)
	}
	// Emergency access bypasses the relationship and is flagged.
	doc.Emergency, doc.Activities = true, []string{"B0420", "B0168"}
	if err := p.AllowPatient(ctx, doc, "eps", "read", "9000000017"); err != nil {
		t.Fatalf("emergency: %v", err)
	}
	if !doc.RelationshipOverridden {
		t.Fatal("emergency override not flagged")
	}
	// Patients reach only their own record.
	pt := &auth.Principal{AppID: "a", Mode: auth.ModeUser, NHSNumber: "9000000009"}
	if err := p.AllowPatient(ctx, pt, "pds", "read", "9000000009"); err != nil {
		t.Fatal(err)
	}
	if err := p.AllowPatient(ctx, pt, "pds", "read", "9000000017"); err == nil {
		t.Fatal("a patient reached another patient's record")
	}
}

func TestLoadRefusesUnknownPairs(t *testing.T) {
	bad := []string{
		`{"services":{"pds":["read"]},"roles":{"R1":{"name":"x","allow":["pds:write"]}}}`,
		`{"services":{"pds":["read"]},"application":["eps:read"]}`,
		`{"services":{"pds":["read"]},"emergency_activities":["B1"]}`,
		`{"services":{"pds":["read"]},"surprise":true}`,
	}
	for _, b := range bad {
		if _, err := Load([]byte(b)); err == nil {
			t.Errorf("Load accepted %s", b)
		}
	}
	if got := Default().TypicalActivities("S8000:G8000:R8000"); !slices.Contains(got, "B0420") {
		t.Errorf("typical activities of R8000: %v", got)
	}
}
