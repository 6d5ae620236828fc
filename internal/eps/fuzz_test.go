package eps

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/trace"
)

type fuzzPDS struct{}

func (fuzzPDS) Patient(_ context.Context, nhs string) (*Patient, error) {
	switch nhs {
	case "9000000009":
		return &Patient{NHSNumber: nhs, NominatedPharmacy: "FA565"}, nil
	case "9000000017":
		return &Patient{NHSNumber: nhs}, nil
	}
	return nil, nil
}

type fuzzDirectory struct{ key *ecdsa.PrivateKey }

func (d fuzzDirectory) Prescriber(_ context.Context, role string) (*Prescriber, error) {
	if role != "555021936108" {
		return nil, nil
	}
	return &Prescriber{RoleProfileID: role, UserID: "555021935107", OrgODS: "Y12345", JobRole: "R8000", Active: true,
		Keys: []crypto.PublicKey{&d.key.PublicKey}}, nil
}

// fuzzOrder is a prescription-order message for the fuzz seeds.
func fuzzOrder(short, long, item string, now time.Time) map[string]any {
	var doc map[string]any
	raw := `{"resourceType":"Bundle","type":"message","identifier":{"system":"https://tools.ietf.org/html/rfc4122","value":"` + trace.NewUUID() + `"},
"entry":[{"fullUrl":"urn:uuid:h","resource":{"resourceType":"MessageHeader","eventCoding":{"system":"https://fhir.nhs.uk/CodeSystem/message-event","code":"prescription-order"},
 "sender":{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"Y12345"}},"source":{"endpoint":"urn:x"},"focus":[{"reference":"urn:uuid:m"}]}},
{"fullUrl":"urn:uuid:m","resource":{"resourceType":"MedicationRequest","identifier":[{"system":"https://fhir.nhs.uk/Id/prescription-order-item-number","value":"` + item + `"}],
 "status":"active","intent":"order","medicationCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"322237000","display":"Paracetamol 500mg soluble tablets"}]},
 "subject":{"reference":"urn:uuid:p"},"authoredOn":"` + now.Format(time.RFC3339) + `","requester":{"reference":"urn:uuid:r"},
 "groupIdentifier":{"extension":[{"url":"https://fhir.nhs.uk/StructureDefinition/Extension-DM-PrescriptionId","valueIdentifier":{"system":"https://fhir.nhs.uk/Id/prescription","value":"` + long + `"}}],
  "system":"https://fhir.nhs.uk/Id/prescription-order-number","value":"` + short + `"},
 "courseOfTherapyType":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy","code":"continuous-repeat-dispensing"}]},
 "dosageInstruction":[{"text":"One tablet four times a day"}],
 "dispenseRequest":{"extension":[{"url":"https://fhir.nhs.uk/StructureDefinition/Extension-DM-PerformerSiteType","valueCoding":{"system":"https://fhir.nhs.uk/CodeSystem/dispensing-site-preference","code":"P1"}}],
  "numberOfRepeatsAllowed":2,"expectedSupplyDuration":{"value":28,"unit":"day"},"validityPeriod":{"start":"` + now.Format("2006-01-02") + `","end":"` + now.AddDate(1, 0, 0).Format("2006-01-02") + `"},
  "quantity":{"value":100,"unit":"tablet"}},
 "extension":[{"url":"https://fhir.nhs.uk/StructureDefinition/Extension-DM-ControlledDrug","extension":[{"url":"schedule","valueCoding":{"code":"CD4-1"}}]}]}},
{"fullUrl":"urn:uuid:p","resource":{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}]}},
{"fullUrl":"urn:uuid:r","resource":{"resourceType":"PractitionerRole","identifier":[{"system":"https://fhir.nhs.uk/Id/sds-role-profile-id","value":"555021936108"}],
 "practitioner":{"reference":"urn:uuid:u"},"organization":{"reference":"urn:uuid:o"}}},
{"fullUrl":"urn:uuid:u","resource":{"resourceType":"Practitioner","identifier":[{"system":"https://fhir.nhs.uk/Id/sds-user-id","value":"555021935107"}],"name":[{"family":"Carter"}]}},
{"fullUrl":"urn:uuid:o","resource":{"resourceType":"Organization","identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"Y12345"}]}}]}`
	v, err := fhir.DecodeValue([]byte(raw))
	if err != nil {
		panic(err)
	}
	doc = v.(map[string]any)
	return doc
}

// signFuzz adds a valid signature (ES256 JWS) at the time given.
func signFuzz(doc map[string]any, key *ecdsa.PrivateKey, when string) {
	b, err := parseBundle(doc)
	if err != nil {
		panic(err)
	}
	o, err := parseOrder(b, false)
	if err != nil {
		panic(err)
	}
	sg, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	obj, _ := sg.Sign([]byte(base64Std(digest(o.canonical(when)))))
	c, _ := obj.CompactSerialize()
	doc["entry"] = append(doc["entry"].([]any), map[string]any{"fullUrl": "urn:uuid:s", "resource": map[string]any{
		"resourceType": "Provenance", "signature": []any{map[string]any{"when": when, "who": map[string]any{"reference": "urn:uuid:r"}, "data": base64Std([]byte(c))}}}})
}

// fuzzDispense is a dispense notification of the seed prescription.
func fuzzDispense(short, long, item, status, itemStatus string) map[string]any {
	raw := `{"resourceType":"Bundle","type":"message","identifier":{"value":"` + trace.NewUUID() + `"},"entry":[
{"resource":{"resourceType":"MessageHeader","eventCoding":{"code":"dispense-notification"},"sender":{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"FA565"}}}},
{"resource":{"resourceType":"MedicationDispense","extension":[{"url":"https://fhir.nhs.uk/StructureDefinition/Extension-EPS-TaskBusinessStatus","valueCoding":{"system":"https://fhir.nhs.uk/CodeSystem/EPS-task-business-status","code":"` + status + `"}}],
 "subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}},
 "authorizingPrescription":[{"extension":[{"url":"https://fhir.nhs.uk/StructureDefinition/Extension-DM-GroupIdentifier","extension":[
   {"url":"shortForm","valueIdentifier":{"system":"https://fhir.nhs.uk/Id/prescription-order-number","value":"` + short + `"}},
   {"url":"UUID","valueIdentifier":{"system":"https://fhir.nhs.uk/Id/prescription","value":"` + long + `"}}]}],
  "identifier":{"system":"https://fhir.nhs.uk/Id/prescription-order-item-number","value":"` + item + `"}}],
 "type":{"coding":[{"system":"https://fhir.nhs.uk/CodeSystem/medicationdispense-type","code":"` + itemStatus + `"}]}}}]}`
	v, err := fhir.DecodeValue([]byte(raw))
	if err != nil {
		panic(err)
	}
	return v.(map[string]any)
}

// FuzzProcessMessage: whatever arrives at $process-message, the service
// never panics nor fails with a 5xx: it answers 200 or a contract refusal,
// always with JSON. Seeds (testdata/fuzz and below) are a signed
// repeat-dispensing order, its cancellation, dispense notifications and
// an amendment of one, so mutations reach deep into validation and the state machine.
func FuzzProcessMessage(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	s := New(st, fuzzPDS{}, fuzzDirectory{key: key})
	mux := http.NewServeMux()
	s.Register(mux)

	post := func(path string, body []byte) int {
		req := httptest.NewRequest("POST", Base+path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("X-Request-ID", trace.NewUUID())
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := 0; i < 3; i++ {
		// A signed order (a new prescription each time the fuzzer keeps it).
		short, long, item := NewShortFormID("Y12345"), NewLongFormID(), trace.NewUUID()
		order := fuzzOrder(short, long, item, s.now())
		signFuzz(order, key, s.now().Format(signatureTime))
		f.Add(fhir.Marshal(order))
		// A prescription already with FA565: its dispense notifications and cancellation.
		short, long, item = NewShortFormID("Y12345"), NewLongFormID(), trace.NewUUID()
		order = fuzzOrder(short, long, item, s.now())
		signFuzz(order, key, s.now().Format(signatureTime))
		if post("/$process-message", fhir.Marshal(order)) != 200 ||
			post("/Task/$release", []byte(`{"resourceType":"Parameters","parameter":[{"name":"status","valueCode":"accepted"},
				{"name":"owner","valueIdentifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"FA565"}},
				{"name":"group-identifier","valueIdentifier":{"system":"https://fhir.nhs.uk/Id/prescription-order-number","value":"`+short+`"}}]}`)) != 200 {
			f.Fatal("seed prescription not set up")
		}
		f.Add(fhir.Marshal(fuzzDispense(short, long, item, StatusDispensed, ItemDispensed)))
		partial := fuzzDispense(short, long, item, StatusWithDispenserActive, ItemPartial)
		f.Add(fhir.Marshal(partial))
		// an amendment of a notification that was applied
		if post("/$process-message", fhir.Marshal(partial)) != 200 {
			f.Fatal("seed notification not applied")
		}
		amendment := fuzzDispense(short, long, item, StatusDispensed, ItemDispensed)
		amendment["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)["extension"] = []any{map[string]any{
			"url": ExtReplacementOf, "valueIdentifier": map[string]any{"system": SystemUUID, "value": partial["identifier"].(map[string]any)["value"]}}}
		f.Add(fhir.Marshal(amendment))
		f.Add(fhir.Marshal(fuzzDispense(short, long, item, StatusNotDispensed, ItemNotDispensed)))
		cancel := fuzzOrder(short, long, item, s.now())
		cancel["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)["eventCoding"] = map[string]any{"code": "prescription-order-update"}
		mr := cancel["entry"].([]any)[1].(map[string]any)["resource"].(map[string]any)
		mr["status"], mr["statusReason"] = "cancelled", map[string]any{"coding": []any{map[string]any{"code": "0001"}}}
		f.Add(fhir.Marshal(cancel))
	}
	f.Add([]byte(`{"resourceType":"Bundle","type":"message","identifier":{"value":"x"},"entry":[{"resource":{"resourceType":"MessageHeader"}}]}`))
	f.Add([]byte(`{"resourceType":"Parameters"}`))
	f.Add([]byte(`[]`))

	allowed := map[int]bool{200: true, 400: true, 403: true, 404: true, 409: true, 413: true, 415: true}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", Base+"/$process-message", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("X-Request-ID", trace.NewUUID())
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("answered %d: %s", rec.Code, rec.Body.String())
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || (v["resourceType"] != "OperationOutcome" && v["resourceType"] != "Bundle") {
			t.Fatalf("answer is not an OperationOutcome or Bundle: %s", rec.Body.String())
		}
		// Whatever was accepted left a consistent record.
		if rec.Code == 200 {
			if b, err := fhir.DecodeValue(body); err == nil {
				if bd, err := parseBundle(b.(map[string]any)); err == nil && bd.event() == EventOrder {
					if o, err := parseOrder(bd, false); err == nil {
						p, err := s.loadShort(req.Context(), o.ShortForm)
						if err != nil || p.ID != o.LongForm || len(p.Issues) != o.Issues {
							t.Fatalf("accepted order not stored consistently: %v", err)
						}
					}
				}
			}
		}
	})
}
