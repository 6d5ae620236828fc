package eps

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/openspine/openspine/internal/fhir"
)

// Code systems of EPS outcomes.
const (
	SystemEPSIssue      = "https://fhir.nhs.uk/CodeSystem/EPS-IssueCode"
	SystemStatusHistory = "https://fhir.nhs.uk/CodeSystem/medicationrequest-status-history"
)

// Error codes of the EPS contract (EPS-IssueCode, or Spine-ErrorOrWarningCode
// where the live service uses that system).
const (
	CodeWithAnotherDispenser       = "PRESCRIPTION_WITH_ANOTHER_DISPENSER"
	CodeInvalidStateTransition     = "PRESCRIPTION_INVALID_STATE_TRANSITION"
	CodeInvalidLineStateTransition = "PRESCRIPTION_INVALID_LINE_STATE_TRANSITION"
	CodeDuplicatePrescriptionID    = "DUPLICATE_PRESCRIPTION_ID"
	CodeDuplicateItemID            = "DUPLICATE_MEDICATIONREQUEST_ID"
	CodeMismatchRepeatCount        = "MISMATCH_AUTHORISED_REPEAT_COUNT"
	CodeInvalidRepeatCount         = "INVALID_REPEAT_COUNT"
	CodeClaimAmendPeriod           = "CLAIM_AMEND_PERIOD_ISSUE"
	CodeClaimNotDispensed          = "CLAIM_INVALID_NOT_DISPENSED"
	CodeNoMorePrescriptions        = "NO_MORE_PRESCRIPTIONS"
	CodePrescriptionCancelled      = "PRESCRIPTION_CANCELLED"
	CodePrescriptionExpired        = "PRESCRIPTION_EXPIRED"
	CodePrescriptionDispensed      = "PRESCRIPTION_DISPENSED"
	CodeItemNotFound               = "MEDICATIONREQUEST_NOT_FOUND"
	CodeMissingSignature           = "MISSING_DIGITAL_SIGNATURE"
	CodeInvalidCheckDigit          = "INVALID_CHECK_DIGIT"
	CodePatientDeceased            = "PATIENT_DECEASED"
	CodeInvalidMessage             = "INVALID_MESSAGE"
	CodeInvalidItemCount           = "INVALID_NUMBER_MEDICATIONREQUESTS"
	CodeDispenseAmendMismatch      = "DISPENSE_AMEND_IDENTIFIER_MISMATCH"
)

type codeInfo struct {
	status    int
	issueType string
	display   string
	system    string // "" → EPS-IssueCode
	severity  string // "" → error
}

var codes = map[string]codeInfo{
	CodeWithAnotherDispenser:       {400, "business-rule", "Prescription is with another dispenser", "", ""},
	CodeInvalidStateTransition:     {400, "business-rule", "Invalid State Transition for Prescription", "", ""},
	CodeInvalidLineStateTransition: {400, "business-rule", "Invalid State Transition for Prescription Item", "", ""},
	CodeDuplicatePrescriptionID:    {400, "duplicate", "Duplicate prescription ID exists", "", ""},
	CodeDuplicateItemID:            {400, "duplicate", "Duplicate item ID exists", "", ""},
	CodeMismatchRepeatCount:        {400, "business-rule", "Mismatch in authorised repeat counts", "", ""},
	CodeInvalidRepeatCount:         {400, "business-rule", "Repeat count should be between 1 and 99", "", ""},
	CodeClaimAmendPeriod:           {400, "business-rule", "Claim amendment is not permitted outside of the claim period", fhir.SpineErrorSystem, ""},
	CodeClaimNotDispensed:          {400, "business-rule", "Invalid Claim. Prescription is not Dispensed", "", ""},
	CodeNoMorePrescriptions:        {200, "informational", "No more prescriptions available", "", "information"},
	CodePrescriptionCancelled:      {400, "business-rule", "Prescription has been cancelled", "", ""},
	CodePrescriptionExpired:        {400, "business-rule", "Prescription has expired", "", ""},
	CodePrescriptionDispensed:      {400, "business-rule", "Prescription has been dispensed", "", ""},
	CodeItemNotFound:               {400, "not-found", "Prescription Item Not found", "", ""},
	CodeMissingSignature:           {400, "business-rule", "Digital signature not found", "", ""},
	CodeInvalidCheckDigit:          {400, "value", "Error in check digit", "", ""},
	CodePatientDeceased:            {400, "business-rule", "Patient is recorded as dead", "", ""},
	CodeInvalidMessage:             {400, "structure", "Invalid Message", "", ""},
	CodeInvalidItemCount:           {400, "business-rule", "Number of items on a prescription should be between 1 and 4", "", ""},
	CodeDispenseAmendMismatch:      {400, "business-rule", "Dispense Amendment/Cancellation Request does not pertain to Last Dispense", "", ""},
}

// epsError returns the contract's error for an EPS code.
func epsError(code, format string, args ...any) *fhir.Error {
	ci, ok := codes[code]
	if !ok {
		panic("eps: unknown code " + code)
	}
	return &fhir.Error{Status: ci.status, Code: code, IssueType: ci.issueType, Severity: ci.severity,
		Diagnostics: fmt.Sprintf(format, args...)}
}

// dispenserError is PRESCRIPTION_WITH_ANOTHER_DISPENSER naming the
// dispenser, as the live service does (diagnostics JSON, contained
// Organization, supportingInfo extension).
type dispenserError struct {
	fe  *fhir.Error
	who party
}

func (e *dispenserError) Error() string { return e.fe.Error() }
func (e *dispenserError) Unwrap() error { return e.fe }

func anotherDispenser(who *party) error {
	var p party
	if who != nil {
		p = *who
	}
	fe := epsError(CodeWithAnotherDispenser, "%s", fhir.Marshal(map[string]any{"odsCode": p.ODS, "name": orDash(p.Name), "tel": orDash(p.Tel)}))
	return &dispenserError{fe: fe, who: p}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// outcome renders an error as the contract's OperationOutcome.
func outcome(err error) (int, map[string]any) {
	fe := fhir.AsError(err)
	ci, ok := codes[fe.Code]
	if !ok {
		return fe.Status, fe.Outcome()
	}
	sev := fe.Severity
	if sev == "" {
		sev = "error"
	}
	system := ci.system
	if system == "" {
		system = SystemEPSIssue
	}
	issue := map[string]any{
		"severity": sev,
		"code":     fe.IssueType,
		"details": map[string]any{"coding": []any{map[string]any{
			"system": system, "code": fe.Code, "display": ci.display,
		}}},
	}
	if fe.Diagnostics != "" {
		issue["diagnostics"] = fe.Diagnostics
	}
	if len(fe.Expression) > 0 {
		ex := make([]any, len(fe.Expression))
		for i, s := range fe.Expression {
			ex[i] = s
		}
		issue["expression"] = ex
	}
	oo := map[string]any{"resourceType": "OperationOutcome", "issue": []any{issue}}
	var de *dispenserError
	if errors.As(err, &de) && de.who.ODS != "" {
		org := map[string]any{"resourceType": "Organization", "id": "dispenser",
			"identifier": []any{map[string]any{"system": SystemODS, "value": de.who.ODS}}}
		if de.who.Name != "" {
			org["name"] = de.who.Name
		}
		if de.who.Tel != "" {
			org["telecom"] = []any{map[string]any{"system": "phone", "value": de.who.Tel, "use": "work"}}
		}
		oo["contained"] = []any{org}
		oo["extension"] = []any{map[string]any{
			"url":            "https://fhir.nhs.uk/StructureDefinition/Extension-Spine-supportingInfo",
			"valueReference": map[string]any{"identifier": map[string]any{"system": SystemODS, "value": de.who.ODS}},
		}}
	}
	return fe.Status, oo
}

// writeError answers with the contract's OperationOutcome for err.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	fe := fhir.AsError(err)
	if _, ok := codes[fe.Code]; !ok {
		fhir.WriteError(w, r, err)
		return
	}
	status, oo := outcome(err)
	fhir.WriteResource(w, status, oo)
}

// informational is the contract's 200 OperationOutcome for an accepted message.
func informational(diagnostics string) map[string]any {
	issue := map[string]any{"severity": "information", "code": "informational"}
	if diagnostics != "" {
		issue["diagnostics"] = diagnostics
	}
	return map[string]any{"resourceType": "OperationOutcome", "issue": []any{issue}}
}
