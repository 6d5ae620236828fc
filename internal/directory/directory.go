// Package directory is the national directory of organisations,
// practitioners and their roles (what ODS and the Spine Directory Service
// are in England), served as FHIR R4 at /directory/FHIR/R4.
package directory

import (
	"fmt"
	"regexp"

	"github.com/openspine/openspine/internal/engine"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
)

// Base is where the directory is served.
const Base = "/directory/FHIR/R4"

// Identifier and code systems used by the directory.
const (
	ODSSystem          = "https://fhir.nhs.uk/Id/ods-organization-code"
	ODSSiteSystem      = "https://fhir.nhs.uk/Id/ods-site-code"
	SDSUserSystem      = "https://fhir.nhs.uk/Id/sds-user-id"
	SDSRoleProfile     = "https://fhir.nhs.uk/Id/sds-role-profile-id"
	SDSJobRoleSystem   = "https://fhir.nhs.uk/CodeSystem/NHSDigital-SDS-JobRoleCode"
	OrgRoleSystem      = "https://fhir.nhs.uk/CodeSystem/organisation-role"
	EndpointASIDSystem = "https://fhir.nhs.uk/Id/nhsSpineASID"
)

var (
	odsPattern     = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)
	sdsUserPattern = regexp.MustCompile(`^[0-9]{12}$`)
	jobRolePattern = regexp.MustCompile(`^(S[0-9]{4}:G[0-9]{4}:)?R[0-9]{4}$`)
	digitsPattern  = regexp.MustCompile(`^[0-9]{1,20}$`)
)

func p(name string, t search.Type, doc string, paths ...string) search.Param {
	return search.Param{Name: name, Type: t, Paths: paths, Doc: doc}
}

func ref(name, doc, path string, targets ...string) search.Param {
	return search.Param{Name: name, Type: search.Reference, Paths: []string{path}, Targets: targets, Doc: doc}
}

// Types are the resource types of the directory with their search parameters.
func Types() []engine.TypeDef {
	return []engine.TypeDef{
		{Name: "Organization", Doc: "Care organisations, identified by ODS code", Validate: validateOrganization, Params: []search.Param{
			p("identifier", search.Token, "ODS code (system|code or code)", "identifier"),
			p("name", search.String, "Name or alias (starts with, case- and accent-insensitive)", "name", "alias"),
			p("address", search.String, "Any part of the address", "address"),
			p("address-postalcode", search.String, "Postcode", "address.postalCode"),
			p("address-city", search.String, "Town or city", "address.city"),
			p("type", search.Token, "Organisation role/type", "type"),
			p("active", search.Token, "Whether the organisation is active", "active"),
			ref("partof", "The organisation this one is part of", "partOf", "Organization"),
			ref("endpoint", "Technical endpoints", "endpoint", "Endpoint"),
		}},
		{Name: "Practitioner", Doc: "Clinicians and staff, identified by SDS user id", Validate: validatePractitioner, Params: []search.Param{
			p("identifier", search.Token, "SDS user id or professional code", "identifier"),
			p("name", search.String, "Any part of the name", "name"),
			p("family", search.String, "Family name", "name.family"),
			p("given", search.String, "Given name", "name.given"),
			p("active", search.Token, "Whether the record is active", "active"),
			p("gender", search.Token, "Gender", "gender"),
		}},
		{Name: "PractitionerRole", Doc: "A practitioner's role at an organisation (SDS role profile and job role)", Validate: validatePractitionerRole, Params: []search.Param{
			p("identifier", search.Token, "SDS role profile id", "identifier"),
			ref("practitioner", "The practitioner", "practitioner", "Practitioner"),
			ref("organization", "The organisation", "organization", "Organization"),
			p("role", search.Token, "SDS job role code", "code"),
			p("specialty", search.Token, "Specialty", "specialty"),
			p("active", search.Token, "Whether the role is active", "active"),
			ref("location", "Where the role is performed", "location", "Location"),
			ref("service", "Services provided in this role", "healthcareService", "HealthcareService"),
			p("date", search.Date, "Period of the role", "period"),
		}},
		{Name: "Location", Doc: "Sites where care is given", Validate: validateCommon("Location"), Params: []search.Param{
			p("identifier", search.Token, "ODS site code", "identifier"),
			p("name", search.String, "Name or alias", "name", "alias"),
			p("address", search.String, "Any part of the address", "address"),
			p("address-postalcode", search.String, "Postcode", "address.postalCode"),
			p("type", search.Token, "Location type", "type"),
			p("status", search.Token, "active | suspended | inactive", "status"),
			ref("organization", "Managing organisation", "managingOrganization", "Organization"),
			ref("partof", "Containing location", "partOf", "Location"),
		}},
		{Name: "HealthcareService", Doc: "Services offered by organisations", Validate: validateCommon("HealthcareService"), Params: []search.Param{
			p("identifier", search.Token, "Service identifier", "identifier"),
			p("name", search.String, "Service name", "name"),
			ref("organization", "Providing organisation", "providedBy", "Organization"),
			p("service-type", search.Token, "Type of service", "type"),
			p("specialty", search.Token, "Specialty", "specialty"),
			p("active", search.Token, "Whether the service is active", "active"),
			ref("location", "Where the service is offered", "location", "Location"),
			ref("endpoint", "Technical endpoints", "endpoint", "Endpoint"),
		}},
		{Name: "Endpoint", Doc: "Technical endpoints (ASID, MESH mailbox, URL)", Validate: validateCommon("Endpoint"), Params: []search.Param{
			p("identifier", search.Token, "Endpoint identifier (e.g. ASID)", "identifier"),
			p("name", search.String, "Endpoint name", "name"),
			ref("organization", "Managing organisation", "managingOrganization", "Organization"),
			p("status", search.Token, "Endpoint status", "status"),
			p("connection-type", search.Token, "Protocol/profile", "connectionType"),
		}},
	}
}

// New creates the directory service over st.
func New(st store.Store) *engine.Service {
	return engine.NewService("directory", Base, st, Types()...)
}

// identifiers returns the identifier objects of res, checked for shape.
func identifiers(typ string, res fhir.Resource) ([]map[string]any, error) {
	raw, present := res["identifier"]
	if !present {
		return nil, nil
	}
	arr, ok := raw.([]any)
	if !ok {
		return nil, fhir.Invalid("%s.identifier must be an array", typ).At(typ + ".identifier")
	}
	var out []map[string]any
	for i, e := range arr {
		m, ok := e.(map[string]any)
		at := fmt.Sprintf("%s.identifier[%d]", typ, i)
		if !ok {
			return nil, fhir.Invalid("%s must be an object", at).At(at)
		}
		if _, ok := m["value"].(string); !ok {
			return nil, fhir.Missing("%s.value is missing", at).At(at + ".value")
		}
		if s, present := m["system"]; present {
			if _, ok := s.(string); !ok {
				return nil, fhir.Invalid("%s.system must be a string", at).At(at + ".system")
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// checkIdentifier checks every identifier of system against pattern.
func checkIdentifier(typ string, res fhir.Resource, system string, pattern *regexp.Regexp, what string) (int, error) {
	ids, err := identifiers(typ, res)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, m := range ids {
		if m["system"] != system {
			continue
		}
		n++
		if v := m["value"].(string); !pattern.MatchString(v) {
			at := fmt.Sprintf("%s.identifier[%d].value", typ, i)
			return n, fhir.Invalid("%q is not a valid %s", v, what).At(at)
		}
	}
	return n, nil
}

func validateCommon(typ string) func(fhir.Resource) error {
	return func(res fhir.Resource) error {
		if _, err := identifiers(typ, res); err != nil {
			return err
		}
		if a, present := res["active"]; present {
			if _, ok := a.(bool); !ok {
				return fhir.Invalid("%s.active must be true or false", typ).At(typ + ".active")
			}
		}
		if n, present := res["name"]; present && typ != "Practitioner" {
			if _, ok := n.(string); !ok {
				return fhir.Invalid("%s.name must be a string", typ).At(typ + ".name")
			}
		}
		return nil
	}
}

func validateOrganization(res fhir.Resource) error {
	if err := validateCommon("Organization")(res); err != nil {
		return err
	}
	n, err := checkIdentifier("Organization", res, ODSSystem, odsPattern, "ODS organisation code (3 to 10 upper-case letters and digits)")
	if err != nil {
		return err
	}
	if _, ok := res["name"].(string); !ok && n == 0 {
		return fhir.Missing("an Organization needs a name or an ODS code identifier").At("Organization.name")
	}
	return nil
}

func validatePractitioner(res fhir.Resource) error {
	if err := validateCommon("Practitioner")(res); err != nil {
		return err
	}
	if _, err := checkIdentifier("Practitioner", res, SDSUserSystem, sdsUserPattern, "SDS user id (12 digits)"); err != nil {
		return err
	}
	if n, present := res["name"]; present {
		if _, ok := n.([]any); !ok {
			return fhir.Invalid("Practitioner.name must be an array of HumanName").At("Practitioner.name")
		}
	}
	if g, present := res["gender"]; present {
		switch g {
		case "male", "female", "other", "unknown":
		default:
			return fhir.Invalid("Practitioner.gender must be male, female, other or unknown").At("Practitioner.gender")
		}
	}
	return nil
}

func validatePractitionerRole(res fhir.Resource) error {
	if err := validateCommon("PractitionerRole")(res); err != nil {
		return err
	}
	if _, err := checkIdentifier("PractitionerRole", res, SDSRoleProfile, digitsPattern, "SDS role profile id (digits)"); err != nil {
		return err
	}
	if o, present := res["organization"]; present {
		m, ok := o.(map[string]any)
		if !ok || (m["reference"] == nil && m["identifier"] == nil) {
			return fhir.Invalid("PractitionerRole.organization must be a Reference").At("PractitionerRole.organization")
		}
	}
	codes, _ := res["code"].([]any)
	for i, c := range codes {
		cc, _ := c.(map[string]any)
		codings, _ := cc["coding"].([]any)
		for j, cd := range codings {
			m, _ := cd.(map[string]any)
			if m["system"] == SDSJobRoleSystem {
				if code, _ := m["code"].(string); !jobRolePattern.MatchString(code) {
					at := fmt.Sprintf("PractitionerRole.code[%d].coding[%d].code", i, j)
					return fhir.Invalid("%q is not an SDS job role code (R followed by 4 digits)", code).At(at)
				}
			}
		}
	}
	return nil
}
