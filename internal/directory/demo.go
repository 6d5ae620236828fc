package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/openspine/openspine/internal/engine"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/store"
)

// DemoOrganization is one organisation of the demo directory.
type DemoOrganization struct {
	ODS, Name, Role, Postcode, City, PartOf string
}

// Demo organisations: ids are their ODS codes. F-codes are pharmacies.
var DemoOrganizations = []DemoOrganization{
	{"X26", "NHS England (OpenSpine demo)", "RO116", "LS2 7UE", "Leeds", ""},
	{"RR8", "Leeds Teaching Hospitals NHS Trust", "RO197", "LS9 7TF", "Leeds", ""},
	{"RR813", "St James's University Hospital", "RO198", "LS9 7TF", "Leeds", "RR8"},
	{"Y12345", "Demo Medical Practice", "RO177", "LS1 4HY", "Leeds", ""},
	{"B82001", "Riverside Surgery", "RO177", "HG1 5AR", "Harrogate", ""},
	{"B82005", "Priory Medical Group", "RO177", "YO24 1AW", "York", ""},
	{"FA565", "Demo Pharmacy", "RO182", "LS1 5AB", "Leeds", ""},
	{"FX123", "High Street Pharmacy", "RO182", "HG1 1AA", "Harrogate", ""},
	{"FQ442", "Zoë's Chemist", "RO182", "YO1 7HH", "York", ""},
}

// DemoPractitioner is a person of the demo directory with one role.
type DemoPractitioner struct {
	SDSUser, Family, Given, Prefix, Gender, RoleProfile, JobRole, JobRoleName, Org string
}

// Demo practitioners and their roles (SDS job roles).
var DemoPractitioners = []DemoPractitioner{
	{"555021935107", "Carter", "Amelia", "Dr", "female", "555021936108", "R8000", "Clinical Practitioner Access Role", "Y12345"},
	{"555021935108", "Okafor", "Chidi", "Dr", "male", "555021936109", "R8000", "Clinical Practitioner Access Role", "B82001"},
	{"555021935109", "Nowak", "Zofia", "", "female", "555021936110", "R8001", "Nurse Access Role", "Y12345"},
	{"555021935110", "Patel", "Rohan", "", "male", "555021936111", "R8003", "Health Professional Access Role", "FA565"},
	{"555021935111", "O'Brien", "Siobhán", "", "female", "555021936112", "R8008", "Admin and Clerical Access Role", "Y12345"},
	{"555021935112", "Hughes", "Gareth", "Dr", "male", "555021936113", "R8000", "Clinical Practitioner Access Role", "RR8"},
}

// LoadDemo writes the demo directory in one transaction. It does nothing
// (and returns false) when the directory already holds any organisation.
func LoadDemo(ctx context.Context, svc *engine.Service) (bool, error) {
	if _, err := svc.Store.Read(ctx, "Organization", "X26"); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	var changes []store.Change
	add := func(typ, id string, res fhir.Resource) error {
		res["resourceType"] = typ
		c, err := svc.Prepare(typ, id, res)
		if err != nil {
			return fmt.Errorf("demo %s/%s: %w", typ, id, err)
		}
		c.Op = store.Create
		changes = append(changes, c)
		return nil
	}
	for _, o := range DemoOrganizations {
		res := fhir.Resource{
			"identifier": []any{map[string]any{"system": ODSSystem, "value": o.ODS}},
			"active":     true,
			"name":       o.Name,
			"type":       []any{map[string]any{"coding": []any{map[string]any{"system": OrgRoleSystem, "code": o.Role}}}},
			"address":    []any{map[string]any{"city": o.City, "postalCode": o.Postcode, "country": "GB"}},
		}
		if o.PartOf != "" {
			res["partOf"] = map[string]any{"reference": "Organization/" + o.PartOf}
		}
		if err := add("Organization", o.ODS, res); err != nil {
			return false, err
		}
	}
	for _, p := range DemoPractitioners {
		name := map[string]any{"use": "usual", "family": p.Family, "given": []any{p.Given}}
		if p.Prefix != "" {
			name["prefix"] = []any{p.Prefix}
		}
		err := add("Practitioner", p.SDSUser, fhir.Resource{
			"identifier": []any{map[string]any{"system": SDSUserSystem, "value": p.SDSUser}},
			"active":     true, "name": []any{name}, "gender": p.Gender,
		})
		if err != nil {
			return false, err
		}
		err = add("PractitionerRole", p.RoleProfile, fhir.Resource{
			"identifier":   []any{map[string]any{"system": SDSRoleProfile, "value": p.RoleProfile}},
			"active":       true,
			"practitioner": map[string]any{"reference": "Practitioner/" + p.SDSUser},
			"organization": map[string]any{"reference": "Organization/" + p.Org},
			"code":         []any{map[string]any{"coding": []any{map[string]any{"system": SDSJobRoleSystem, "code": p.JobRole, "display": p.JobRoleName}}}},
		})
		if err != nil {
			return false, err
		}
	}
	if _, err := svc.Store.Apply(ctx, changes); err != nil {
		return false, fmt.Errorf("load demo directory: %w", err)
	}
	return true, nil
}
