package eps_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/openspine/openspine/internal/eps"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/fhirtest"
	"github.com/openspine/openspine/internal/nhsnumber"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/store/storetest"
	"github.com/openspine/openspine/internal/trace"
)

func TestMain(m *testing.M) {
	fhirtest.QuietLogs()
	os.Exit(m.Run())
}

// nhs returns the i-th valid test NHS number.
func nhs(i int) string {
	for p := uint64(999200000 + i*7); ; p++ {
		if n, ok := nhsnumber.FromNine(fmt.Sprint(p)); ok {
			return n
		}
	}
}

// Patients of the fake PDS.
var (
	patNominated   = nhs(1) // nominated FA565
	patNoNominee   = nhs(2) // no nominated pharmacy
	patDeceased    = nhs(3)
	patNominatedFX = nhs(4) // nominated FX123
	patUnknown     = nhs(5)
)

type fakePDS struct {
	mu       sync.Mutex
	patients map[string]*eps.Patient
}

func (f *fakePDS) Patient(_ context.Context, n string) (*eps.Patient, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.patients[n]
	if p == nil {
		return nil, nil
	}
	c := *p
	return &c, nil
}

// Prescribers of the fake directory (the demo directory's roles).
const (
	roleCarter  = "555021936108" // Dr Amelia Carter, R8000, Y12345: ECDSA key, signs with a JWS
	roleOkafor  = "555021936109" // Dr Chidi Okafor, R8000, B82001: RSA key, signs raw PKCS#1 v1.5
	roleNowak   = "555021936110" // Zofia Nowak, R8001 nurse, Y12345
	roleOBrien  = "555021936112" // Siobhán O'Brien, R8008 admin, Y12345: may not prescribe
	roleRetired = "555021936199" // inactive, Y12345
	userCarter  = "555021935107"
)

type signer struct {
	ods, user, job string
	ec             *ecdsa.PrivateKey
	rsa            *rsa.PrivateKey
}

var (
	keysOnce sync.Once
	signers  map[string]*signer
)

func loadSigners() map[string]*signer {
	keysOnce.Do(func() {
		ec := func() *ecdsa.PrivateKey {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				panic(err)
			}
			return k
		}
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		signers = map[string]*signer{
			roleCarter:  {ods: "Y12345", user: userCarter, job: "R8000", ec: ec()},
			roleOkafor:  {ods: "B82001", user: "555021935108", job: "R8000", rsa: rk},
			roleNowak:   {ods: "Y12345", user: "555021935109", job: "R8001", ec: ec()},
			roleOBrien:  {ods: "Y12345", user: "555021935111", job: "R8008", ec: ec()},
			roleRetired: {ods: "Y12345", user: "555021935199", job: "R8000", ec: ec()},
		}
	})
	return signers
}

type fakeDirectory struct{}

func (fakeDirectory) Prescriber(_ context.Context, role string) (*eps.Prescriber, error) {
	s := loadSigners()[role]
	if s == nil {
		return nil, nil
	}
	p := &eps.Prescriber{RoleProfileID: role, UserID: s.user, OrgODS: s.ods, JobRole: s.job, Active: role != roleRetired}
	if s.ec != nil {
		p.Keys = []crypto.PublicKey{&s.ec.PublicKey}
	} else {
		p.Keys = []crypto.PublicKey{&s.rsa.PublicKey}
	}
	return p, nil
}

// clock is the service's clock in tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// world is a running EPS over one store.
type world struct {
	t     testing.TB
	url   string
	svc   *eps.Service
	st    store.Store
	clock *clock
	mu    sync.Mutex
	// principal, when set, is attached to requests carrying the header
	// X-Test-As naming it (no auth middleware).
	principals map[string]any
}

func setup(t testing.TB, b storetest.Backend) *world {
	st, _, _ := b.Open(t)
	return setupStore(t, st, nil)
}

func setupStore(t testing.TB, st store.Store, wrap func(http.Handler) http.Handler) *world {
	pds := &fakePDS{patients: map[string]*eps.Patient{
		patNominated:   {NHSNumber: patNominated, NominatedPharmacy: "FA565"},
		patNoNominee:   {NHSNumber: patNoNominee},
		patDeceased:    {NHSNumber: patDeceased, Deceased: true},
		patNominatedFX: {NHSNumber: patNominatedFX, NominatedPharmacy: "FX123"},
	}}
	svc := eps.New(st, pds, fakeDirectory{})
	c := &clock{t: time.Now().UTC().Truncate(time.Second)}
	svc.Now = c.Now
	mux := http.NewServeMux()
	svc.Register(mux)
	var h http.Handler = mux
	if wrap != nil {
		h = wrap(mux)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &world{t: t, url: ts.URL, svc: svc, st: st, clock: c}
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (w *world) do(method, path string, body any, headers ...string) resp {
	w.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		rd = strings.NewReader(string(fhir.Marshal(b)))
	}
	ctype := ""
	if body != nil {
		ctype = "application/fhir+json"
	}
	r := fhirtest.Do(w.t, method, w.url+eps.Base+path, ctype, rd, append([]string{"X-Request-ID", trace.NewUUID()}, headers...)...)
	return resp{status: r.Status, header: r.Header, body: r.Body, raw: r.Raw}
}

// code is the first issue's code of an OperationOutcome.
func code(r resp) string { return fhirtest.Code(r.body) }

// get walks decoded JSON by keys and indexes.
var get = fhirtest.Get

func expect(t testing.TB, r resp, status int, want string) {
	t.Helper()
	if r.status != status || (want != "" && code(r) != want) {
		t.Fatalf("got %d %s, want %d %s: %.1500s", r.status, code(r), status, want, r.raw)
	}
}

// item is a line item of a test prescription.
type item struct {
	id, code, display, dose string
	qty                     float64
	schedule, words         string
}

// rx is a test prescription.
type rx struct {
	short, long string
	msg         string // message id of the order
	patient     string
	role        string
	ods         string
	items       []item
	course      string
	repeats     int // numberOfRepeatsAllowed; -1: absent
	site        string
	validFrom   string
	validTo     string
	supplyDays  int
}

var medicines = []item{
	{code: "322237000", display: "Paracetamol 500mg soluble tablets", dose: "One tablet four times a day", qty: 100},
	{code: "39113611000001102", display: "Salbutamol 100micrograms/dose inhaler CFC free", dose: "Two puffs when required", qty: 200},
	{code: "317972000", display: "Furosemide 40mg tablets", dose: "One tablet each morning", qty: 28},
	{code: "324252006", display: "Azithromycin 250mg capsules", dose: "One capsule daily", qty: 6},
	{code: "36128711000001102", display: "Morphine 10mg/5ml oral solution", dose: "5ml every four hours when required", qty: 300},
}

// newRx makes an acute prescription by Dr Carter of n items for patient.
func (w *world) newRx(patient string, n int) *rx {
	r := &rx{patient: patient, role: roleCarter, ods: "Y12345", course: "acute", repeats: -1, site: "P1"}
	r.setIDs()
	for i := 0; i < n; i++ {
		it := medicines[i%len(medicines)]
		it.id = trace.NewUUID()
		r.items = append(r.items, it)
	}
	return r
}

func (r *rx) setIDs() {
	r.short, r.long = eps.NewShortFormID(r.ods), eps.NewLongFormID()
}

// by makes the prescription Dr Okafor's (RSA key, B82001).
func (r *rx) by(role string) *rx {
	r.role = role
	r.ods = loadSigners()[role].ods
	r.setIDs()
	return r
}

func (r *rx) itemIDs() []string {
	var out []string
	for _, it := range r.items {
		out = append(out, it.id)
	}
	return out
}

func (w *world) now() time.Time { return w.clock.Now() }

// bundle is the prescription-order message (unsigned).
func (w *world) bundle(r *rx, event string) map[string]any {
	if r.msg == "" || event != eps.EventOrder {
		r.msg = trace.NewUUID()
	}
	s := loadSigners()[r.role]
	user, job := "555021935000", "R8000"
	if s != nil {
		user, job = s.user, s.job
	}
	patURL, roleURL, pracURL, orgURL := "urn:uuid:"+trace.NewUUID(), "urn:uuid:"+trace.NewUUID(), "urn:uuid:"+trace.NewUUID(), "urn:uuid:"+trace.NewUUID()
	var mrs, focus []any
	for _, it := range r.items {
		dr := map[string]any{
			"extension": []any{map[string]any{"url": eps.ExtSiteType, "valueCoding": map[string]any{"system": eps.SystemSiteType, "code": r.site}}},
			"quantity":  map[string]any{"value": json.Number(fmt.Sprint(it.qty)), "unit": "dose", "system": "http://snomed.info/sct", "code": "3317411000001100"},
		}
		vp := map[string]any{}
		if r.validFrom != "" {
			vp["start"] = r.validFrom
		}
		if r.validTo != "" {
			vp["end"] = r.validTo
		}
		if len(vp) > 0 {
			dr["validityPeriod"] = vp
		}
		if r.repeats >= 0 {
			dr["numberOfRepeatsAllowed"] = json.Number(fmt.Sprint(r.repeats))
		}
		if r.supplyDays > 0 {
			dr["expectedSupplyDuration"] = map[string]any{"value": json.Number(fmt.Sprint(r.supplyDays)), "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"}
		}
		status := "active"
		mr := map[string]any{
			"resourceType": "MedicationRequest",
			"identifier":   []any{map[string]any{"system": eps.SystemItem, "value": it.id}},
			"status":       status, "intent": "order",
			"category":                  []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "community"}}}},
			"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": it.code, "display": it.display}}},
			"subject":                   map[string]any{"reference": patURL},
			"authoredOn":                w.now().Format(time.RFC3339),
			"requester":                 map[string]any{"reference": roleURL},
			"groupIdentifier": map[string]any{
				"extension": []any{map[string]any{"url": eps.ExtPrescriptionID, "valueIdentifier": map[string]any{"system": eps.SystemLongForm, "value": r.long}}},
				"system":    eps.SystemShortForm, "value": r.short},
			"courseOfTherapyType": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy", "code": r.course}}},
			"dosageInstruction":   []any{map[string]any{"text": it.dose}},
			"dispenseRequest":     dr,
			"substitution":        map[string]any{"allowedBoolean": false},
		}
		if it.schedule != "" {
			cd := []any{map[string]any{"url": "schedule", "valueCoding": map[string]any{"system": "https://fhir.nhs.uk/CodeSystem/medicationrequest-controlled-drug", "code": it.schedule}}}
			if it.words != "" {
				cd = append(cd, map[string]any{"url": "quantityWords", "valueString": it.words})
			}
			mr["extension"] = []any{map[string]any{"url": eps.ExtControlledDrug, "extension": cd}}
		}
		if event == eps.EventOrderUpdate {
			mr["status"] = "cancelled"
			mr["statusReason"] = map[string]any{"coding": []any{map[string]any{"system": "https://fhir.nhs.uk/CodeSystem/medicationrequest-status-reason", "code": "0001", "display": "Prescribing Error"}}}
		}
		u := "urn:uuid:" + trace.NewUUID()
		focus = append(focus, map[string]any{"reference": u})
		mrs = append(mrs, map[string]any{"fullUrl": u, "resource": mr})
	}
	header := map[string]any{"resourceType": "MessageHeader",
		"eventCoding": map[string]any{"system": eps.SystemEvent, "code": event},
		"sender":      map[string]any{"identifier": map[string]any{"system": eps.SystemODS, "value": r.ods}},
		"source":      map[string]any{"endpoint": "urn:nhs-uk:addressing:ods:" + r.ods},
		"focus":       focus}
	entries := []any{map[string]any{"fullUrl": "urn:uuid:" + trace.NewUUID(), "resource": header}}
	entries = append(entries, mrs...)
	entries = append(entries,
		map[string]any{"fullUrl": patURL, "resource": map[string]any{"resourceType": "Patient",
			"identifier": []any{map[string]any{"system": eps.SystemNHSNumber, "value": r.patient}},
			"name":       []any{map[string]any{"use": "usual", "family": "Smith", "given": []any{"Jane"}}}}},
		map[string]any{"fullUrl": roleURL, "resource": map[string]any{"resourceType": "PractitionerRole",
			"identifier":   []any{map[string]any{"system": eps.SystemRole, "value": r.role}},
			"practitioner": map[string]any{"reference": pracURL}, "organization": map[string]any{"reference": orgURL},
			"code":    []any{map[string]any{"coding": []any{map[string]any{"system": "https://fhir.nhs.uk/CodeSystem/NHSDigital-SDS-JobRoleCode", "code": job}}}},
			"telecom": []any{map[string]any{"system": "phone", "value": "01234567890", "use": "work"}}}},
		map[string]any{"fullUrl": pracURL, "resource": map[string]any{"resourceType": "Practitioner",
			"identifier": []any{map[string]any{"system": eps.SystemUser, "value": user}},
			"name":       []any{map[string]any{"family": "Carter", "given": []any{"Amelia"}, "prefix": []any{"Dr"}}}}},
		map[string]any{"fullUrl": orgURL, "resource": map[string]any{"resourceType": "Organization",
			"identifier": []any{map[string]any{"system": eps.SystemODS, "value": r.ods}}, "name": "Demo Medical Practice"}},
	)
	return map[string]any{"resourceType": "Bundle", "id": trace.NewUUID(), "type": "message",
		"identifier": map[string]any{"system": eps.SystemUUID, "value": r.msg}, "entry": entries}
}

// prepare calls $prepare and returns digest, timestamp, algorithm.
func (w *world) prepare(b map[string]any, headers ...string) (string, string, string) {
	w.t.Helper()
	r := w.do("POST", "/$prepare", b, headers...)
	expect(w.t, r, 200, "")
	p := map[string]string{}
	for _, e := range r.body["parameter"].([]any) {
		m := e.(map[string]any)
		p[m["name"].(string)] = m["valueString"].(string)
	}
	return p["digest"], p["timestamp"], p["algorithm"]
}

// signWith signs a digest from $prepare with role's key: a compact JWS
// (ES256) for EC keys, a raw PKCS#1 v1.5 signature for RSA keys.
func signWith(role, digest string) string {
	s := loadSigners()[role]
	if s.ec != nil {
		sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: s.ec}, nil)
		if err != nil {
			panic(err)
		}
		obj, err := sg.Sign([]byte(digest))
		if err != nil {
			panic(err)
		}
		c, _ := obj.CompactSerialize()
		return base64.StdEncoding.EncodeToString([]byte(c))
	}
	d, _ := base64.StdEncoding.DecodeString(digest)
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.rsa, crypto.SHA256, d)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// addSignature adds the Provenance carrying a signature.
func addSignature(b map[string]any, data, when string) {
	if err := eps.AddSignature(b, data, when); err != nil {
		panic(err)
	}
}

// signed is the order message prepared and signed by the prescriber.
func (w *world) signed(r *rx, headers ...string) map[string]any {
	w.t.Helper()
	b := w.bundle(r, eps.EventOrder)
	digest, when, _ := w.prepare(b, headers...)
	addSignature(b, signWith(r.role, digest), when)
	return b
}

// prescribe sends a signed prescription and expects it accepted.
func (w *world) prescribe(r *rx) {
	w.t.Helper()
	expect(w.t, w.do("POST", "/$process-message", w.signed(r)), 200, "")
}

// withDispenser prescribes r and releases it to pharmacy ods by its
// short-form id, expecting both accepted.
func (w *world) withDispenser(r *rx, ods string) {
	w.t.Helper()
	w.prescribe(r)
	expect(w.t, w.release(ods, r.short), 200, "")
}

func pharmacyOrg(ods string) map[string]any {
	return map[string]any{"resourceType": "Organization", "identifier": []any{map[string]any{"system": eps.SystemODS, "value": ods}},
		"name": "Pharmacy " + ods, "telecom": []any{map[string]any{"system": "phone", "value": "0113 496 0000", "use": "work"}}}
}

// releaseBody is a Task/$release Parameters; short "" for a nominated release.
func releaseBody(ods, short string) map[string]any {
	params := []any{
		map[string]any{"name": "owner", "resource": pharmacyOrg(ods)},
		map[string]any{"name": "status", "valueCode": "accepted"},
		map[string]any{"name": "agent", "resource": map[string]any{"resourceType": "PractitionerRole",
			"identifier": []any{map[string]any{"system": eps.SystemRole, "value": "555021936111"}}}},
	}
	if short != "" {
		params = append(params, map[string]any{"name": "group-identifier", "valueIdentifier": map[string]any{"system": eps.SystemShortForm, "value": short}})
	}
	return map[string]any{"resourceType": "Parameters", "parameter": params}
}

func (w *world) release(ods, short string, headers ...string) resp {
	w.t.Helper()
	return w.do("POST", "/Task/$release", releaseBody(ods, short), headers...)
}

// passed returns the prescription bundles of a release answer.
func passed(r resp) []map[string]any {
	var out []map[string]any
	for _, p := range r.body["parameter"].([]any) {
		pm := p.(map[string]any)
		if pm["name"] != "passedPrescriptions" {
			continue
		}
		for _, e := range get(pm, "resource", "entry").([]any) {
			out = append(out, e.(map[string]any)["resource"].(map[string]any))
		}
	}
	return out
}

// dispenseBody is a dispense-notification; statuses gives each item's status.
func (w *world) dispenseBody(r *rx, ods, status string, items map[string]string) map[string]any {
	entries := []any{map[string]any{"fullUrl": "urn:uuid:" + trace.NewUUID(), "resource": map[string]any{
		"resourceType": "MessageHeader",
		"eventCoding":  map[string]any{"system": eps.SystemEvent, "code": eps.EventDispense},
		"sender":       map[string]any{"identifier": map[string]any{"system": eps.SystemODS, "value": ods}, "display": "Pharmacy " + ods},
		"source":       map[string]any{"endpoint": "urn:nhs-uk:addressing:ods:" + ods},
	}}}
	for _, it := range r.items {
		st, ok := items[it.id]
		if !ok {
			continue
		}
		entries = append(entries, map[string]any{"fullUrl": "urn:uuid:" + trace.NewUUID(), "resource": map[string]any{
			"resourceType":              "MedicationDispense",
			"extension":                 []any{map[string]any{"url": eps.ExtBusinessStatus, "valueCoding": map[string]any{"system": eps.SystemBusinessStatus, "code": status}}},
			"identifier":                []any{map[string]any{"system": "https://fhir.nhs.uk/Id/prescription-dispense-item-number", "value": trace.NewUUID()}},
			"status":                    "completed",
			"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": it.code, "display": it.display}}},
			"subject":                   map[string]any{"type": "Patient", "identifier": map[string]any{"system": eps.SystemNHSNumber, "value": r.patient}},
			"authorizingPrescription": []any{map[string]any{
				"extension": []any{map[string]any{"url": eps.ExtGroupID, "extension": []any{
					map[string]any{"url": "shortForm", "valueIdentifier": map[string]any{"system": eps.SystemShortForm, "value": r.short}},
					map[string]any{"url": "UUID", "valueIdentifier": map[string]any{"system": eps.SystemLongForm, "value": r.long}},
				}}},
				"identifier": map[string]any{"system": eps.SystemItem, "value": it.id}}},
			"type":           map[string]any{"coding": []any{map[string]any{"system": eps.SystemItemStatus, "code": st}}},
			"quantity":       map[string]any{"value": json.Number(fmt.Sprint(it.qty)), "unit": "dose"},
			"whenHandedOver": w.now().Format(time.RFC3339),
		}})
	}
	return map[string]any{"resourceType": "Bundle", "id": trace.NewUUID(), "type": "message",
		"identifier": map[string]any{"system": eps.SystemUUID, "value": trace.NewUUID()}, "entry": entries}
}

// all maps every item of r to status.
func all(r *rx, status string) map[string]string {
	m := map[string]string{}
	for _, it := range r.items {
		m[it.id] = status
	}
	return m
}

func (w *world) dispense(r *rx, ods, status string, items map[string]string, headers ...string) resp {
	w.t.Helper()
	return w.do("POST", "/$process-message", w.dispenseBody(r, ods, status, items), headers...)
}

// taskBody is a return (rejected) or withdraw (in-progress) Task.
func taskBody(r *rx, ods, status, focus string) map[string]any {
	reason := map[string]any{"system": "https://fhir.nhs.uk/CodeSystem/EPS-task-dispense-return-status-reason", "code": "0002"}
	code := "change"
	if status == "in-progress" {
		reason = map[string]any{"system": "https://fhir.nhs.uk/CodeSystem/EPS-task-dispense-withdraw-reason", "code": "DA"}
		code = "abort"
	}
	t := map[string]any{"resourceType": "Task", "id": trace.NewUUID(),
		"contained": []any{
			map[string]any{"resourceType": "PractitionerRole", "id": "requester", "organization": map[string]any{"reference": "#organisation"}},
			map[string]any{"resourceType": "Organization", "id": "organisation", "identifier": []any{map[string]any{"system": eps.SystemODS, "value": ods}}},
		},
		"identifier": []any{map[string]any{"system": eps.SystemUUID, "value": trace.NewUUID()}},
		"status":     status, "intent": "order",
		"groupIdentifier": map[string]any{"system": eps.SystemShortForm, "value": r.short},
		"code":            map[string]any{"coding": []any{map[string]any{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": code}}},
		"for":             map[string]any{"identifier": map[string]any{"system": eps.SystemNHSNumber, "value": r.patient}},
		"authoredOn":      time.Now().UTC().Format(time.RFC3339),
		"statusReason":    map[string]any{"coding": []any{reason}},
		"requester":       map[string]any{"reference": "#requester"},
	}
	if focus != "" {
		t["focus"] = map[string]any{"type": "Bundle", "identifier": map[string]any{"system": eps.SystemUUID, "value": focus}}
	}
	return t
}

func (w *world) giveBack(r *rx, ods string) resp {
	w.t.Helper()
	return w.do("POST", "/Task", taskBody(r, ods, "rejected", ""))
}

func (w *world) withdraw(r *rx, ods, focus string) resp {
	w.t.Helper()
	return w.do("POST", "/Task", taskBody(r, ods, "in-progress", focus))
}

func claimBody(r *rx, ods string, amend bool) map[string]any {
	var details []any
	for _, it := range r.items {
		details = append(details, map[string]any{
			"extension": []any{map[string]any{"url": "https://fhir.nhs.uk/StructureDefinition/Extension-ClaimMedicationRequestReference",
				"valueReference": map[string]any{"identifier": map[string]any{"system": eps.SystemItem, "value": it.id}}}},
			"sequence":         1,
			"productOrService": map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": it.code, "display": it.display}}},
		})
	}
	c := map[string]any{"resourceType": "Claim", "id": trace.NewUUID(),
		"identifier": []any{map[string]any{"system": eps.SystemUUID, "value": trace.NewUUID()}},
		"status":     "active", "use": "claim",
		"type":    map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "pharmacy"}}},
		"patient": map[string]any{"identifier": map[string]any{"system": eps.SystemNHSNumber, "value": r.patient}},
		"created": time.Now().UTC().Format(time.RFC3339),
		"prescription": map[string]any{"extension": []any{map[string]any{"url": eps.ExtGroupID, "extension": []any{
			map[string]any{"url": "shortForm", "valueIdentifier": map[string]any{"system": eps.SystemShortForm, "value": r.short}},
			map[string]any{"url": "UUID", "valueIdentifier": map[string]any{"system": eps.SystemLongForm, "value": r.long}},
		}}}},
		"payee": map[string]any{"party": map[string]any{"identifier": map[string]any{"system": eps.SystemODS, "value": ods}}},
		"item":  []any{map[string]any{"sequence": 1, "detail": details}},
	}
	if amend {
		c["extension"] = []any{map[string]any{"url": eps.ExtReplacementOf, "valueIdentifier": map[string]any{"system": eps.SystemUUID, "value": trace.NewUUID()}}}
	}
	return c
}

func (w *world) claim(r *rx, ods string, amend bool) resp {
	w.t.Helper()
	return w.do("POST", "/Claim", claimBody(r, ods, amend))
}

func (w *world) cancel(r *rx, items ...string) resp {
	w.t.Helper()
	c := *r
	c.items = nil
	for _, it := range r.items {
		if len(items) == 0 || contains(items, it.id) {
			c.items = append(c.items, it)
		}
	}
	return w.do("POST", "/$process-message", w.bundle(&c, eps.EventOrderUpdate))
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// cancelOutcomes lists the R-codes of a cancellation answer.
func cancelOutcomes(r resp) []string {
	if r.body["resourceType"] == "OperationOutcome" {
		return []string{code(r)}
	}
	var out []string
	for _, e := range r.body["entry"].([]any) {
		res := e.(map[string]any)["resource"].(map[string]any)
		if res["resourceType"] != "MedicationRequest" {
			continue
		}
		for _, x := range res["extension"].([]any) {
			if x.(map[string]any)["url"] == eps.ExtStatusHistory {
				out = append(out, get(x, "extension", 0, "valueCoding", "code").(string))
			}
		}
	}
	return out
}

// track returns the tracking Task of a prescription.
func (w *world) track(r *rx) map[string]any {
	w.t.Helper()
	res := w.do("GET", "/Task/"+r.long, nil)
	expect(w.t, res, 200, "")
	return res.body
}

// status is the business status of a prescription's current issue and its items'.
func (w *world) status(r *rx) (string, []string) {
	w.t.Helper()
	t := w.track(r)
	var items []string
	for _, in := range t["input"].([]any) {
		items = append(items, get(in, "extension", 0, "extension", 0, "valueCoding", "code").(string))
	}
	return get(t, "businessStatus", "coding", 0, "code").(string), items
}

func (w *world) expectStatus(r *rx, want string, items ...string) {
	w.t.Helper()
	st, its := w.status(r)
	if st != want || (len(items) > 0 && strings.Join(its, ",") != strings.Join(items, ",")) {
		w.t.Fatalf("status %s items %v, want %s %v", st, its, want, items)
	}
}

// issues lists the status of every issue.
func (w *world) issues(r *rx) []string {
	w.t.Helper()
	var out []string
	for _, o := range w.track(r)["output"].([]any) {
		out = append(out, get(o, "type", "coding", 0, "code").(string))
	}
	return out
}

func jsonNumber(s string) json.Number { return json.Number(s) }

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}
