package eps

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"testing"

	"github.com/openspine/openspine/internal/fhir"
)

func TestAdapters(t *testing.T) {
	pat, err := fhir.DecodeResource([]byte(`{"resourceType":"Patient","id":"9000000009",
 "extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NominatedPharmacy","valueReference":{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"fa565"}}}]}`), "Patient")
	if err != nil {
		t.Fatal(err)
	}
	if p := PatientFromPDS(pat); p.NHSNumber != "9000000009" || p.NominatedPharmacy != "FA565" || p.Deceased {
		t.Fatalf("%+v", p)
	}
	pat["deceasedDateTime"] = "2020-01-01"
	delete(pat, "extension")
	if p := PatientFromPDS(pat); p.NominatedPharmacy != "" || !p.Deceased {
		t.Fatalf("%+v", p)
	}

	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	role := fhir.Resource{"resourceType": "PractitionerRole", "id": "555021936108", "active": true,
		"identifier":   []any{map[string]any{"system": SystemRole, "value": "555021936108"}},
		"practitioner": map[string]any{"reference": "Practitioner/555021935107"},
		"organization": map[string]any{"reference": "Organization/Y12345"},
		"code":         []any{map[string]any{"coding": []any{map[string]any{"system": SystemJobRole, "code": "R8000"}}}},
		"extension":    []any{map[string]any{"url": ExtSigningKey, "valueString": base64.StdEncoding.EncodeToString(der)}},
	}
	p, err := PrescriberFromRole(role)
	if err != nil || p.RoleProfileID != "555021936108" || p.UserID != "555021935107" || p.OrgODS != "Y12345" ||
		p.JobRole != "R8000" || !p.Active || len(p.Keys) != 1 || !k.PublicKey.Equal(p.Keys[0]) {
		t.Fatalf("%+v %v", p, err)
	}
	role["active"] = false
	role["extension"] = []any{map[string]any{"url": ExtSigningKey, "valueString": "garbage"}}
	if _, err := PrescriberFromRole(role); err == nil {
		t.Fatal("a bad key was accepted")
	}
	delete(role, "extension")
	if p, _ := PrescriberFromRole(role); p.Active {
		t.Fatal("inactive role")
	}
}

// TestAddSigningKeyAndParsePrepared: a key added to a role is read back
// by PrescriberFromRole, beside the one it held; ParsePrepared reads
// $prepare's Parameters and refuses anything else.
func TestAddSigningKeyAndParsePrepared(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	role := map[string]any{"resourceType": "PractitionerRole", "id": "555021936108"}
	for _, k := range []*ecdsa.PrivateKey{k1, k2} {
		if err := AddSigningKey(role, &k.PublicKey); err != nil {
			t.Fatal(err)
		}
	}
	p, err := PrescriberFromRole(role)
	if err != nil || len(p.Keys) != 2 || !k1.PublicKey.Equal(p.Keys[0]) || !k2.PublicKey.Equal(p.Keys[1]) {
		t.Fatalf("keys read back: %v %v", p, err)
	}
	d, when, err := ParsePrepared([]byte(`{"resourceType":"Parameters","parameter":[{"name":"digest","valueString":"abc="},{"name":"timestamp","valueString":"2026-11-25T10:00:00+00:00"},{"name":"algorithm","valueString":"ES256"}]}`))
	if err != nil || d != "abc=" || when != "2026-11-25T10:00:00+00:00" {
		t.Fatalf("prepared: %q %q %v", d, when, err)
	}
	for _, bad := range []string{`{"resourceType":"Parameters","parameter":[{"name":"digest","valueString":"abc="}]}`,
		`{"resourceType":"OperationOutcome","parameter":[{"name":"digest","valueString":"a"},{"name":"timestamp","valueString":"t"}]}`, `[]`} {
		if _, _, err := ParsePrepared([]byte(bad)); err == nil {
			t.Fatalf("accepted %s", bad)
		}
	}
}
