package monitor

import (
	"context"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/audit"
)

// Rule names (Alert.Rule).
const (
	RuleBreakGlass           = "break-glass"
	RuleRelationshipOverride = "relationship-override"
	RuleFlagged              = "flagged-record"
	RuleSameNameAddress      = "same-name-address"
	RuleVolume               = "volume"
	RuleOutOfHours           = "out-of-hours"
	RuleAuthFailures         = "auth-failures"
)

// Env is what rules may consult besides their own state. Rules never read
// the wall clock: time is the records' (Record.Time), so a replay of the
// same records gives the same findings.
type Env struct {
	Ctx         context.Context
	Lookups     Lookups
	MaxPatients int
}

// capPatients keeps the first MaxPatients of a finding's patients.
func (e *Env) capPatients(patients []string) []string {
	if len(patients) > e.MaxPatients {
		return patients[:e.MaxPatients]
	}
	return patients
}

// Rule evaluates records one at a time, in the order they were written,
// keeping whatever state it needs (the evaluation loop is its only
// caller).
type Rule interface {
	Name() string
	Evaluate(env *Env, r *audit.Record) []Finding
}

// pruner is a rule whose state can forget actors idle since before t.
type pruner interface {
	prune(t time.Time)
}

// buildRules makes the enabled rules of cfg, in a fixed order.
func buildRules(cfg Config, loc *time.Location) []Rule {
	rc := cfg.Rules
	var rules []Rule
	if rc.BreakGlass.On() {
		rules = append(rules, breakGlass{})
	}
	if rc.RelationshipOverride.On() {
		rules = append(rules, relationshipOverride{})
	}
	if rc.Flagged.On() {
		rules = append(rules, newFlagged(rc.Flagged))
	}
	if rc.SameNameAddress.On() {
		rules = append(rules, newSameName(rc.SameNameAddress))
	}
	if rc.Volume.On() {
		rules = append(rules, newVolume(rc.Volume))
	}
	if rc.OutOfHours.On() {
		rules = append(rules, newOutOfHours(rc.OutOfHours, loc))
	}
	if rc.AuthFailures.On() {
		rules = append(rules, newAuthFailures(rc.AuthFailures))
	}
	return rules
}

// actor names who made the request: "user:<id>", "app:<id>" for
// application-restricted traffic, "patient:<nhs>", or "" when unknown.
func actor(r *audit.Record) (key string, isApp bool) {
	switch {
	case r.UserID != "":
		return "user:" + r.UserID, false
	case r.Patient != "":
		return "patient:" + r.Patient, false
	case r.AppID != "":
		return "app:" + r.AppID, true
	}
	return "", false
}

// accessed returns the patients a successful request concerned (at most max).
func accessed(r *audit.Record, max int) []string {
	if r.Status >= 400 || r.Status == 0 {
		return nil
	}
	if len(r.Patients) > max {
		return r.Patients[:max]
	}
	return r.Patients
}

// base fills the who-and-when of a finding from its record.
func base(rule string, r *audit.Record) Finding {
	return Finding{Rule: rule, Time: r.Time, Records: []int64{r.Index}, User: r.UserID, App: r.AppID,
		Org: org(r), Client: r.Client}
}

func org(r *audit.Record) string {
	if r.OrgODS != "" {
		return r.OrgODS
	}
	return r.AppOrg
}

func who(r *audit.Record) string {
	k, _ := actor(r)
	if k == "" {
		if r.Client != "" {
			return "client " + r.Client
		}
		return "an unknown caller"
	}
	s := strings.Replace(k, ":", " ", 1)
	if o := org(r); o != "" {
		s += " (" + o + ")"
	}
	return s
}

func set(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}
