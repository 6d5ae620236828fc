package pds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/idempotency"
	"github.com/openspine/openspine/internal/nhsnumber"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
)

// allowPatient applies the per-patient policy (patients reach only their
// own record) when the request was authenticated.
func (s *Service) allowPatient(ctx context.Context, action, nhs string) error {
	pr := auth.From(ctx)
	if pr == nil || s.Policy == nil {
		return nil
	}
	return s.Policy.AllowPatient(ctx, pr, "pds", action, nhs)
}

// checkHeaders applies the PDS header rules: X-Request-ID is mandatory and
// a UUID; the client accepts FHIR JSON.
func checkHeaders(r *http.Request) error {
	if err := idempotency.CheckRequestID(r); err != nil {
		return err
	}
	return fhir.CheckAccept(r)
}

func invalidNHS(id string) error {
	return fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidResourceID, "Resource Id is invalid: %q is not a valid NHS number", id)
}

// maxSupersededHops bounds the chain of merged records followed on a read.
const maxSupersededHops = 5

// Read returns the patient with NHS number id as stored (unredacted): a
// superseded record resolves to the surviving one; an invalidated one is 404
// INVALIDATED_RESOURCE.
func (s *Service) Read(ctx context.Context, id string) (store.Record, fhir.Resource, error) {
	rec, _, err := s.resolve(ctx, id, false)
	if err != nil {
		return rec, nil, err
	}
	res, err := fhir.DecodeStored(rec.Body)
	return rec, res, err
}

// Summarise reads the patient that NHS number nhs reads as and returns what
// the security monitoring compares, decoding only those elements.
func (s *Service) Summarise(ctx context.Context, nhs string) (audit.Subject, error) {
	_, head, err := s.resolve(ctx, nhs, true)
	if err != nil {
		return audit.Subject{}, err
	}
	return head.subject(), nil
}

// SubjectOf is what the security monitoring compares of a patient record
// another service has read (it describes it to the audit with it).
func SubjectOf(res fhir.Resource) audit.Subject {
	h := headOf(res)
	return h.subject()
}

// recordHead is the typed view of a stored patient that reads, the
// monitor and search matching work on: decoded straight from the stored
// body into these fields only (several times cheaper than decoding the
// whole record), or taken from a decoded resource (headOf).
type recordHead struct {
	Gender    string `json:"gender"`
	BirthDate string `json:"birthDate"`
	Meta      struct {
		Security []headCoding `json:"security"`
	} `json:"meta"`
	Link                []headLink    `json:"link"`
	Name                []headName    `json:"name"`
	Address             []headAddress `json:"address"`
	GeneralPractitioner []headGP      `json:"generalPractitioner"`

	decoded bool // the fields above were read (not the zero head)
}

type headCoding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type headLink struct {
	Type  string `json:"type"`
	Other struct {
		Reference string `json:"reference"`
	} `json:"other"`
}

type headName struct {
	Use    string      `json:"use"`
	Family string      `json:"family"`
	Given  []string    `json:"given"`
	Period *headPeriod `json:"period"`
}

type headAddress struct {
	Use        string      `json:"use"`
	Line       []string    `json:"line"`
	PostalCode string      `json:"postalCode"`
	Period     *headPeriod `json:"period"`
}

type headGP struct {
	Identifier struct {
		Value string `json:"value"`
	} `json:"identifier"`
}

// headPeriod is an element's period: ended when it has an end (a previous
// name or address).
type headPeriod struct {
	End *string `json:"end"`
}

func (p *headPeriod) ended() bool { return p != nil && p.End != nil }

// decodeHead reads the typed view of a stored body.
func decodeHead(body []byte) (recordHead, error) {
	var h recordHead
	err := json.Unmarshal(body, &h)
	h.decoded = err == nil
	return h, err
}

// headOf takes the typed view of a decoded resource, as decodeHead would
// of its JSON (a test holds the two together), without serialising it:
// the write path (registration, every seeded patient) calls it.
func headOf(res fhir.Resource) recordHead {
	h := recordHead{decoded: true}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	strs := func(m map[string]any, k string) []string {
		var out []string
		for _, v := range search.Walk(m, k) {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	period := func(m map[string]any) *headPeriod {
		per, ok := m["period"].(map[string]any)
		if !ok {
			return nil
		}
		p := &headPeriod{}
		if end, ok := per["end"].(string); ok {
			p.End = &end
		}
		return p
	}
	h.Gender, h.BirthDate = str(res, "gender"), str(res, "birthDate")
	for _, v := range search.Walk(res, "meta.security") {
		if m, ok := v.(map[string]any); ok {
			h.Meta.Security = append(h.Meta.Security, headCoding{str(m, "system"), str(m, "code")})
		}
	}
	for _, v := range search.Walk(res, "link") {
		if m, ok := v.(map[string]any); ok {
			l := headLink{Type: str(m, "type")}
			if o, ok := m["other"].(map[string]any); ok {
				l.Other.Reference = str(o, "reference")
			}
			h.Link = append(h.Link, l)
		}
	}
	for _, v := range search.Walk(res, "name") {
		if m, ok := v.(map[string]any); ok {
			h.Name = append(h.Name, headName{str(m, "use"), str(m, "family"), strs(m, "given"), period(m)})
		}
	}
	for _, v := range search.Walk(res, "address") {
		if m, ok := v.(map[string]any); ok {
			h.Address = append(h.Address, headAddress{str(m, "use"), strs(m, "line"), str(m, "postalCode"), period(m)})
		}
	}
	for _, v := range search.Walk(res, "generalPractitioner") {
		if m, ok := v.(map[string]any); ok {
			var g headGP
			if id, ok := m["identifier"].(map[string]any); ok {
				g.Identifier.Value = str(id, "value")
			}
			h.GeneralPractitioner = append(h.GeneralPractitioner, g)
		}
	}
	return h
}

// hasGP reports whether the registered practice is ods.
func (h *recordHead) hasGP(ods string) bool {
	for _, g := range h.GeneralPractitioner {
		if g.Identifier.Value == ods {
			return true
		}
	}
	return false
}

// subject is the monitor's view of the record: the usual (or first)
// surname, the home address, the registered practice, restriction.
func (h *recordHead) subject() audit.Subject {
	sub := audit.Subject{Restricted: h.security() == "R"}
	for _, n := range h.Name {
		if n.Use == "usual" || sub.Surname == "" {
			sub.Surname = n.Family
		}
	}
	for _, a := range h.Address {
		if a.Use == "home" || a.Use == "" {
			sub.Postcode = a.PostalCode
			if len(a.Line) > 0 {
				sub.Address = a.Line[0]
			}
			break
		}
	}
	for _, g := range h.GeneralPractitioner {
		if g.Identifier.Value != "" {
			sub.GP = g.Identifier.Value
		}
	}
	return sub
}

// describe is what a read tells the audit of the record it served from
// body: the head's subject when it was decoded, else (a plain record, see
// plainRecord: not restricted) a subject whose details are decoded from
// body only if the monitor asks for them.
func (h *recordHead) describe(body []byte) audit.Subject {
	if h.decoded {
		return h.subject()
	}
	return audit.Subject{Record: body, Details: func() (audit.Subject, error) {
		h, err := decodeHead(body)
		return h.subject(), err
	}}
}

// security is the record's confidentiality code (U when absent), as security().
func (h *recordHead) security() string {
	for _, c := range h.Meta.Security {
		if c.System == SystemConfidentiality {
			return c.Code
		}
	}
	return "U"
}

// supersededBy is the NHS number that replaced the record, as supersededBy().
func (h *recordHead) supersededBy() string {
	for _, l := range h.Link {
		if l.Type == "replaced-by" {
			if _, id, ok := search.SplitReference(l.Other.Reference); ok {
				return id
			}
		}
	}
	return ""
}

// plainRecord tells, without decoding, that stored bytes are neither
// superseded (a "link" key), invalidated (the string "REDACTED") nor
// restricted (the string "R", its confidentiality code): our encoder never
// escapes these ASCII strings, so a record that is any of them always
// holds one; a false alarm only costs the decoding.
func plainRecord(body []byte) bool {
	return !bytes.Contains(body, []byte(`"link"`)) && !bytes.Contains(body, []byte(`"R"`)) && !bytes.Contains(body, []byte(`"REDACTED"`))
}

// resolve reads the record that id reads as: superseded records lead to
// their survivor; invalidated ones are 404 INVALIDATED_RESOURCE.
//
// With full false the head is decoded only when the record may be
// superseded, invalidated or restricted (see plainRecord); otherwise it
// is left empty. full asks for the whole head always (to describe the
// record to the audit).
func (s *Service) resolve(ctx context.Context, id string, full bool) (store.Record, recordHead, error) {
	var head recordHead
	if !nhsnumber.Valid(id) {
		return store.Record{}, head, invalidNHS(id)
	}
	for hop := 0; ; hop++ {
		rec, err := s.store.Read(ctx, "Patient", id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && rec.Deleted) {
			return rec, head, fhir.NewError(http.StatusNotFound, fhir.CodeResourceNotFound, "Patient %s was not found", id)
		}
		if err != nil {
			return rec, head, err
		}
		if !full && plainRecord(rec.Body) {
			return rec, recordHead{}, nil
		}
		if head, err = decodeHead(rec.Body); err != nil {
			return rec, head, fmt.Errorf("stored Patient %s: %w", id, err)
		}
		if head.security() == "REDACTED" {
			return rec, head, fhir.NewError(http.StatusNotFound, CodeInvalidatedResource, "Patient %s has been invalidated", id)
		}
		next := head.supersededBy()
		if next == "" {
			return rec, head, nil
		}
		if hop >= maxSupersededHops || !nhsnumber.Valid(next) {
			return rec, head, errors.New("superseded chain of " + id + " is broken")
		}
		id = next
	}
}

// isSelf reports whether the caller is the patient with NHS number nhs.
func isSelf(ctx context.Context, nhs string) bool {
	pr := auth.From(ctx)
	return pr.IsPatient() && pr.NHSNumber == nhs
}

// redact removes what a restricted record never reveals — to anyone but
// the patient themself.
func redact(ctx context.Context, res fhir.Resource) {
	if security(res) != "R" {
		return
	}
	if id, _ := res["id"].(string); isSelf(ctx, id) {
		return
	}
	delete(res, "address")
	delete(res, "telecom")
	delete(res, "contact")
	delete(res, "generalPractitioner")
	removeExtensions(res, ExtNominatedPharmacy)
}

func removeExtensions(res fhir.Resource, urls ...string) {
	exts, _ := res["extension"].([]any)
	var keep []any
outer:
	for _, e := range exts {
		m, _ := e.(map[string]any)
		for _, u := range urls {
			if m["url"] == u {
				continue outer
			}
		}
		keep = append(keep, e)
	}
	if len(keep) == 0 {
		delete(res, "extension")
	} else {
		res["extension"] = keep
	}
}

func writePatient(w http.ResponseWriter, r *http.Request, status int, rec store.Record, res fhir.Resource) {
	redact(r.Context(), res)
	w.Header().Set("ETag", `W/"`+strconv.FormatInt(rec.Version, 10)+`"`)
	fhir.WriteResource(w, status, res)
}

// readAccess begins every read of one patient's record (the record, its
// related people): the headers, the caller's scope, the record the NHS
// number in the path reads as (a merged number's survivor), and what the
// audit records of it. The head is decoded only when the record may be
// restricted, superseded or invalidated (resolve).
func (s *Service) readAccess(r *http.Request) (store.Record, recordHead, error) {
	if err := checkHeaders(r); err != nil {
		return store.Record{}, recordHead{}, err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	// Scope first: a patient asking for another number learns nothing,
	// not even whether it exists.
	if err := s.allowPatient(ctx, "read", id); err != nil {
		return store.Record{}, recordHead{}, err
	}
	audit.Patients(ctx, id)
	rec, head, err := s.resolve(ctx, id, false)
	if err != nil {
		return rec, head, err
	}
	if rec.ID != id {
		audit.Patients(ctx, rec.ID) // the surviving record of a merge
	}
	// the monitor needs no second look at the record
	audit.Describe(ctx, rec.ID, head.describe(rec.Body))
	return rec, head, nil
}

func (s *Service) handleRead(w http.ResponseWriter, r *http.Request) {
	rec, head, err := s.readAccess(r)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	if head.security() != "R" {
		// nothing to remove: serve the stored bytes as they are
		w.Header().Set("ETag", `W/"`+strconv.FormatInt(rec.Version, 10)+`"`)
		fhir.Write(w, http.StatusOK, rec.Body)
		return
	}
	res, err := fhir.DecodeStored(rec.Body)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	writePatient(w, r, http.StatusOK, rec, res)
}
