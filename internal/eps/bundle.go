package eps

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/nhsnumber"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/trace"
)

// Message events (MessageHeader.eventCoding.code).
const (
	EventOrder        = "prescription-order"
	EventOrderUpdate  = "prescription-order-update"
	EventDispense     = "dispense-notification"
	SystemEvent       = "https://fhir.nhs.uk/CodeSystem/message-event"
	SystemDMD         = "https://dmd.nhs.uk"
	SystemSNOMED      = "http://snomed.info/sct"
	SystemSiteType    = "https://fhir.nhs.uk/CodeSystem/dispensing-site-preference"
	ExtPrescriptionID = "https://fhir.nhs.uk/StructureDefinition/Extension-DM-PrescriptionId"
	ExtSiteType       = "https://fhir.nhs.uk/StructureDefinition/Extension-DM-PerformerSiteType"
	ExtControlledDrug = "https://fhir.nhs.uk/StructureDefinition/Extension-DM-ControlledDrug"
	ExtGroupID        = "https://fhir.nhs.uk/StructureDefinition/Extension-DM-GroupIdentifier"
	ExtBusinessStatus = "https://fhir.nhs.uk/StructureDefinition/Extension-EPS-TaskBusinessStatus"
	ExtRepeatInfo     = "https://fhir.nhs.uk/StructureDefinition/Extension-EPS-RepeatInformation"
	ExtReplacementOf  = "https://fhir.nhs.uk/StructureDefinition/Extension-replacementOf"
	ExtStatusHistory  = "https://fhir.nhs.uk/StructureDefinition/Extension-DM-PrescriptionStatusHistory"
)

// Small accessors over decoded JSON.

func obj(v any, key string) map[string]any {
	m, _ := v.(map[string]any)
	o, _ := m[key].(map[string]any)
	return o
}

func arr(v any, key string) []any {
	m, _ := v.(map[string]any)
	a, _ := m[key].([]any)
	return a
}

func str(v any, key string) string {
	m, _ := v.(map[string]any)
	s, _ := m[key].(string)
	return s
}

// identifier returns the value of the first identifier with system (the
// element may be one Identifier or a list).
func identifier(v any, system string) string {
	switch t := v.(type) {
	case map[string]any:
		if t["system"] == system {
			s, _ := t["value"].(string)
			return s
		}
	case []any:
		for _, e := range t {
			if s := identifier(e, system); s != "" {
				return s
			}
		}
	}
	return ""
}

// coding returns the code and display of the first coding of a
// CodeableConcept (or Coding) whose system is one of systems (any when none).
func coding(v any, systems ...string) (code, display, system string) {
	m, _ := v.(map[string]any)
	var list []any
	if c, ok := m["coding"].([]any); ok {
		list = c
	} else if m != nil {
		list = []any{m}
	}
	for _, c := range list {
		cm, _ := c.(map[string]any)
		sys, _ := cm["system"].(string)
		if len(systems) > 0 && !contains(systems, sys) {
			continue
		}
		code, _ = cm["code"].(string)
		if code == "" {
			continue
		}
		display, _ = cm["display"].(string)
		return code, display, sys
	}
	return "", "", ""
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// extension returns the first extension of v with url.
func extension(v any, url string) map[string]any {
	for _, e := range arr(v, "extension") {
		if m, ok := e.(map[string]any); ok && m["url"] == url {
			return m
		}
	}
	return nil
}

// bundle is a FHIR message Bundle.
type bundle struct {
	doc     map[string]any
	id      string // Bundle.identifier.value: the message id
	entries []bundleEntry
}

type bundleEntry struct {
	fullURL string
	res     map[string]any
	typ     string
}

func parseBundle(doc map[string]any) (*bundle, error) {
	if rt, _ := doc["resourceType"].(string); rt != "Bundle" {
		return nil, fhir.Invalid("a Bundle was expected, not %q", rt).At("resourceType")
	}
	if t := str(doc, "type"); t != "message" {
		return nil, fhir.Invalid("Bundle.type must be message, not %q", t).At("Bundle.type")
	}
	b := &bundle{doc: doc, id: str(obj(doc, "identifier"), "value")}
	if b.id == "" {
		return nil, fhir.Missing("Bundle.identifier.value (the message id) is missing").At("Bundle.identifier")
	}
	for i, e := range arr(doc, "entry") {
		em, _ := e.(map[string]any)
		res, _ := em["resource"].(map[string]any)
		if res == nil {
			return nil, fhir.Missing("entry %d has no resource", i).At(fmt.Sprintf("Bundle.entry[%d].resource", i))
		}
		typ, _ := res["resourceType"].(string)
		if typ == "" {
			return nil, fhir.Missing("entry %d has no resourceType", i).At(fmt.Sprintf("Bundle.entry[%d].resource", i))
		}
		fu, _ := em["fullUrl"].(string)
		b.entries = append(b.entries, bundleEntry{fullURL: fu, res: res, typ: typ})
	}
	if len(b.entries) == 0 || b.entries[0].typ != "MessageHeader" {
		return nil, epsError(CodeInvalidMessage, "the first entry of a message Bundle must be its MessageHeader")
	}
	return b, nil
}

func (b *bundle) header() map[string]any { return b.entries[0].res }

// event is the message's event code.
func (b *bundle) event() string {
	c, _, _ := coding(obj(b.header(), "eventCoding"))
	return c
}

func (b *bundle) ofType(typ string) []map[string]any {
	var out []map[string]any
	for _, e := range b.entries {
		if e.typ == typ {
			out = append(out, e.res)
		}
	}
	return out
}

// resolve finds the entry a Reference points at: by fullUrl, or as
// Type/id (relative, or the end of an absolute fullUrl).
func (b *bundle) resolve(ref any, typ string) map[string]any {
	r := str(ref, "reference")
	if r == "" {
		return nil
	}
	for _, e := range b.entries {
		if e.typ != typ {
			continue
		}
		if e.fullURL == r {
			return e.res
		}
		if id := str(e.res, "id"); id != "" && (r == typ+"/"+id || strings.HasSuffix(r, "/"+typ+"/"+id)) {
			return e.res
		}
	}
	return nil
}

// order is a parsed prescription-order (or order-update) message.
type order struct {
	b          *bundle
	ShortForm  string
	LongForm   string
	NHS        string
	Prescriber party
	Treatment  string
	Issues     int
	SiteType   string
	Authored   time.Time
	ValidFrom  time.Time
	ValidTo    time.Time // end of validity (exclusive); zero when not given
	SupplyDays int
	Items      []itemDef
	MRs        []map[string]any
	Reasons    []string // cancellation: statusReason code per item
	Signature  map[string]any
}

var (
	dmdCodePattern = regexp.MustCompile(`^[1-9][0-9]{5,17}$`)
	courseSystems  = []string{"http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy", "https://fhir.nhs.uk/CodeSystem/medicationrequest-course-of-therapy"}
)

func at(i int, path string) string {
	return fmt.Sprintf("Bundle.entry.resource.ofType(MedicationRequest)[%d].%s", i, path)
}

// parseOrder reads and checks the prescription in an order (cancel: an
// order-update, whose MedicationRequests are the items to cancel).
func parseOrder(b *bundle, cancel bool) (*order, error) {
	o := &order{b: b, MRs: b.ofType("MedicationRequest")}
	if n := len(o.MRs); n == 0 || (!cancel && n > 4) {
		return nil, epsError(CodeInvalidItemCount, "the message has %d MedicationRequests", n)
	}
	var subjectRef, requesterRef string
	var repeats = -2
	seen := map[string]bool{}
	for i, mr := range o.MRs {
		item := itemDef{ID: identifier(mr["identifier"], SystemItem)}
		if item.ID == "" {
			return nil, fhir.Missing("the line item id (identifier with system %s) is missing", SystemItem).At(at(i, "identifier"))
		}
		if !trace.ValidUUID(item.ID) {
			return nil, fhir.Invalid("the line item id %q is not a UUID", item.ID).At(at(i, "identifier"))
		}
		item.ID = strings.ToLower(item.ID)
		if seen[item.ID] {
			return nil, epsError(CodeDuplicateItemID, "line item %s appears twice", item.ID).At(at(i, "identifier"))
		}
		seen[item.ID] = true
		gi := obj(mr, "groupIdentifier")
		short, long := "", ""
		if gi["system"] == SystemShortForm {
			short = str(gi, "value")
		}
		if ext := extension(gi, ExtPrescriptionID); ext != nil {
			long = identifier(ext["valueIdentifier"], SystemLongForm)
		}
		if short == "" || (long == "" && !cancel) {
			return nil, fhir.Missing("groupIdentifier must carry the short-form id (system %s) and the long-form id (extension %s)", SystemShortForm, ExtPrescriptionID).At(at(i, "groupIdentifier"))
		}
		switch ShortFormProblem(short) {
		case "format":
			return nil, fhir.Invalid("%q is not a short-form prescription id (XXXXXX-XXXXXX-XXXXXC)", short).At(at(i, "groupIdentifier.value"))
		case "check":
			return nil, epsError(CodeInvalidCheckDigit, "the check character of prescription id %s is wrong", short).At(at(i, "groupIdentifier.value"))
		}
		if long != "" && !trace.ValidUUID(long) {
			return nil, fhir.Invalid("the long-form prescription id %q is not a UUID", long).At(at(i, "groupIdentifier.extension"))
		}
		long = strings.ToLower(long)
		if i == 0 {
			o.ShortForm, o.LongForm = short, long
		} else if short != o.ShortForm || long != o.LongForm {
			return nil, fhir.Invalid("every MedicationRequest must carry the same prescription id").At(at(i, "groupIdentifier"))
		}
		if sr, rr := str(obj(mr, "subject"), "reference"), str(obj(mr, "requester"), "reference"); i == 0 {
			subjectRef, requesterRef = sr, rr
		} else if sr != subjectRef || rr != requesterRef {
			return nil, fhir.Invalid("every MedicationRequest must have the same subject and requester").At(at(i, "subject"))
		}
		if cancel {
			if s := str(mr, "status"); s != "cancelled" {
				return nil, fhir.Invalid("a cancellation's MedicationRequest status must be cancelled, not %q", s).At(at(i, "status"))
			}
			reason, _, _ := coding(mr["statusReason"])
			if reason == "" {
				return nil, fhir.Missing("statusReason (why it is cancelled) is missing").At(at(i, "statusReason"))
			}
			o.Items = append(o.Items, item)
			o.Reasons = append(o.Reasons, reason)
			continue
		}
		if s := str(mr, "status"); s != "active" {
			return nil, fhir.Invalid("MedicationRequest status must be active, not %q", s).At(at(i, "status"))
		}
		if in := str(mr, "intent"); in != "order" && in != "original-order" {
			return nil, fhir.Invalid("MedicationRequest intent must be order or original-order, not %q", in).At(at(i, "intent"))
		}
		code, display, _ := coding(mr["medicationCodeableConcept"], SystemDMD, SystemSNOMED)
		switch {
		case code == "":
			return nil, fhir.Missing("the medication must be coded in dm+d (system %s or %s)", SystemDMD, SystemSNOMED).At(at(i, "medicationCodeableConcept"))
		case !dmdCodePattern.MatchString(code):
			return nil, fhir.Invalid("%q is not a dm+d concept id", code).At(at(i, "medicationCodeableConcept.coding.code"))
		case strings.TrimSpace(display) == "":
			return nil, fhir.Missing("the medication's display (its dm+d description) is missing").At(at(i, "medicationCodeableConcept.coding.display"))
		}
		item.Code, item.Display = code, display
		dosage := arr(mr, "dosageInstruction")
		if len(dosage) == 0 || strings.TrimSpace(str(dosage[0], "text")) == "" {
			return nil, fhir.Missing("dosageInstruction with text is required").At(at(i, "dosageInstruction"))
		}
		dr := obj(mr, "dispenseRequest")
		qty := obj(dr, "quantity")
		qv, _ := qty["value"].(json.Number)
		if f, ok := new(big.Float).SetString(string(qv)); !ok || f.Sign() <= 0 {
			return nil, fhir.Invalid("dispenseRequest.quantity.value must be a positive number").At(at(i, "dispenseRequest.quantity"))
		}
		item.Quantity, item.Unit = qv, str(qty, "unit")
		if item.Unit == "" && str(qty, "code") == "" {
			return nil, fhir.Missing("dispenseRequest.quantity needs a unit").At(at(i, "dispenseRequest.quantity"))
		}
		site, _, _ := coding(extension(dr, ExtSiteType)["valueCoding"], SystemSiteType)
		switch site {
		case "P1", "P2", "P3", "0004":
		case "":
			return nil, fhir.Missing("the dispensing site preference (extension %s) is missing", ExtSiteType).At(at(i, "dispenseRequest.extension"))
		default:
			return nil, fhir.Invalid("dispensing site preference %q is not P1, P2, P3 or 0004", site).At(at(i, "dispenseRequest.extension"))
		}
		course, _, _ := coding(mr["courseOfTherapyType"], courseSystems...)
		switch course {
		case TreatmentAcute, TreatmentContinuous, TreatmentRepeatDispensing:
		case "":
			return nil, fhir.Missing("courseOfTherapyType is missing").At(at(i, "courseOfTherapyType"))
		default:
			return nil, fhir.Invalid("courseOfTherapyType %q is not acute, continuous or continuous-repeat-dispensing", course).At(at(i, "courseOfTherapyType"))
		}
		n := -1
		if v, ok := dr["numberOfRepeatsAllowed"].(json.Number); ok {
			k, err := v.Int64()
			if err != nil || k < 0 || k > 98 {
				return nil, epsError(CodeInvalidRepeatCount, "numberOfRepeatsAllowed %s: a prescription has 1 to 99 issues", v).At(at(i, "dispenseRequest.numberOfRepeatsAllowed"))
			}
			n = int(k)
		}
		authored, ok := dateTime(str(mr, "authoredOn"))
		if !ok {
			return nil, fhir.Invalid("authoredOn must be a dateTime").At(at(i, "authoredOn"))
		}
		vp := obj(dr, "validityPeriod")
		var from, to time.Time
		if s := str(vp, "start"); s != "" {
			if lo, _, ok := search.DateRange(s); ok {
				from = time.UnixMilli(lo).UTC()
			} else {
				return nil, fhir.Invalid("validityPeriod.start is not a date").At(at(i, "dispenseRequest.validityPeriod.start"))
			}
		}
		if s := str(vp, "end"); s != "" {
			if _, hi, ok := search.DateRange(s); ok {
				to = time.UnixMilli(hi + 1).UTC()
			} else {
				return nil, fhir.Invalid("validityPeriod.end is not a date").At(at(i, "dispenseRequest.validityPeriod.end"))
			}
		}
		if !from.IsZero() && !to.IsZero() && !from.Before(to) {
			return nil, fhir.Invalid("validityPeriod ends before it starts").At(at(i, "dispenseRequest.validityPeriod"))
		}
		days := 0
		if esd := obj(dr, "expectedSupplyDuration"); esd != nil {
			if v, ok := esd["value"].(json.Number); ok {
				if f, err := v.Float64(); err == nil && f > 0 && f < 3660 {
					days = int(f)
				}
			}
		}
		if cd := extension(mr, ExtControlledDrug); cd != nil {
			sched, _, _ := coding(extension(cd, "schedule")["valueCoding"])
			words := str(extension(cd, "quantityWords"), "valueString")
			switch sched {
			case "CD1":
				return nil, fhir.Invalid("Schedule 1 controlled drugs cannot be prescribed").At(at(i, "extension"))
			case "CD2", "CD3":
				if strings.TrimSpace(words) == "" {
					return nil, fhir.Missing("a Schedule 2 or 3 controlled drug needs its quantity in words (quantityWords)").At(at(i, "extension"))
				}
				if course == TreatmentRepeatDispensing {
					return nil, fhir.Invalid("a Schedule 2 or 3 controlled drug cannot be prescribed for repeat dispensing").At(at(i, "courseOfTherapyType"))
				}
			case "CD4-1", "CD4-2", "CD5", "":
			default:
				return nil, fhir.Invalid("controlled drug schedule %q is not CD2, CD3, CD4-1, CD4-2 or CD5", sched).At(at(i, "extension"))
			}
			item.Schedule = sched
		}
		if i == 0 {
			o.Treatment, o.SiteType, o.Authored, o.ValidFrom, o.ValidTo, o.SupplyDays, repeats = course, site, authored, from, to, days, n
		} else {
			if course != o.Treatment {
				return nil, fhir.Invalid("every item must have the same courseOfTherapyType").At(at(i, "courseOfTherapyType"))
			}
			if n != repeats {
				return nil, epsError(CodeMismatchRepeatCount, "items have different numbers of authorised repeats (%d and %d)", repeats, n).At(at(i, "dispenseRequest.numberOfRepeatsAllowed"))
			}
			if site != o.SiteType {
				return nil, fhir.Invalid("every item must have the same dispensing site preference").At(at(i, "dispenseRequest.extension"))
			}
			if !from.Equal(o.ValidFrom) || !to.Equal(o.ValidTo) {
				return nil, fhir.Invalid("every item must have the same validity period").At(at(i, "dispenseRequest.validityPeriod"))
			}
			if days > o.SupplyDays {
				o.SupplyDays = days
			}
		}
		o.Items = append(o.Items, item)
	}
	o.Issues = 1
	if !cancel {
		switch {
		case o.Treatment == TreatmentRepeatDispensing:
			if repeats < 0 {
				return nil, fhir.Missing("a repeat dispensing prescription needs dispenseRequest.numberOfRepeatsAllowed").At(at(0, "dispenseRequest.numberOfRepeatsAllowed"))
			}
			o.Issues = repeats + 1
		case repeats > 0 && o.Treatment == TreatmentAcute:
			return nil, epsError(CodeInvalidRepeatCount, "an acute prescription has no repeats").At(at(0, "dispenseRequest.numberOfRepeatsAllowed"))
		}
	}
	// Patient.
	pat := b.resolve(o.MRs[0]["subject"], "Patient")
	if pat == nil {
		return nil, fhir.Missing("the MedicationRequest's subject must reference the Patient entry").At(at(0, "subject"))
	}
	o.NHS = identifier(pat["identifier"], SystemNHSNumber)
	if !nhsnumber.Valid(o.NHS) {
		return nil, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidResourceID, "%q is not a valid NHS number", o.NHS).At("Patient.identifier")
	}
	// Prescriber: PractitionerRole → Practitioner, Organization.
	role := b.resolve(o.MRs[0]["requester"], "PractitionerRole")
	if role == nil {
		return nil, fhir.Missing("the MedicationRequest's requester must reference the PractitionerRole entry").At(at(0, "requester"))
	}
	o.Prescriber.Role = identifier(role["identifier"], SystemRole)
	if o.Prescriber.Role == "" {
		return nil, fhir.Missing("the PractitionerRole needs its SDS role profile id (%s)", SystemRole).At("PractitionerRole.identifier")
	}
	if pr := b.resolve(role["practitioner"], "Practitioner"); pr != nil {
		o.Prescriber.User = identifier(pr["identifier"], SystemUser)
		if names := arr(pr, "name"); len(names) > 0 {
			o.Prescriber.Name = strings.TrimSpace(strings.Join(stringsOf(names[0], "prefix", "given"), " ") + " " + str(names[0], "family"))
		}
	}
	org := b.resolve(role["organization"], "Organization")
	if org != nil {
		o.Prescriber.ODS = identifier(org["identifier"], SystemODS)
	} else {
		o.Prescriber.ODS = identifier(obj(role, "organization")["identifier"], SystemODS)
	}
	if o.Prescriber.ODS == "" {
		return nil, fhir.Missing("the prescribing organisation's ODS code is missing").At("PractitionerRole.organization")
	}
	if tel := arr(role, "telecom"); len(tel) > 0 {
		o.Prescriber.Tel = str(tel[0], "value")
	}
	if o.ShortForm[7:13] != PaddedODS(o.Prescriber.ODS) {
		return nil, fhir.Invalid("short-form id %s does not carry the prescribing organisation %s", o.ShortForm, o.Prescriber.ODS).At(at(0, "groupIdentifier.value"))
	}
	if !cancel {
		for _, pv := range b.ofType("Provenance") {
			if sigs := arr(pv, "signature"); len(sigs) > 0 {
				o.Signature, _ = sigs[0].(map[string]any)
				break
			}
		}
	}
	return o, nil
}

func stringsOf(v any, keys ...string) []string {
	var out []string
	for _, k := range keys {
		for _, e := range arr(v, k) {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// dateTime parses a FHIR dateTime (or date) to the instant it starts.
func dateTime(s string) (time.Time, bool) {
	lo, _, ok := search.DateRange(s)
	if !ok {
		return time.Time{}, false
	}
	return time.UnixMilli(lo).UTC(), true
}

// canonical is the form of the prescription that the prescriber signs
// (see docs/api/eps.md): the MedicationRequests (without id, meta and
// text, ordered by line item id), the patient's NHS number, the
// prescriber's role profile id and organisation, and the signing time.
func (o *order) canonical(signedAt string) []byte {
	mrs := make([]any, len(o.MRs))
	idx := make([]int, len(o.MRs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return o.Items[idx[a]].ID < o.Items[idx[b]].ID })
	for k, i := range idx {
		// a shallow copy: only top-level members are left out, and
		// nothing below is changed
		c := make(map[string]any, len(o.MRs[i]))
		for name, v := range o.MRs[i] {
			if name != "id" && name != "meta" && name != "text" {
				c[name] = v
			}
		}
		mrs[k] = c
	}
	return fhir.Marshal(map[string]any{
		"format":             "openspine-eps-prescription-1",
		"prescription":       map[string]any{"shortForm": o.ShortForm, "longForm": o.LongForm},
		"patient":            o.NHS,
		"prescriber":         map[string]any{"roleProfileId": o.Prescriber.Role, "organization": o.Prescriber.ODS},
		"signedAt":           signedAt,
		"medicationRequests": mrs,
	})
}
