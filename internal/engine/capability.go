package engine

import (
	"net/http"
	"time"

	"github.com/openspine/openspine/internal/fhir"
)

// Version is the software version reported in the CapabilityStatement.
var Version = "0.1.0"

// CapabilityStatement describes what this service really serves.
func (s *Service) CapabilityStatement(baseURL string) fhir.Resource {
	var resources []any
	for _, name := range s.TypeNames() {
		t := s.types[name]
		var params []any
		for _, p := range t.Params {
			sp := map[string]any{"name": p.Name, "type": string(p.Type)}
			if p.Doc != "" {
				sp["documentation"] = p.Doc
			}
			params = append(params, sp)
		}
		params = append(params, map[string]any{"name": "_id", "type": "token"}, map[string]any{"name": "_lastUpdated", "type": "date"})
		var interactions []any
		for _, code := range []string{"read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"} {
			interactions = append(interactions, map[string]any{"code": code})
		}
		r := map[string]any{
			"type": name, "interaction": interactions, "versioning": "versioned-update",
			"readHistory": true, "updateCreate": t.UpdateCreate, "conditionalCreate": true,
			"conditionalRead": "not-match", "conditionalUpdate": false, "conditionalDelete": "not-supported",
			"searchInclude": includes(s, name, false), "searchRevInclude": includes(s, name, true),
			"searchParam": params,
		}
		if t.Doc != "" {
			r["documentation"] = t.Doc
		}
		resources = append(resources, r)
	}
	cs := Capability("OpenSpine "+s.Name, "OpenSpine "+s.Name+" service", baseURL, map[string]any{
		"resource":    resources,
		"interaction": []any{map[string]any{"code": "transaction"}, map[string]any{"code": "batch"}, map[string]any{"code": "history-system"}},
	})
	cs["format"] = []any{"application/fhir+json", "json"}
	cs["patchFormat"] = []any{"application/json-patch+json"}
	return cs
}

// Capability returns a CapabilityStatement of what one of the spine's
// APIs serves: its software name (with Version), its description, its
// base URL, and rest, the members of its one server rest entry (resource,
// operation, interaction). Every API's /metadata is built with it; a
// caller adds members the statement needs beyond these (patchFormat).
func Capability(software, description, baseURL string, rest map[string]any) fhir.Resource {
	entry := map[string]any{"mode": "server"}
	for k, v := range rest {
		entry[k] = v
	}
	return fhir.Resource{
		"resourceType": "CapabilityStatement", "status": "active", "date": time.Now().UTC().Format("2006-01-02"),
		"publisher": "OpenSpine", "kind": "instance", "fhirVersion": "4.0.1", "format": []any{"application/fhir+json"},
		"software":       map[string]any{"name": software, "version": Version},
		"implementation": map[string]any{"description": description, "url": baseURL},
		"rest":           []any{entry},
	}
}

// WriteCapability answers GET /metadata with cs, after the request's
// Accept header is checked as every other route checks it.
func WriteCapability(w http.ResponseWriter, r *http.Request, cs fhir.Resource) {
	if err := fhir.CheckAccept(r); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	fhir.WriteResource(w, http.StatusOK, cs)
}

func includes(s *Service, typ string, rev bool) []any {
	out := []any{}
	for _, name := range s.TypeNames() {
		for _, p := range s.types[name].Params {
			if p.Type != "reference" {
				continue
			}
			if !rev && name == typ {
				out = append(out, name+":"+p.Name)
			}
			if rev {
				for _, t := range p.Targets {
					if t == typ {
						out = append(out, name+":"+p.Name)
					}
				}
			}
		}
	}
	return out
}

func (s *Service) handleMetadata(w http.ResponseWriter, r *http.Request) {
	WriteCapability(w, r, s.CapabilityStatement(s.BaseURL(r)))
}
