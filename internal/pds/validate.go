package pds

import (
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/search"
)

var (
	postcodePattern = regexp.MustCompile(`^(?i)[A-Z]{1,2}[0-9][0-9A-Z]? ?[0-9][A-Z]{2}$`)
	odsPattern      = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)
	datePattern     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	emailPattern    = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// ruleError is a business-rule failure at an element; Pointer is its JSON
// pointer so that a PATCH refusal can name the operation that caused it.
type ruleError struct {
	Pointer string
	Err     *fhir.Error
}

func (e *ruleError) Error() string { return e.Err.Error() }

func rule(pointer, expr, format string, args ...any) *ruleError {
	return &ruleError{Pointer: pointer, Err: fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidValue, format, args...).At(expr)}
}

var (
	nameUses    = map[string]bool{"usual": true, "official": true, "temp": true, "nickname": true, "anonymous": true, "old": true, "maiden": true}
	addressUses = map[string]bool{"home": true, "work": true, "temp": true, "old": true, "billing": true}
	telecomSys  = map[string]bool{"phone": true, "fax": true, "email": true, "pager": true, "url": true, "sms": true, "other": true}
	genders     = map[string]bool{"male": true, "female": true, "other": true, "unknown": true}
)

// validatePatient applies the PDS business rules to a whole Patient.
func validatePatient(p fhir.Resource, nhs string) *ruleError {
	ids, _ := p["identifier"].([]any)
	found := false
	for _, id := range ids {
		if m, ok := id.(map[string]any); ok && m["system"] == SystemNHSNumber && m["value"] == nhs {
			found = true
		}
	}
	if !found {
		return rule("/identifier", "Patient.identifier", "the NHS number identifier %s must be kept", nhs)
	}
	if g, present := p["gender"]; present {
		if s, _ := g.(string); !genders[s] {
			return rule("/gender", "Patient.gender", "Invalid value - '%v' in field 'gender'", g)
		}
	}
	now := time.Now().UTC()
	var born int64
	if b, present := p["birthDate"]; present {
		s, _ := b.(string)
		lo, _, ok := search.DateRange(s)
		if !ok || !datePattern.MatchString(s) {
			return rule("/birthDate", "Patient.birthDate", "Invalid value - '%v' in field 'birthDate' (YYYY-MM-DD)", b)
		}
		if lo > now.UnixMilli() {
			return rule("/birthDate", "Patient.birthDate", "birthDate %s is in the future", s)
		}
		born = lo
	}
	if d, present := p["deceasedDateTime"]; present {
		s, _ := d.(string)
		lo, _, ok := search.DateRange(s)
		if !ok {
			return rule("/deceasedDateTime", "Patient.deceasedDateTime", "Invalid value - '%v' in field 'deceasedDateTime'", d)
		}
		if lo > now.UnixMilli() || (born != 0 && lo < born) {
			return rule("/deceasedDateTime", "Patient.deceasedDateTime", "deceasedDateTime %s is in the future or before the birth date", s)
		}
	}
	names, ok := p["name"].([]any)
	if !ok || len(names) == 0 {
		return rule("/name", "Patient.name", "a patient must have a name")
	}
	usual := 0
	for i, n := range names {
		m, ok := n.(map[string]any)
		at, ptr := fmt.Sprintf("Patient.name[%d]", i), fmt.Sprintf("/name/%d", i)
		if !ok {
			return rule(ptr, at, "%s must be an object", at)
		}
		use, _ := m["use"].(string)
		if !nameUses[use] {
			return rule(ptr+"/use", at+".use", "Invalid value - '%v' in field 'name.use'", m["use"])
		}
		if f, present := m["family"]; present {
			if s, ok := f.(string); !ok || len([]rune(s)) > 35 {
				return rule(ptr+"/family", at+".family", "family must be a string of at most 35 characters")
			}
		}
		if err := checkPeriod(m, ptr, at); err != nil {
			return err
		}
		if use == "usual" && !ended(m) {
			usual++
			if _, ok := m["family"].(string); !ok {
				return rule(ptr+"/family", at+".family", "the usual name must have a family name")
			}
		}
	}
	if usual != 1 {
		return rule("/name", "Patient.name", "a patient must have exactly one current usual name, not %d", usual)
	}
	for i, a := range search.Walk(p, "address") {
		m, ok := a.(map[string]any)
		at, ptr := fmt.Sprintf("Patient.address[%d]", i), fmt.Sprintf("/address/%d", i)
		if !ok {
			return rule(ptr, at, "%s must be an object", at)
		}
		if u, present := m["use"]; present {
			if s, _ := u.(string); !addressUses[s] {
				return rule(ptr+"/use", at+".use", "Invalid value - '%v' in field 'address.use'", u)
			}
		}
		if pc, present := m["postalCode"]; present {
			if s, _ := pc.(string); !postcodePattern.MatchString(s) {
				return rule(ptr+"/postalCode", at+".postalCode", "Invalid value - '%v' in field 'postalCode' (not a UK postcode)", pc)
			}
		}
		if err := checkPeriod(m, ptr, at); err != nil {
			return err
		}
	}
	for i, t := range search.Walk(p, "telecom") {
		m, ok := t.(map[string]any)
		at, ptr := fmt.Sprintf("Patient.telecom[%d]", i), fmt.Sprintf("/telecom/%d", i)
		if !ok {
			return rule(ptr, at, "%s must be an object", at)
		}
		sys, _ := m["system"].(string)
		v, _ := m["value"].(string)
		if !telecomSys[sys] {
			return rule(ptr+"/system", at+".system", "Invalid value - '%v' in field 'telecom.system'", m["system"])
		}
		if v == "" || sys == "email" && !emailPattern.MatchString(v) {
			return rule(ptr+"/value", at+".value", "Invalid value - '%v' in field 'telecom.value'", m["value"])
		}
		if err := checkPeriod(m, ptr, at); err != nil {
			return err
		}
	}
	gps := search.Walk(p, "generalPractitioner")
	if len(gps) > 1 {
		return rule("/generalPractitioner", "Patient.generalPractitioner", "a patient has at most one registered GP practice")
	}
	for _, g := range gps {
		m, _ := g.(map[string]any)
		id, _ := m["identifier"].(map[string]any)
		v, _ := id["value"].(string)
		if id["system"] != SystemODS || !odsPattern.MatchString(v) {
			return rule("/generalPractitioner/0", "Patient.generalPractitioner[0].identifier", "generalPractitioner must be identified by an ODS code")
		}
	}
	for i, e := range search.Walk(p, "extension") {
		m, _ := e.(map[string]any)
		if _, ok := m["url"].(string); !ok {
			return rule(fmt.Sprintf("/extension/%d", i), fmt.Sprintf("Patient.extension[%d].url", i), "an extension must have a url")
		}
		if m["url"] == ExtNominatedPharmacy {
			v := search.Walk(m, "valueReference.identifier.value")
			if len(v) == 0 {
				return rule(fmt.Sprintf("/extension/%d", i), fmt.Sprintf("Patient.extension[%d]", i), "a nominated pharmacy is a valueReference with an ODS identifier")
			}
			if s, _ := v[0].(string); !odsPattern.MatchString(s) {
				return rule(fmt.Sprintf("/extension/%d", i), fmt.Sprintf("Patient.extension[%d]", i), "Invalid value - '%v' in nominated pharmacy ODS code", v[0])
			}
		}
	}
	return nil
}

func checkPeriod(m map[string]any, ptr, at string) *ruleError {
	per, present := m["period"]
	if !present {
		return nil
	}
	pm, ok := per.(map[string]any)
	if !ok {
		return rule(ptr+"/period", at+".period", "period must be an object")
	}
	var lo, hi int64
	for _, k := range []string{"start", "end"} {
		if v, present := pm[k]; present {
			s, _ := v.(string)
			l, h, ok := search.DateRange(s)
			if !ok {
				return rule(ptr+"/period/"+k, at+".period."+k, "Invalid value - '%v' in field 'period.%s'", v, k)
			}
			if k == "start" {
				lo = l
			} else {
				hi = h
			}
		}
	}
	if lo != 0 && hi != 0 && hi < lo {
		return rule(ptr+"/period", at+".period", "period ends before it starts")
	}
	return nil
}
