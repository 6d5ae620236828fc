package monitor

import (
	"fmt"
	"strings"

	"github.com/openspine/openspine/internal/audit"
)

// breakGlass alerts on every declared emergency access, granted or not,
// for the organisation's Privacy Officer to review.
type breakGlass struct{}

func (breakGlass) Name() string { return RuleBreakGlass }

func (breakGlass) Evaluate(env *Env, r *audit.Record) []Finding {
	if !r.Emergency {
		return nil
	}
	f := base(RuleBreakGlass, r)
	f.Severity, f.Reason = SeverityMedium, "emergency-access"
	f.Patients = env.capPatients(r.Patients)
	f.Key = r.UserID + "|" + strings.Join(f.Patients, ",")
	f.Summary = fmt.Sprintf("emergency access by %s to %s (status %d): %q", who(r), patientList(f.Patients), r.Status, r.EmergencyReason)
	return []Finding{f}
}

// relationshipOverride alerts when emergency access was what let a user
// reach a patient without a legitimate relationship.
type relationshipOverride struct{}

func (relationshipOverride) Name() string { return RuleRelationshipOverride }

func (relationshipOverride) Evaluate(env *Env, r *audit.Record) []Finding {
	if !r.RelationshipOverridden {
		return nil
	}
	f := base(RuleRelationshipOverride, r)
	f.Severity, f.Reason = SeverityHigh, "no-legitimate-relationship"
	f.Patients = env.capPatients(r.Patients)
	f.Key = r.UserID + "|" + strings.Join(f.Patients, ",")
	f.Summary = fmt.Sprintf("%s reached %s without a legitimate relationship (emergency override: %q)", who(r), patientList(f.Patients), r.EmergencyReason)
	return []Finding{f}
}

func patientList(p []string) string {
	switch len(p) {
	case 0:
		return "no named patient"
	case 1:
		return "patient " + p[0]
	case 2, 3:
		return "patients " + strings.Join(p, ", ")
	}
	return fmt.Sprintf("%d patients", len(p))
}
