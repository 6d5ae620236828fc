// Package fhir holds the FHIR R4 wire format as OpenSpine speaks it: strict
// resource JSON decoding, canonical encoding, OperationOutcome errors with
// NHS Spine error codes, and the response helpers every service uses.
package fhir

import (
	"errors"
	"fmt"
	"net/http"
)

// SpineErrorSystem is the code system of NHS Spine error and warning codes.
const SpineErrorSystem = "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode"

// NHS-style error codes used across the services.
const (
	CodeInvalidResourceID  = "INVALID_RESOURCE_ID"
	CodeResourceNotFound   = "RESOURCE_NOT_FOUND"
	CodeResourceDeleted    = "RESOURCE_DELETED"
	CodeInvalidValue       = "INVALID_VALUE"
	CodeInvalidSearchData  = "INVALID_SEARCH_DATA"
	CodePreconditionFailed = "PRECONDITION_FAILED"
	CodeVersionMismatch    = "RESOURCE_VERSION_MISMATCH"
	CodeMissingValue       = "MISSING_VALUE"
	CodeUnsupportedService = "UNSUPPORTED_SERVICE"
	CodeUnsupportedMedia   = "UNSUPPORTED_MEDIA_TYPE"
	CodeNotAcceptable      = "NOT_ACCEPTABLE"
	CodeMessageTooLarge    = "MESSAGE_TOO_LARGE"
	CodeInvalidUpdate      = "INVALID_UPDATE"
	CodeDuplicate          = "DUPLICATE_REJECTED"
	CodeMultipleMatches    = "MULTIPLE_MATCHES"
	CodeTooManyMatches     = "TOO_MANY_MATCHES"
	CodeAccessDenied       = "ACCESS_DENIED"
	CodeTooManyRequests    = "TOO_MANY_REQUESTS"
	CodeServiceUnavailable = "SERVICE_UNAVAILABLE"
	CodeServerError        = "SERVER_ERROR"
	CodeMethodNotAllowed   = "METHOD_NOT_ALLOWED"
	CodeInvalidRequest     = "INVALID_REQUEST"
	CodeConflict           = "RESOURCE_CONFLICT"
)

var codeDisplay = map[string]string{
	CodeInvalidResourceID:  "Resource Id is invalid",
	CodeResourceNotFound:   "Resource not found",
	CodeResourceDeleted:    "Resource has been deleted",
	CodeInvalidValue:       "Provided value is invalid",
	CodeInvalidSearchData:  "Search data is invalid",
	CodePreconditionFailed: "Required condition was not fulfilled",
	CodeVersionMismatch:    "Resource version mismatch",
	CodeMissingValue:       "Required value is missing",
	CodeUnsupportedService: "Unsupported service",
	CodeUnsupportedMedia:   "Unsupported media type",
	CodeNotAcceptable:      "Requested format is not acceptable",
	CodeMessageTooLarge:    "Message is too large",
	CodeInvalidUpdate:      "Update is invalid",
	CodeDuplicate:          "Request is a duplicate",
	CodeMultipleMatches:    "Multiple matches found",
	CodeTooManyMatches:     "Too many matches",
	CodeAccessDenied:       "Access denied",
	CodeTooManyRequests:    "Too many requests",
	CodeServiceUnavailable: "Service unavailable",
	CodeServerError:        "Internal server error",
	CodeMethodNotAllowed:   "Method not allowed",
	CodeInvalidRequest:     "Request is invalid",
	CodeConflict:           "Resource conflict",
}

// Error is a failure reported to the client as an OperationOutcome.
type Error struct {
	Status      int      // HTTP status
	Code        string   // NHS Spine error code, e.g. INVALID_RESOURCE_ID
	IssueType   string   // FHIR issue type, e.g. invalid, not-found, conflict
	Severity    string   // error (default), warning or information
	Diagnostics string   // human-readable text
	Expression  []string // FHIRPath expressions of the offending elements
}

func (e *Error) Error() string { return e.Code + ": " + e.Diagnostics }

// NewError builds an Error; the issue type is derived from the status.
func NewError(status int, code string, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, IssueType: issueTypeFor(status, code), Diagnostics: fmt.Sprintf(format, args...)}
}

// At returns a copy of e that points at the given element expression.
func (e *Error) At(expr ...string) *Error {
	c := *e
	c.Expression = append(append([]string(nil), e.Expression...), expr...)
	return &c
}

func issueTypeFor(status int, code string) string {
	switch code {
	case CodeTooManyMatches, CodeMultipleMatches:
		return "multiple-matches"
	case CodeDuplicate:
		return "duplicate"
	case CodeMissingValue:
		return "required"
	case CodeInvalidValue, CodeInvalidResourceID, CodeInvalidSearchData:
		if status == http.StatusBadRequest {
			return "value"
		}
	case CodeAccessDenied:
		if status == http.StatusUnauthorized {
			return "login"
		}
		return "forbidden"
	}
	switch status {
	case http.StatusNotFound, http.StatusGone:
		return "not-found"
	case http.StatusConflict, http.StatusPreconditionFailed:
		return "conflict"
	case http.StatusMethodNotAllowed, http.StatusNotAcceptable, http.StatusUnsupportedMediaType:
		return "not-supported"
	case http.StatusRequestEntityTooLarge:
		return "too-costly"
	case http.StatusTooManyRequests:
		return "throttled"
	case http.StatusUnauthorized:
		return "login"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return "timeout"
	}
	if status >= 500 {
		return "exception"
	}
	return "invalid"
}

// AsError converts any error into an *Error; unknown errors become a 500
// whose diagnostics never reveal the internal message.
func AsError(err error) *Error {
	var fe *Error
	if errors.As(err, &fe) {
		return fe
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeServerError, IssueType: "exception",
		Diagnostics: "The server could not process the request; it has been logged"}
}

// Outcome renders e as an OperationOutcome resource.
func (e *Error) Outcome() map[string]any {
	sev := e.Severity
	if sev == "" {
		sev = "error"
	}
	it := e.IssueType
	if it == "" {
		it = issueTypeFor(e.Status, e.Code)
	}
	issue := map[string]any{
		"severity": sev,
		"code":     it,
		"details": map[string]any{"coding": []any{map[string]any{
			"system": SpineErrorSystem, "version": "1", "code": e.Code, "display": Display(e.Code),
		}}},
	}
	if e.Diagnostics != "" {
		issue["diagnostics"] = e.Diagnostics
	}
	if len(e.Expression) > 0 {
		ex := make([]any, len(e.Expression))
		for i, s := range e.Expression {
			ex[i] = s
		}
		issue["expression"] = ex
	}
	return map[string]any{"resourceType": "OperationOutcome", "issue": []any{issue}}
}

// Display returns the display text for an NHS error code.
func Display(code string) string {
	if d, ok := codeDisplay[code]; ok {
		return d
	}
	return code
}

// Convenience constructors for the most common failures.

func NotFound(typ, id string) *Error {
	return NewError(http.StatusNotFound, CodeResourceNotFound, "%s/%s was not found", typ, id)
}

func Invalid(format string, args ...any) *Error {
	return NewError(http.StatusBadRequest, CodeInvalidValue, format, args...)
}

func InvalidSearch(format string, args ...any) *Error {
	return NewError(http.StatusBadRequest, CodeInvalidSearchData, format, args...)
}

func Missing(format string, args ...any) *Error {
	return NewError(http.StatusBadRequest, CodeMissingValue, format, args...)
}
