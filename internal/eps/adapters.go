package eps

import (
	"fmt"
	"strings"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/search"
)

// Extensions read by the adapters.
const (
	// ExtNominatedPharmacy is PDS's nominated pharmacy extension on Patient.
	ExtNominatedPharmacy = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NominatedPharmacy"
	// ExtSigningKey holds a prescriber's public signing key on a directory
	// PractitionerRole (valueString: a JWK, a PEM block or base64 DER; one
	// extension per key while keys are rotated).
	ExtSigningKey = "https://fhir.openspine.org/StructureDefinition/Extension-PrescriberSigningKey"
	// SystemJobRole is the SDS job role code system of PractitionerRole.code.
	SystemJobRole = "https://fhir.nhs.uk/CodeSystem/NHSDigital-SDS-JobRoleCode"
)

// PatientFromPDS reads what EPS needs from a PDS Patient resource (as
// pds.Service.Read returns it: the surviving record of a merge).
func PatientFromPDS(res fhir.Resource) *Patient {
	p := &Patient{NHSNumber: str(res, "id")}
	if p.NHSNumber == "" {
		p.NHSNumber = identifier(res["identifier"], SystemNHSNumber)
	}
	if ext := extension(res, ExtNominatedPharmacy); ext != nil {
		p.NominatedPharmacy = strings.ToUpper(identifier(obj(ext, "valueReference")["identifier"], SystemODS))
	}
	if _, ok := res["deceasedDateTime"].(string); ok {
		p.Deceased = true
	}
	if b, ok := res["deceasedBoolean"].(bool); ok && b {
		p.Deceased = true
	}
	return p
}

// PrescriberFromRole reads a Prescriber from a directory PractitionerRole:
// the role profile id (its SDS role profile identifier, else its id), the
// practitioner (Practitioner/{SDS user id} or an sds-user-id identifier),
// the organisation (Organization/{ODS} or an ODS identifier), the SDS job
// role, whether it is active, and the signing keys registered on it
// (ExtSigningKey). A key that does not parse is an error.
func PrescriberFromRole(res fhir.Resource) (*Prescriber, error) {
	p := &Prescriber{RoleProfileID: identifier(res["identifier"], SystemRole), Active: res["active"] != false}
	if p.RoleProfileID == "" {
		p.RoleProfileID = str(res, "id")
	}
	pr := obj(res, "practitioner")
	if typ, id, ok := search.SplitReference(str(pr, "reference")); ok && typ == "Practitioner" {
		p.UserID = id
	} else {
		p.UserID = identifier(pr["identifier"], SystemUser)
	}
	org := obj(res, "organization")
	if typ, id, ok := search.SplitReference(str(org, "reference")); ok && typ == "Organization" {
		p.OrgODS = id
	} else {
		p.OrgODS = identifier(org["identifier"], SystemODS)
	}
	p.OrgODS = strings.ToUpper(p.OrgODS)
	for _, c := range arr(res, "code") {
		if code, _, _ := coding(c, SystemJobRole, "https://fhir.hl7.org.uk/CodeSystem/UKCore-SDSJobRoleName"); code != "" {
			p.JobRole = code
			break
		}
	}
	for _, e := range arr(res, "extension") {
		if str(e, "url") != ExtSigningKey {
			continue
		}
		k, err := signingKeys.parse(str(e, "valueString"))
		if err != nil {
			return nil, fmt.Errorf("PractitionerRole %s: %w", p.RoleProfileID, err)
		}
		p.Keys = append(p.Keys, k)
	}
	return p, nil
}
