package monitor

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/openspine/openspine/internal/audit"
)

// flagged alerts on access to flagged records: the configured list (VIPs,
// staff members' own records...) and restricted patients (Lookups).
// A patient reading their own record, and the organisations allowed for
// an entry (or a restricted patient's registered practice), do not alert.
type flagged struct {
	cfg  FlaggedConfig
	list map[string]FlaggedPatient
}

func newFlagged(cfg FlaggedConfig) *flagged {
	f := &flagged{cfg: cfg, list: map[string]FlaggedPatient{}}
	for _, p := range cfg.Patients {
		f.list[p.NHSNumber] = p
	}
	return f
}

func (*flagged) Name() string { return RuleFlagged }

func (fl *flagged) Evaluate(env *Env, r *audit.Record) []Finding {
	ak, isApp := actor(r)
	if ak == "" || isApp && fl.cfg.IgnoreApplications || slices.Contains(fl.cfg.ExemptApps, r.AppID) {
		return nil
	}
	var out []Finding
	o := org(r)
	for _, nhs := range accessed(r, env.MaxPatients) {
		if nhs == r.Patient {
			continue
		}
		reason, sev := "", SeverityHigh
		if p, ok := fl.list[nhs]; ok {
			if slices.Contains(p.AllowedOrgs, o) {
				continue
			}
			reason = p.Reason
			if reason == "" {
				reason = "flagged"
			}
		} else if !fl.cfg.IgnoreRestricted {
			restricted, err := env.Lookups.Restricted(env.Ctx, nhs)
			if err != nil {
				slog.WarnContext(env.Ctx, "monitor: restricted look-up failed", "err", err)
				continue
			}
			if !restricted {
				continue
			}
			if !fl.cfg.AlertRegisteredPractice {
				if p, ok, err := env.Lookups.Patient(env.Ctx, nhs); err == nil && ok && p.GP != "" && p.GP == o {
					continue
				}
			}
			reason, sev = "restricted", SeverityMedium
		} else {
			continue
		}
		f := base(RuleFlagged, r)
		f.Severity, f.Reason, f.Patients = sev, reason, []string{nhs}
		f.Key = ak + "|" + nhs
		f.Summary = fmt.Sprintf("%s accessed the flagged record of patient %s (%s)", who(r), nhs, reason)
		out = append(out, f)
	}
	return out
}
