package population

import "github.com/openspine/openspine/internal/matching"

// FHIR systems and extension URLs used by the PDS FHIR API.
const (
	SystemNHSNumber       = "https://fhir.nhs.uk/Id/nhs-number"
	SystemODSCode         = "https://fhir.nhs.uk/Id/ods-organization-code"
	SystemConfidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
	// The published PDS API uses the UK Core (fhir.hl7.org.uk) URLs for
	// these extensions.
	ExtNHSNumberVerificationStatus = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
	SystemNHSNumberVerification    = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus"
	ExtNominatedPharmacy           = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NominatedPharmacy"
	ExtDeathNotificationStatus     = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeathNotificationStatus"
	SystemDeathNotificationStatus  = "https://fhir.hl7.org.uk/CodeSystem/UKCore-DeathNotificationStatus"
)

// Security returns the confidentiality code of the record: "R" for
// restricted, otherwise "U".
func (p Patient) Security() string {
	if p.Restricted {
		return "R"
	}
	return "U"
}

// Deceased reports whether the patient has a date of death.
func (p Patient) Deceased() bool { return p.DeceasedDateTime != "" }

// Person returns the patient's demographics for matching.Score and
// matching.Keys: the usual name, previous names, and current and previous
// home postcodes.
func (p Patient) Person() matching.Person {
	var mp matching.Person
	for i, n := range p.Names {
		mn := matching.Name{Family: n.Family, Given: n.Given}
		if i == 0 {
			mp.Name = mn
		} else {
			mp.HistoricNames = append(mp.HistoricNames, mn)
		}
	}
	mp.Gender = p.Gender
	mp.BirthDate = p.BirthDate
	for i, a := range p.Addresses {
		if i == 0 {
			mp.Postcode = a.PostalCode
		} else {
			mp.HistoricPostcodes = append(mp.HistoricPostcodes, a.PostalCode)
		}
	}
	return mp
}

func period(start, end string) map[string]any {
	m := map[string]any{}
	if start != "" {
		m["start"] = start
	}
	if end != "" {
		m["end"] = end
	}
	return m
}

func strs(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// FHIR returns the patient as a PDS FHIR R4 Patient resource, shaped like
// the examples in the PDS FHIR API specification, with id = NHS number and
// meta.versionId "1". It is the full stored record: for a restricted
// patient (meta.security R) the API must still remove address, telecom and
// generalPractitioner before returning it. A superseded patient's record
// is rendered like any other; SupersededBy is not part of the resource.
func (p Patient) FHIR() map[string]any {
	res := map[string]any{
		"resourceType": "Patient",
		"id":           p.NHSNumber,
		"meta": map[string]any{
			"versionId": "1",
			"security": []any{map[string]any{
				"system":  SystemConfidentiality,
				"code":    p.Security(),
				"display": map[bool]string{false: "unrestricted", true: "restricted"}[p.Restricted],
			}},
		},
		"identifier": []any{map[string]any{
			"system": SystemNHSNumber,
			"value":  p.NHSNumber,
			"extension": []any{map[string]any{
				"url": ExtNHSNumberVerificationStatus,
				"valueCodeableConcept": map[string]any{
					"coding": []any{map[string]any{
						"system":  SystemNHSNumberVerification,
						"version": "1.0.0",
						"code":    "01",
						"display": "Number present and verified",
					}},
				},
			}},
		}},
		"gender":    p.Gender,
		"birthDate": p.BirthDate,
	}
	names := make([]any, 0, len(p.Names))
	for _, n := range p.Names {
		m := map[string]any{
			"id":     n.ID,
			"use":    n.Use,
			"period": period(n.Start, n.End),
			"given":  strs(n.Given),
			"family": n.Family,
		}
		if len(n.Prefix) > 0 {
			m["prefix"] = strs(n.Prefix)
		}
		names = append(names, m)
	}
	res["name"] = names
	if len(p.Addresses) > 0 {
		addrs := make([]any, 0, len(p.Addresses))
		for _, a := range p.Addresses {
			addrs = append(addrs, map[string]any{
				"id":         a.ID,
				"period":     period(a.Start, a.End),
				"use":        a.Use,
				"line":       strs(a.Lines),
				"postalCode": a.PostalCode,
			})
		}
		res["address"] = addrs
	}
	if len(p.Telecom) > 0 {
		tels := make([]any, 0, len(p.Telecom))
		for _, t := range p.Telecom {
			tels = append(tels, map[string]any{
				"id":     t.ID,
				"period": period(p.Addresses[0].Start, ""),
				"system": t.System,
				"value":  t.Value,
				"use":    t.Use,
			})
		}
		res["telecom"] = tels
	}
	if p.GP != "" {
		res["generalPractitioner"] = []any{map[string]any{
			"id":   p.GPID,
			"type": "Organization",
			"identifier": map[string]any{
				"system": SystemODSCode,
				"value":  p.GP,
				"period": period(p.GPStart, ""),
			},
		}}
	}
	var ext []any
	if p.Pharmacy != "" {
		ext = append(ext, map[string]any{
			"url": ExtNominatedPharmacy,
			"valueReference": map[string]any{
				"identifier": map[string]any{"system": SystemODSCode, "value": p.Pharmacy},
			},
		})
	}
	if p.DeceasedDateTime != "" {
		res["deceasedDateTime"] = p.DeceasedDateTime
		ext = append(ext, map[string]any{
			"url": ExtDeathNotificationStatus,
			"extension": []any{
				map[string]any{
					"url": "deathNotificationStatus",
					"valueCodeableConcept": map[string]any{
						"coding": []any{map[string]any{
							"system":  SystemDeathNotificationStatus,
							"version": "1.0.0",
							"code":    "2",
							"display": "Formal - death notice received from Registrar of Deaths",
						}},
					},
				},
				map[string]any{"url": "systemEffectiveDate", "valueDateTime": p.DeceasedDateTime},
			},
		})
	}
	if len(ext) > 0 {
		res["extension"] = ext
	}
	return res
}

// Systems and extensions of the PDS FHIR API's RelatedPerson.
const (
	SystemRelatedPersonRole = "https://fhir.nhs.uk/R4/CodeSystem/UKCore-AdditionalRelatedPersonRole"
	SystemRoleCode          = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
	SystemNextOfKin         = "http://terminology.hl7.org/CodeSystem/v2-0131"
	ExtCopyCorrespondence   = "https://fhir.nhs.uk/R4/StructureDefinition/Extension-UKCore-CopyCorrespondenceIndicator"
	ExtContactRank          = "https://fhir.nhs.uk/R4/StructureDefinition/Extension-UKCore-ContactRank"
)

// relationshipDisplays are the displays of the codes Related uses.
var relationshipDisplays = map[string]string{
	"Personal": "Personal relationship with the patient", "Guardian": "Guardian of patient", "Agent": "Agent of patient",
	"Carer": "Carer of patient", "MTH": "mother", "FTH": "father", "SPS": "spouse", "DOMPART": "domestic partner",
	"CHILD": "child", "SIS": "sister", "BRO": "brother", "N": "Next-of-Kin",
}

// FHIR returns the related person as a PDS RelatedPerson resource of the
// patient with NHS number subject. Its patient element names the related
// person's own record when they are given by reference, else the subject
// (as the PDS sandbox does); the API adds the reference URL.
func (rp Related) FHIR(subject string) map[string]any {
	ref := subject
	if rp.Patient != "" {
		ref = rp.Patient
	}
	coding := []any{map[string]any{"system": SystemRelatedPersonRole, "code": rp.Role, "display": relationshipDisplays[rp.Role]}}
	if rp.Type != rp.Role {
		system := SystemRoleCode
		if rp.Type == "Carer" {
			system = SystemRelatedPersonRole
		}
		coding = append(coding, map[string]any{"system": system, "code": rp.Type, "display": relationshipDisplays[rp.Type]})
	}
	if rp.NextOfKin {
		coding = append(coding, map[string]any{"system": SystemNextOfKin, "code": "N", "display": relationshipDisplays["N"]})
	}
	res := map[string]any{
		"resourceType": "RelatedPerson",
		"id":           rp.ID,
		"patient": map[string]any{
			"type":       "Patient",
			"identifier": map[string]any{"system": SystemNHSNumber, "value": ref},
		},
		"active":       true,
		"period":       period(rp.Start, ""),
		"relationship": []any{map[string]any{"coding": coding}},
		"extension": []any{
			map[string]any{"url": ExtCopyCorrespondence, "valueBoolean": rp.CopyCorrespondence},
			map[string]any{"url": ExtContactRank, "valuePositiveInt": rp.Rank},
		},
	}
	if rp.Patient != "" {
		return res
	}
	n := map[string]any{"use": rp.Name.Use, "given": strs(rp.Name.Given), "family": rp.Name.Family}
	if len(rp.Name.Prefix) > 0 {
		n["prefix"] = strs(rp.Name.Prefix)
	}
	res["name"] = []any{n}
	res["address"] = []any{map[string]any{"use": rp.Address.Use, "line": strs(rp.Address.Lines), "postalCode": rp.Address.PostalCode}}
	if len(rp.Telecom) > 0 {
		tels := make([]any, 0, len(rp.Telecom))
		for _, t := range rp.Telecom {
			tels = append(tels, map[string]any{"system": t.System, "value": t.Value, "use": t.Use})
		}
		res["telecom"] = tels
	}
	return res
}
