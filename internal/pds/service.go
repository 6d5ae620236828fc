// Package pds is the Personal Demographics Service: the national patient
// index, served at /personal-demographics/FHIR/R4 on the contract of NHS
// England's PDS FHIR API (read by NHS number, search with exact and fuzzy
// matching, PATCH with the contract's list rules, registration with NHS
// number allocation, restricted and superseded records, a patient's
// related people, X-Request-ID de-duplication).
package pds

import (
	"net/http"
	"slices"
	"strings"

	"github.com/openspine/openspine/internal/engine"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/matching"
	"github.com/openspine/openspine/internal/nhsnumber"
	"github.com/openspine/openspine/internal/policy"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
)

// Base is where PDS is served.
const Base = "/personal-demographics/FHIR/R4"

// Systems and extensions used on PDS Patient resources.
const (
	SystemNHSNumber       = "https://fhir.nhs.uk/Id/nhs-number"
	SystemODS             = "https://fhir.nhs.uk/Id/ods-organization-code"
	SystemConfidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
	ExtNominatedPharmacy  = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NominatedPharmacy"
	ExtBirthPlace         = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
)

// Error codes of the PDS contract beyond the common ones.
const (
	CodeInvalidatedResource = "INVALIDATED_RESOURCE"
	CodeForbiddenUpdate     = "FORBIDDEN_UPDATE"
	CodeAdditionalProps     = "ADDITIONAL_PROPERTIES"
	CodeSingleMatch         = "SINGLE_MATCH"
	CodeMultipleMatches     = "MULTIPLE_MATCHES"
)

// Service is the PDS over the shared engine and store.
type Service struct {
	eng   *engine.Service
	store store.Store
	// Allocation is the NHS number range new registrations draw from.
	Allocation nhsnumber.Range
	// Policy scopes authenticated callers to the patients they may reach.
	Policy *policy.Policy
}

// Patient search parameters in the index. family/given index every name
// (current and historic); keys are the matching package's blocking keys.
var patientParams = []search.Param{
	{Name: "family", Type: search.String, Paths: []string{"name.family"}},
	{Name: "given", Type: search.String, Paths: []string{"name.given"}},
	{Name: "gender", Type: search.Token, Paths: []string{"gender"}},
	{Name: "birthdate", Type: search.Date, Paths: []string{"birthDate"}},
	{Name: "death-date", Type: search.Date, Paths: []string{"deceasedDateTime"}},
	{Name: "general-practitioner", Type: search.Token, Paths: []string{"generalPractitioner.identifier"}},
	{Name: "identifier", Type: search.Token, Paths: []string{"identifier"}},
	// derived in indexPatient:
	{Name: "address-postalcode", Type: search.String},
	{Name: "email", Type: search.Token},
	{Name: "phone", Type: search.Token},
	{Name: "matchkey", Type: search.Token},
}

// New creates the service.
func New(st store.Store) *Service {
	eng := engine.NewService("personal-demographics", Base, st, engine.TypeDef{
		Name: "Patient", Params: patientParams, Index: indexPatient, IndexVersion: 1, UpdateCreate: false,
		Doc: "Patients by NHS number",
	})
	return &Service{eng: eng, store: st, Allocation: DefaultAllocation, Policy: policy.Default()}
}

// DefaultAllocation is where registrations draw NHS numbers from: the top
// of the range reserved for test data (999 900 000x to 999 999 999x), which
// can never be a real person's; `spine seed` leaves it free.
var DefaultAllocation = nhsnumber.Range{Low: 999900000, High: 999999999}

// Engine exposes the generic engine (for seeding and reindexing).
func (s *Service) Engine() *engine.Service { return s.eng }

// Register mounts the PDS routes.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Base+"/Patient/{id}", s.handleRead)
	mux.HandleFunc("GET "+Base+"/Patient", s.handleSearch)
	mux.HandleFunc("PATCH "+Base+"/Patient/{id}", s.handlePatch)
	mux.HandleFunc("POST "+Base+"/Patient", s.handleCreate)
	mux.HandleFunc("GET "+Base+"/Patient/{id}/RelatedPerson", s.handleRelated)
	mux.HandleFunc("GET "+Base+"/metadata", s.handleMetadata)
}

// handleMetadata answers what PDS really serves: Patient read, search,
// patch and create, and a patient's related people; not the generic
// engine's interactions (vread, update, delete, history, batch), which
// PDS does not route.
func (s *Service) handleMetadata(w http.ResponseWriter, r *http.Request) {
	params := make([]any, 0, len(searchParamTable))
	for _, p := range searchParamTable {
		if !p.deprecated {
			params = append(params, map[string]any{"name": p.name, "type": p.typ})
		}
	}
	interactions := []any{}
	for _, code := range []string{"read", "search-type", "patch", "create"} {
		interactions = append(interactions, map[string]any{"code": code})
	}
	cs := engine.Capability("OpenSpine PDS", "Personal Demographics Service", s.eng.BaseURL(r), map[string]any{"resource": []any{
		map[string]any{"type": "Patient", "interaction": interactions, "versioning": "versioned",
			"updateCreate": false, "conditionalCreate": false, "conditionalUpdate": false,
			"searchParam":   params,
			"documentation": "Patients by NHS number (the resource id). PATCH needs If-Match; POST registers a patient and allocates an NHS number."},
		map[string]any{"type": "RelatedPerson",
			"documentation": "Only as GET /Patient/{nhsNumber}/RelatedPerson: a patient's related people in a searchset Bundle."},
	}})
	cs["patchFormat"] = []any{"application/json-patch+json"}
	engine.WriteCapability(w, r, cs)
}

// checkedOnCandidates are declared search parameters that Search never
// looks up in the index: it checks them on the candidates the index
// found (literalMatch). Their rows would only cost space and write time.
var checkedOnCandidates = map[string]bool{"gender": true, "general-practitioner": true, "identifier": true}

// indexPatient derives the index entries: none for superseded and
// invalidated records (never found by search), none for the parameters
// checked on candidates, normalised postcodes, e-mail and phone values,
// and the matching blocking keys.
func indexPatient(res fhir.Resource, entries []search.Entry) []search.Entry {
	if supersededBy(res) != "" || security(res) == "REDACTED" {
		return nil
	}
	entries = slices.DeleteFunc(entries, func(e search.Entry) bool { return checkedOnCandidates[e.Param] })
	for _, a := range search.Walk(res, "address") {
		if m, ok := a.(map[string]any); ok {
			if pc, ok := m["postalCode"].(string); ok {
				entries = append(entries, search.Entry{Param: "address-postalcode", Type: search.String, Norm: postcodeKey(pc), Exact: pc})
			}
		}
	}
	for _, t := range search.Walk(res, "telecom") {
		m, _ := t.(map[string]any)
		v, _ := m["value"].(string)
		switch m["system"] {
		case "email":
			entries = append(entries, search.Entry{Param: "email", Type: search.Token, Code: strings.ToLower(v)})
		case "phone":
			entries = append(entries, search.Entry{Param: "phone", Type: search.Token, Code: phoneKey(v)})
		}
	}
	for _, k := range matching.Keys(person(res)) {
		entries = append(entries, search.Entry{Param: "matchkey", Type: search.Token, Code: k})
	}
	if birth, _ := res["birthDate"].(string); fullDate(birth) {
		var keys []string
		for _, n := range search.Walk(res, "name") {
			m, _ := n.(map[string]any)
			if f, _ := m["family"].(string); f != "" {
				keys = append(keys, exactKey(f, birth))
			}
		}
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			entries = append(entries, search.Entry{Param: "matchkey", Type: search.Token, Code: k})
		}
	}
	return entries
}

// exactKey is the lookup key of a non-fuzzy search for family on one birth
// date: the family name folded as literalMatch compares it, so every
// record literalMatch accepts on any of its names (current or not) carries
// the key of the query. (The blocking keys of fuzzy matching, Soundex
// codes, fold differently and cannot promise that.)
func exactKey(family, birthDate string) string {
	return "x:" + search.Fold(family) + ":" + birthDate
}

// fullDate reports a date of day precision (YYYY-MM-DD).
func fullDate(s string) bool {
	return len(s) == 10 && s[4] == '-' && s[7] == '-'
}

// postcodeKey normalises a postcode for search: upper case, no spaces.
func postcodeKey(pc string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(pc), " ", ""))
}

// phoneKey keeps the digits (and a leading +) of a phone number.
func phoneKey(p string) string {
	var b strings.Builder
	for i, c := range p {
		if c >= '0' && c <= '9' || c == '+' && i == 0 {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// security returns the confidentiality code of the record (U when absent).
func security(res fhir.Resource) string {
	for _, s := range search.Walk(res, "meta.security") {
		if m, ok := s.(map[string]any); ok && m["system"] == SystemConfidentiality {
			if c, ok := m["code"].(string); ok {
				return c
			}
		}
	}
	return "U"
}

// supersededBy returns the NHS number that replaced this record, if any.
func supersededBy(res fhir.Resource) string {
	for _, l := range search.Walk(res, "link") {
		m, _ := l.(map[string]any)
		if m["type"] != "replaced-by" {
			continue
		}
		other, _ := m["other"].(map[string]any)
		if ref, ok := other["reference"].(string); ok {
			if _, id, ok := search.SplitReference(ref); ok {
				return id
			}
		}
	}
	return ""
}

// person extracts what matching needs from a Patient resource.
func person(res fhir.Resource) matching.Person {
	h := headOf(res)
	return h.person()
}

// person extracts what matching needs: the usual name (or the first
// current one), previous names, home postcodes.
func (h *recordHead) person() matching.Person {
	p := matching.Person{Gender: h.Gender, BirthDate: h.BirthDate}
	usual := -1
	for i, n := range h.Name {
		if n.Use == "usual" && !n.Period.ended() && usual < 0 {
			usual = i
		}
	}
	for i, n := range h.Name {
		mn := matching.Name{Family: n.Family, Given: n.Given}
		if i == usual || (usual < 0 && i == 0) {
			p.Name = mn
		} else {
			p.HistoricNames = append(p.HistoricNames, mn)
		}
	}
	first := true
	for _, a := range h.Address {
		if a.PostalCode == "" {
			continue
		}
		if first && !a.Period.ended() && (a.Use == "" || a.Use == "home") {
			p.Postcode, first = a.PostalCode, false
		} else {
			p.HistoricPostcodes = append(p.HistoricPostcodes, a.PostalCode)
		}
	}
	return p
}

// ended reports whether an element's period has an end (a previous name or address).
func ended(m map[string]any) bool {
	per, _ := m["period"].(map[string]any)
	return per != nil && per["end"] != nil
}
