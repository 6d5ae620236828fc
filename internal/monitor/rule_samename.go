package monitor

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/openspine/openspine/internal/audit"
)

// sameName alerts when a user looks at the record of someone who shares
// their surname or their address (and, optionally, their postcode):
// family and neighbours are the usual targets of snooping. Records concerning more than MaxPatients patients (lists of
// search results) are not "looking at" a record. One alert per user
// gathers the patients while it stays active.
type sameName struct {
	cfg                      SameNameConfig
	surname, address, postal bool
	ignore                   map[string]bool
}

func newSameName(cfg SameNameConfig) *sameName {
	s := &sameName{cfg: cfg, surname: slices.Contains(cfg.Match, "surname"),
		address: slices.Contains(cfg.Match, "address"), postal: slices.Contains(cfg.Match, "postcode"),
		ignore: map[string]bool{}}
	for _, n := range cfg.IgnoreSurnames {
		s.ignore[norm(n)] = true
	}
	return s
}

func (*sameName) Name() string { return RuleSameNameAddress }

func (s *sameName) Evaluate(env *Env, r *audit.Record) []Finding {
	if r.UserID == "" || len(r.Patients) > s.cfg.MaxPatients {
		return nil
	}
	patients := accessed(r, env.MaxPatients)
	if len(patients) == 0 {
		return nil
	}
	u, ok, err := env.Lookups.User(env.Ctx, r.UserID)
	if err != nil {
		slog.WarnContext(env.Ctx, "monitor: user look-up failed", "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	uSurname, uPost, uAddr := norm(u.Surname), norm(u.Postcode), norm(u.Address)
	// what a patient's record must hold for a finding: the user's surname
	// (when compared) or their postcode (when an address or postcode is)
	var wanted []string
	if s.surname && uSurname != "" && !s.ignore[uSurname] {
		wanted = append(wanted, uSurname)
	}
	if uPost != "" && (s.address || s.postal) {
		wanted = append(wanted, uPost)
	}
	if len(wanted) == 0 {
		return nil
	}
	sc, _ := env.Lookups.(screener)
	var out []Finding
	for _, nhs := range patients {
		if nhs == r.Patient || sc != nil && sc.holdsNone(nhs, wanted...) {
			continue
		}
		p, ok, err := env.Lookups.Patient(env.Ctx, nhs)
		if err != nil {
			slog.WarnContext(env.Ctx, "monitor: patient look-up failed", "err", err)
			continue
		}
		if !ok {
			continue
		}
		name := s.surname && uSurname != "" && !s.ignore[uSurname] && norm(p.Surname) == uSurname
		post := uPost != "" && norm(p.Postcode) == uPost
		pAddr := norm(p.Address)
		home := post && (uAddr == "" || pAddr == "" || pAddr == uAddr) && (s.address || s.postal)
		var reason, sev string
		switch {
		case name && home:
			reason, sev = "same-surname-and-address", SeverityHigh
		case home:
			reason, sev = "same-address", SeverityHigh
		case name:
			reason, sev = "same-surname", SeverityMedium
		case post && s.postal:
			reason, sev = "same-postcode", SeverityLow
		default:
			continue
		}
		f := base(RuleSameNameAddress, r)
		f.Severity, f.Reason, f.Patients = sev, reason, []string{nhs}
		f.Key = "user:" + r.UserID
		f.Summary = fmt.Sprintf("%s looked at patient %s, who shares their %s", who(r), nhs, what(reason))
		out = append(out, f)
	}
	return out
}

// screener is Lookups that can tell that a patient's record cannot hold
// any of some folded texts without working the patient out (cachedLookups,
// for the records a request described lazily).
type screener interface {
	holdsNone(nhs string, folded ...string) bool
}

func what(reason string) string {
	switch reason {
	case "same-surname-and-address":
		return "surname and postcode"
	case "same-address":
		return "address"
	case "same-surname":
		return "surname"
	}
	return "postcode"
}
