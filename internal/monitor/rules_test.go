package monitor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/openspine/openspine/internal/audit"
)

// fakeLookups is an in-memory Lookups.
type fakeLookups struct {
	patients   map[string]Person
	users      map[string]Person
	restricted map[string]bool
}

func (f fakeLookups) Patient(_ context.Context, nhs string) (Person, bool, error) {
	p, ok := f.patients[nhs]
	return p, ok, nil
}
func (f fakeLookups) User(_ context.Context, id string) (Person, bool, error) {
	p, ok := f.users[id]
	return p, ok, nil
}
func (f fakeLookups) Restricted(_ context.Context, nhs string) (bool, error) {
	return f.restricted[nhs], nil
}

var testPeople = fakeLookups{
	users: map[string]Person{
		"u-smith": {Surname: "Smith", Postcode: "LS1 4AP", Address: "1 High Street"},
		"u-jones": {Surname: "Jones", Postcode: "M1 1AA"},
	},
	patients: map[string]Person{
		"9000000001": {Surname: "SMITH", Postcode: "BD7 1DP"},                            // same surname
		"9000000002": {Surname: "Patel", Postcode: "ls14ap", Address: "3 High Street"},   // same postcode
		"9000000003": {Surname: "Brown", Postcode: "LS1 4AP", Address: "1, High Street"}, // same address
		"9000000004": {Surname: "Khan", Postcode: "YO1 7HH"},                             // nothing shared
		"9000000005": {Surname: "Smith", Postcode: "LS1 4AP", Address: "1 High Street"},  // household
		"9000000006": {Surname: "Hidden", Postcode: "", GP: "B82001"},                    // restricted
		"9000000007": {Surname: "Ahmed", Postcode: "M1 1AA", Address: "Flat 2"},          // u-jones's postcode
	},
	restricted: map[string]bool{"9000000006": true},
}

var day = time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC) // a Wednesday, BST

var idx int64

// rec makes a successful user read of the given patients at t.
func rec(t time.Time, user string, patients ...string) *audit.Record {
	idx++
	return &audit.Record{Index: idx, Time: t, UserID: user, OrgODS: "A81001", AppID: "app1", Mode: "user-restricted",
		Client: "10.0.0.1", Service: "pds", Action: "read", Method: "GET", Route: "GET /personal-demographics/FHIR/R4/Patient/{id}",
		Status: 200, Patients: patients}
}

func env() *Env {
	return &Env{Ctx: context.Background(), Lookups: testPeople, MaxPatients: 200}
}

func rulesFor(t *testing.T, cfg Config) map[string]Rule {
	t.Helper()
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	loc, _ := time.LoadLocation(cfg.Timezone)
	m := map[string]Rule{}
	for _, r := range buildRules(cfg, loc) {
		m[r.Name()] = r
	}
	return m
}

func expect(t *testing.T, what string, got []Finding, n int, reason string) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%s: %d findings, want %d: %+v", what, len(got), n, got)
	}
	for _, f := range got {
		if reason != "" && f.Reason != reason {
			t.Errorf("%s: reason %q, want %q", what, f.Reason, reason)
		}
		if f.Summary == "" || f.Key == "" || len(f.Records) == 0 || f.Severity == "" {
			t.Errorf("%s: incomplete finding %+v", what, f)
		}
	}
}

func TestBreakGlassAndOverride(t *testing.T) {
	rules := rulesFor(t, Config{})
	bg, ov := rules[RuleBreakGlass], rules[RuleRelationshipOverride]
	normal := rec(day.Add(10*time.Hour), "u1", "9000000004")
	expect(t, "break-glass on a normal read", bg.Evaluate(env(), normal), 0, "")
	expect(t, "override on a normal read", ov.Evaluate(env(), normal), 0, "")

	e := rec(day.Add(10*time.Hour), "u1", "9000000004")
	e.Emergency, e.EmergencyReason = true, "unconscious in A&E"
	expect(t, "declared emergency", bg.Evaluate(env(), e), 1, "emergency-access")
	expect(t, "emergency without override", ov.Evaluate(env(), e), 0, "")
	e.RelationshipOverridden = true
	expect(t, "override", ov.Evaluate(env(), e), 1, "no-legitimate-relationship")

	off := rulesFor(t, Config{Rules: RulesConfig{BreakGlass: Switch{Enabled: Bool(false)}}})
	if _, ok := off[RuleBreakGlass]; ok {
		t.Error("break-glass rule built although disabled")
	}
}

func TestFlagged(t *testing.T) {
	cfg := Config{Rules: RulesConfig{Flagged: FlaggedConfig{Patients: []FlaggedPatient{
		{NHSNumber: "9000000004", Reason: "vip", AllowedOrgs: []string{"Y00001"}}}}}}
	fl := rulesFor(t, cfg)[RuleFlagged]
	at := day.Add(11 * time.Hour)

	expect(t, "VIP read by another organisation", fl.Evaluate(env(), rec(at, "u1", "9000000004")), 1, "vip")
	allowed := rec(at, "u1", "9000000004")
	allowed.OrgODS = "Y00001"
	expect(t, "VIP read by their own practice", fl.Evaluate(env(), allowed), 0, "")
	self := rec(at, "", "9000000004")
	self.Patient = "9000000004"
	expect(t, "VIP reading their own record", fl.Evaluate(env(), self), 0, "")
	refused := rec(at, "u1", "9000000004")
	refused.Status = 403
	expect(t, "refused request", fl.Evaluate(env(), refused), 0, "")
	expect(t, "unflagged patient", fl.Evaluate(env(), rec(at, "u1", "9000000001")), 0, "")

	expect(t, "restricted patient", fl.Evaluate(env(), rec(at, "u1", "9000000006")), 1, "restricted")
	gp := rec(at, "u1", "9000000006")
	gp.OrgODS = "B82001"
	expect(t, "restricted patient seen by their practice", fl.Evaluate(env(), gp), 0, "")
	search := rec(at, "u1", "9000000001", "9000000004", "9000000006")
	expect(t, "search touching two flagged records", fl.Evaluate(env(), search), 2, "")

	exempt := rulesFor(t, Config{Rules: RulesConfig{Flagged: FlaggedConfig{ExemptApps: []string{"app1"}}}})[RuleFlagged]
	expect(t, "exempt application", exempt.Evaluate(env(), rec(at, "u1", "9000000006")), 0, "")

	noRestricted := rulesFor(t, Config{Rules: RulesConfig{Flagged: FlaggedConfig{IgnoreRestricted: true}}})[RuleFlagged]
	expect(t, "restricted look-ups off", noRestricted.Evaluate(env(), rec(at, "u1", "9000000006")), 0, "")
}

func TestSameNameAddress(t *testing.T) {
	sn := rulesFor(t, Config{})[RuleSameNameAddress]
	at := day.Add(14 * time.Hour)
	expect(t, "same surname", sn.Evaluate(env(), rec(at, "u-smith", "9000000001")), 1, "same-surname")
	expect(t, "same postcode, another house", sn.Evaluate(env(), rec(at, "u-smith", "9000000002")), 0, "")
	expect(t, "same address", sn.Evaluate(env(), rec(at, "u-smith", "9000000003")), 1, "same-address")
	expect(t, "same household", sn.Evaluate(env(), rec(at, "u-smith", "9000000005")), 1, "same-surname-and-address")
	expect(t, "stranger", sn.Evaluate(env(), rec(at, "u-smith", "9000000004")), 0, "")
	expect(t, "another user", sn.Evaluate(env(), rec(at, "u-jones", "9000000001")), 0, "")
	expect(t, "unknown user", sn.Evaluate(env(), rec(at, "u-nobody", "9000000001")), 0, "")
	list := rec(at, "u-smith", "9000000001", "9000000002", "9000000003", "9000000004", "9000000005", "9000000006")
	expect(t, "a list of search results", sn.Evaluate(env(), list), 0, "")
	app := rec(at, "", "9000000001")
	expect(t, "application traffic", sn.Evaluate(env(), app), 0, "")

	neighbours := rulesFor(t, Config{Rules: RulesConfig{SameNameAddress: SameNameConfig{Match: []string{"postcode"}}}})[RuleSameNameAddress]
	expect(t, "neighbour", neighbours.Evaluate(env(), rec(at, "u-smith", "9000000002")), 1, "same-postcode")
	expect(t, "surname not matched", neighbours.Evaluate(env(), rec(at, "u-smith", "9000000001")), 0, "")
	expect(t, "address still matched", neighbours.Evaluate(env(), rec(at, "u-smith", "9000000003")), 1, "same-address")
	noLine := rec(at, "u-jones", "9000000007")
	expect(t, "same postcode, address line unknown", sn.Evaluate(env(), noLine), 1, "same-address")

	common := rulesFor(t, Config{Rules: RulesConfig{SameNameAddress: SameNameConfig{IgnoreSurnames: []string{"smith"}, Match: []string{"surname"}}}})[RuleSameNameAddress]
	expect(t, "ignored surname", common.Evaluate(env(), rec(at, "u-smith", "9000000001")), 0, "")
	expect(t, "postcode not matched", common.Evaluate(env(), rec(at, "u-smith", "9000000002")), 0, "")
}

// patients returns n distinct NHS-number-like strings.
func patients(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("94%08d", i)
	}
	return out
}

func TestVolume(t *testing.T) {
	v := rulesFor(t, Config{})[RuleVolume]
	// a steady user: 50 records an hour from 08:00 to 12:00
	var got []Finding
	for h := 8; h < 12; h++ {
		for i := 0; i < 50; i++ {
			got = append(got, v.Evaluate(env(), rec(day.Add(time.Duration(h)*time.Hour+time.Duration(i)*time.Minute), "steady", "9000000004"))...)
		}
	}
	expect(t, "steady pace", got, 0, "")
	// then 260 in one hour: above max(200, 5 × 50)
	got = nil
	for i := 0; i < 260; i++ {
		got = append(got, v.Evaluate(env(), rec(day.Add(12*time.Hour+time.Duration(i)*10*time.Second), "steady", "9000000004"))...)
	}
	expect(t, "five times the baseline", got, 1, "above-baseline")

	// a new user is judged against the cold threshold (1000)
	got = v.Evaluate(env(), rec(day.Add(3*time.Hour), "new", patients(900)...))
	expect(t, "new user, 900 records", got, 0, "")
	got = v.Evaluate(env(), rec(day.Add(3*time.Hour+time.Minute), "new", patients(200)...))
	expect(t, "new user, 1100 records", got, 1, "")
	got = v.Evaluate(env(), rec(day.Add(3*time.Hour+2*time.Minute), "new", patients(200)...))
	expect(t, "once per window", got, 0, "")
	// an application has its own, higher floor
	app := rec(day.Add(5*time.Hour), "", patients(1500)...)
	app.Mode = "application-restricted"
	expect(t, "application batch", v.Evaluate(env(), app), 0, "")
}

func TestOutOfHours(t *testing.T) {
	o := rulesFor(t, Config{})[RuleOutOfHours]
	night := day.Add(2 * time.Hour) // 03:00 BST
	expect(t, "wide search at 3 a.m.", o.Evaluate(env(), rec(night, "u1", patients(25)...)), 1, "wide-search")
	expect(t, "wide search at 11 a.m.", o.Evaluate(env(), rec(day.Add(10*time.Hour), "u2", patients(25)...)), 0, "")
	expect(t, "single read at 3 a.m.", o.Evaluate(env(), rec(night, "u3", "9000000004")), 0, "")
	export := rec(day.Add(10*time.Hour), "u4", "9000000004")
	export.Action = "export"
	expect(t, "export in hours", o.Evaluate(env(), export), 0, "")
	export.Time = day.Add(-2 * time.Hour) // 23:00 BST
	expect(t, "export at 11 p.m.", o.Evaluate(env(), export), 1, "bulk-export")
	saturday := day.Add(3*24*time.Hour + 10*time.Hour)
	expect(t, "wide search on Saturday", o.Evaluate(env(), rec(saturday, "u5", patients(25)...)), 1, "wide-search")

	// many single reads: a bulk read
	var got []Finding
	for i, p := range patients(60) {
		got = append(got, o.Evaluate(env(), rec(night.Add(time.Duration(i)*20*time.Second), "u6", p))...)
	}
	expect(t, "60 reads in 20 minutes at night", got, 1, "bulk-read")
	if len(got[0].Records) != 50 {
		t.Errorf("bulk read carries %d records, want the 50 of the window", len(got[0].Records))
	}
	got = nil
	for i, p := range patients(60) {
		got = append(got, o.Evaluate(env(), rec(night.Add(time.Duration(i)*2*time.Minute), "u7", p))...)
	}
	expect(t, "60 reads in 2 hours at night (night shift pace)", got, 0, "")

	app := rec(night, "", patients(25)...)
	expect(t, "application batch at night", o.Evaluate(env(), app), 0, "")

	// the timezone: 07:30 UTC is 08:30 in June (BST) but 07:30 in January
	expect(t, "07:30 UTC in summer", o.Evaluate(env(), rec(day.Add(7*time.Hour+30*time.Minute), "u8", patients(25)...)), 0, "")
	winter := time.Date(2026, 1, 14, 7, 30, 0, 0, time.UTC)
	expect(t, "07:30 UTC in winter", o.Evaluate(env(), rec(winter, "u8", patients(25)...)), 1, "wide-search")

	hol := rulesFor(t, Config{Rules: RulesConfig{OutOfHours: OutOfHoursConfig{Holidays: []string{"2026-06-10"}}}})[RuleOutOfHours]
	expect(t, "bank holiday", hol.Evaluate(env(), rec(day.Add(10*time.Hour), "u9", patients(25)...)), 1, "wide-search")
}

func failure(t time.Time, client string) *audit.Record {
	idx++
	return &audit.Record{Index: idx, Time: t, Client: client, Action: "authenticate", Method: "POST",
		Route: "POST /oauth2/token", Status: 401}
}

func TestAuthFailures(t *testing.T) {
	a := rulesFor(t, Config{})[RuleAuthFailures]
	var got []Finding
	for i := 0; i < 19; i++ {
		got = append(got, a.Evaluate(env(), failure(day.Add(time.Duration(i)*time.Second), "203.0.113.9"))...)
	}
	expect(t, "19 failures", got, 0, "")
	got = a.Evaluate(env(), failure(day.Add(19*time.Second), "203.0.113.9"))
	expect(t, "20th failure within 5 minutes", got, 1, "failed-authentication")
	if len(got[0].Records) != 20 {
		t.Errorf("alert carries %d records, want 20", len(got[0].Records))
	}
	got = a.Evaluate(env(), failure(day.Add(20*time.Second), "203.0.113.9"))
	if len(got) != 1 || got[0].Key != "address:203.0.113.9" {
		t.Fatalf("burst goes on: %+v", got)
	}

	// slow failures (an app with an expired token every 2 minutes)
	got = nil
	for i := 0; i < 40; i++ {
		got = append(got, a.Evaluate(env(), failure(day.Add(time.Duration(i)*2*time.Minute), "198.51.100.7"))...)
	}
	expect(t, "a failure every 2 minutes", got, 0, "")

	// 403s of one application from many addresses
	got = nil
	for i := 0; i < 20; i++ {
		r := rec(day.Add(time.Duration(i)*time.Second), "u1", "9000000004")
		r.Status, r.Client = 403, fmt.Sprintf("10.1.0.%d", i)
		got = append(got, a.Evaluate(env(), r)...)
	}
	expect(t, "403 burst of one application", got, 1, "refused-authorisation")
	// successes do not count
	got = nil
	for i := 0; i < 30; i++ {
		got = append(got, a.Evaluate(env(), rec(day.Add(time.Duration(i)*time.Second), "u1", "9000000004"))...)
	}
	expect(t, "successes", got, 0, "")
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"rules": {"volume": {"k": 8, "window": "30m"}, "break_glass": {"enabled": false}},
		"webhooks": [{"name": "soc", "url": "https://soc.example/hook", "secret": "s"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Rules.Volume.K != 8 || c.Rules.Volume.Window.D() != 30*time.Minute || c.Rules.Volume.MinUser != 200 {
		t.Errorf("volume config %+v", c.Rules.Volume)
	}
	if c.Rules.BreakGlass.On() || !c.Rules.RelationshipOverride.On() {
		t.Error("switches not applied")
	}
	for _, bad := range []string{`{"rules": {"nope": {}}}`, `{"timezone": "Mars/Olympus"}`,
		`{"rules": {"out_of_hours": {"start": "8am"}}}`, `{"webhooks": [{"name": "x", "url": "ftp://x"}]}`,
		`{"rules": {"same_name_address": {"match": ["shoe size"]}}}`} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestExampleConfig(t *testing.T) {
	t.Setenv("SPINE_SOC_WEBHOOK_SECRET", "x")
	c, err := LoadConfig("example.json")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, c.withDefaults()) || len(c.Webhooks) != 2 || len(c.Rules.Flagged.Patients) != 2 {
		t.Errorf("example config %+v", c)
	}
	def := DefaultConfig()
	def.Webhooks, def.Rules.Flagged = c.Webhooks, c.Rules.Flagged
	def.Rules.OutOfHours.Holidays, def.Rules.OutOfHours.ExemptApps = c.Rules.OutOfHours.Holidays, c.Rules.OutOfHours.ExemptApps
	def.Rules.SameNameAddress.IgnoreSurnames = c.Rules.SameNameAddress.IgnoreSurnames
	def.Rules.BreakGlass, def.Rules.RelationshipOverride = c.Rules.BreakGlass, c.Rules.RelationshipOverride
	def.Rules.SameNameAddress.Switch, def.Rules.Volume.Switch = c.Rules.SameNameAddress.Switch, c.Rules.Volume.Switch
	def.Rules.OutOfHours.Switch, def.Rules.AuthFailures.Switch = c.Rules.OutOfHours.Switch, c.Rules.AuthFailures.Switch
	if !reflect.DeepEqual(c, def) {
		t.Errorf("the example's other values are not the defaults:\n%+v\n%+v", c, def)
	}
}

// countingLookups counts the look-ups that reach the wrapped Lookups.
type countingLookups struct {
	Lookups
	calls int
}

func (c *countingLookups) Patient(ctx context.Context, nhs string) (Person, bool, error) {
	c.calls++
	return c.Lookups.Patient(ctx, nhs)
}

func (c *countingLookups) Restricted(ctx context.Context, nhs string) (bool, error) {
	c.calls++
	return c.Lookups.Restricted(ctx, nhs)
}

func TestSubjectsDescribedByTheRequestNeedNoLookUp(t *testing.T) {
	inner := &countingLookups{Lookups: testPeople}
	now := day.Add(11 * time.Hour)
	c := newCachedLookups(inner, time.Minute, 100, func() time.Time { return now })
	// a patient the look-ups do not know, described by the request as restricted
	c.prime(map[string]audit.Subject{"9000000099": {Surname: "Doe", Postcode: "LS1 1AA", GP: "B82001", Restricted: true}})
	r, err := c.Restricted(context.Background(), "9000000099")
	if err != nil || !r {
		t.Fatalf("restricted: %v, %v", r, err)
	}
	p, ok, err := c.Patient(context.Background(), "9000000099")
	if err != nil || !ok || p.Surname != "Doe" || p.GP != "B82001" {
		t.Fatalf("patient: %+v %v %v", p, ok, err)
	}
	if inner.calls != 0 {
		t.Fatalf("%d look-ups for a described patient", inner.calls)
	}
	// the flagged rule raises on it without asking
	fl := rulesFor(t, Config{})[RuleFlagged]
	e := &Env{Ctx: context.Background(), Lookups: c, MaxPatients: 200}
	expect(t, "described restricted patient", fl.Evaluate(e, rec(now, "u1", "9000000099")), 1, "restricted")
	if inner.calls != 0 {
		t.Fatalf("%d look-ups by the rule", inner.calls)
	}
	// one not described is looked up once, then cached
	c.Restricted(context.Background(), "9000000006")
	c.Restricted(context.Background(), "9000000006")
	if inner.calls != 1 {
		t.Fatalf("%d look-ups for an undescribed patient asked twice", inner.calls)
	}
	// described facts expire with the cache
	now = now.Add(2 * time.Minute)
	c.Restricted(context.Background(), "9000000099")
	if inner.calls != 2 {
		t.Fatalf("%d look-ups after the described facts expired", inner.calls)
	}
}

// A subject whose details the request left to be worked out is decoded
// only when a rule needs it, once, and then cached; the flagged rule,
// which needs only Restricted, never asks for it.
func TestSubjectDetailsWorkedOutOnlyWhenARuleAsks(t *testing.T) {
	inner := &countingLookups{Lookups: testPeople}
	now := day.Add(11 * time.Hour)
	c := newCachedLookups(inner, time.Minute, 100, func() time.Time { return now })
	e := &Env{Ctx: context.Background(), Lookups: c, MaxPatients: 200}
	rules := rulesFor(t, Config{})
	calls := 0
	lazy := map[string]audit.Subject{"9000000098": {Details: func() (audit.Subject, error) {
		calls++
		return audit.Subject{Surname: "Smith", Postcode: "BD7 1DP"}, nil
	}}}
	// a user the look-ups do not know: the same-name rule stops before the patient
	c.prime(lazy)
	expect(t, "flagged, unrestricted", rules[RuleFlagged].Evaluate(e, rec(now, "u-unknown", "9000000098")), 0, "")
	expect(t, "same name, unknown user", rules[RuleSameNameAddress].Evaluate(e, rec(now, "u-unknown", "9000000098")), 0, "")
	if calls != 0 || inner.calls != 0 {
		t.Fatalf("details worked out %d times, %d look-ups, though no rule needed them", calls, inner.calls)
	}
	// u-smith shares the surname: the rule asks, the details are worked out once
	c.prime(lazy)
	expect(t, "same name", rules[RuleSameNameAddress].Evaluate(e, rec(now, "u-smith", "9000000098")), 1, "same-surname")
	expect(t, "same name again", rules[RuleSameNameAddress].Evaluate(e, rec(now, "u-smith", "9000000098")), 1, "same-surname")
	if calls != 1 || inner.calls != 0 {
		t.Fatalf("details worked out %d times, %d look-ups", calls, inner.calls)
	}
	// a pending subject does not outlive its record: asked after the next
	// record, the patient is looked up, not worked out from the old read
	c.prime(map[string]audit.Subject{"9000000096": {Details: func() (audit.Subject, error) {
		calls++
		return audit.Subject{Surname: "Old"}, nil
	}}})
	c.prime(nil)
	if _, ok, _ := c.Patient(context.Background(), "9000000096"); ok || calls != 1 || inner.calls != 1 {
		t.Fatalf("after the next record: ok %v, details worked out %d times, %d look-ups", ok, calls, inner.calls)
	}
	inner.calls = 0
	// a failure is not cached: the next look-up asks again
	c2 := newCachedLookups(inner, time.Minute, 100, func() time.Time { return now })
	c2.prime(map[string]audit.Subject{"9000000097": {Details: func() (audit.Subject, error) { return audit.Subject{}, errors.New("bad record") }}})
	if _, ok, err := c2.Patient(context.Background(), "9000000097"); err == nil || ok {
		t.Fatalf("failed details: ok %v err %v", ok, err)
	}
	if _, _, err := c2.Patient(context.Background(), "9000000097"); err != nil || inner.calls != 1 {
		t.Fatalf("after a failure: err %v, %d look-ups", err, inner.calls)
	}
}

// The same-name rule screens the text of a lazily described record before
// working its details out: a record whose text cannot hold the user's
// surname or postcode is skipped, one that may (or that it cannot read
// literally, having escapes) is worked out and compared as before.
func TestSameNameScreensTheRecordText(t *testing.T) {
	now := day.Add(11 * time.Hour)
	c := newCachedLookups(testPeople, time.Minute, 100, func() time.Time { return now })
	e := &Env{Ctx: context.Background(), Lookups: c, MaxPatients: 200}
	rule := rulesFor(t, Config{})[RuleSameNameAddress]
	calls := 0
	// u-smith: Smith, of LS1 4AP
	subject := func(text, surname, postcode string) map[string]audit.Subject {
		return map[string]audit.Subject{"9000000098": {Record: []byte(text), Details: func() (audit.Subject, error) {
			calls++
			return audit.Subject{Surname: surname, Postcode: postcode}, nil
		}}}
	}
	cases := []struct {
		name, text, surname, postcode string
		worked                        int
		reason                        string
	}{
		{"neither surname nor postcode in the text", `{"name":[{"family":"Jones"}],"address":[{"postalCode":"BD7 1DP"}]}`, "Jones", "BD7 1DP", 0, ""},
		{"the surname in the text", `{"name":[{"family":"Smith"}]}`, "Smith", "", 1, "same-surname"},
		{"the surname folded (case, spaces, punctuation)", `{"name":[{"family":"s-m i.TH"}]}`, "s-m i.TH", "", 1, "same-surname"},
		{"the user's postcode, spaced otherwise", `{"address":[{"postalCode":"ls14ap"}]}`, "Jones", "ls14ap", 1, "same-address"},
		{"the surname only in another element", `{"name":[{"given":["Smith"],"family":"Jones"}]}`, "Jones", "", 1, ""},
		{"an escaped surname", `{"name":[{"family":"Sm\u0069th"}]}`, "Smith", "", 1, "same-surname"},
		{"any escape at all", `{"name":[{"family":"Smyth \"the elder\""}]}`, "Smith", "", 1, "same-surname"},
	}
	for _, tc := range cases {
		calls = 0
		c.prime(subject(tc.text, tc.surname, tc.postcode))
		want := 0
		if tc.reason != "" {
			want = 1
		}
		expect(t, tc.name, rule.Evaluate(e, rec(now, "u-smith", "9000000098")), want, tc.reason)
		if calls != tc.worked {
			t.Errorf("%s: details worked out %d times, want %d", tc.name, calls, tc.worked)
		}
	}
	// a patient whose record was not read by the request is looked up as before
	c.prime(nil)
	if c.holdsNone("9000000098", "SMITH") {
		t.Fatal("holdsNone answered for a patient with no pending record")
	}
}

// fold is norm's one definition: it must fold exactly as upper-casing the
// whole text with strings.ToUpper and keeping A-Z, 0-9 and what is beyond
// ASCII did (the screen depends on folding text character by character).
func FuzzFold(f *testing.F) {
	for _, s := range []string{"", "Smith", "O'Brien-Smythe", "bd7 1dp", "Müller", "STRAßE", "ǆemal", "ſ ı K", "\xff\xfeab", "Ωmega ﬁ", "x\u0345y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b strings.Builder
		for _, r := range strings.ToUpper(s) {
			if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r > 127 {
				b.WriteRune(r)
			}
		}
		if got := norm(s); got != b.String() {
			t.Fatalf("norm(%q) = %q, upper-cased and filtered %q", s, got, b.String())
		}
		// folding a text is folding its parts one after another
		for i := range len(s) + 1 {
			if !utf8.ValidString(s[:i]) {
				continue
			}
			if got := string(fold(fold(nil, []byte(s[:i])), []byte(s[i:]))); got != norm(s) {
				t.Fatalf("fold of %q in two parts at %d = %q, whole %q", s, i, got, norm(s))
			}
		}
	})
}

// BenchmarkFold folds a stored patient record's text, as the same-name
// rule's screen does for every audited read by a known user.
func BenchmarkFold(b *testing.B) {
	text := []byte(`{"resourceType":"Patient","id":"9449306621","meta":{"versionId":"3","lastUpdated":"2026-11-25T10:00:00.000Z","security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"U","display":"unrestricted"}]},` +
		`"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9449306621","extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus","valueCodeableConcept":{"coding":[{"system":"https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland","code":"01","display":"Number present and verified"}]}}]}],` +
		`"name":[{"id":"123","use":"usual","period":{"start":"2020-01-01"},"given":["Jane","Marie"],"family":"Smith","prefix":["Mrs"]}],"gender":"female","birthDate":"1980-10-22",` +
		`"address":[{"id":"456","period":{"start":"2020-01-01"},"use":"home","line":["1 Trevelyan Square","Boar Lane","City Centre","Leeds","West Yorkshire"],"postalCode":"LS1 6AE"}],` +
		`"telecom":[{"id":"789","period":{"start":"2020-01-01"},"system":"phone","value":"01632960587","use":"home"}],` +
		`"generalPractitioner":[{"id":"254406A3","type":"Organization","identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"Y12345"}}]}`)
	b.SetBytes(int64(len(text)))
	var dst []byte
	for b.Loop() {
		dst = fold(dst[:0], text)
	}
}
