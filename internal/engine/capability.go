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
	return fhir.Resource{
		"resourceType": "CapabilityStatement", "status": "active", "date": time.Now().UTC().Format("2006-01-02"),
		"publisher": "OpenSpine", "kind": "instance", "fhirVersion": "4.0.1", "format": []any{"application/fhir+json", "json"},
		"software":       map[string]any{"name": "OpenSpine " + s.Name, "version": Version},
		"implementation": map[string]any{"description": "OpenSpine " + s.Name + " service", "url": baseURL},
		"patchFormat":    []any{"application/json-patch+json"},
		"rest": []any{map[string]any{
			"mode": "server", "resource": resources,
			"interaction": []any{map[string]any{"code": "transaction"}, map[string]any{"code": "batch"}, map[string]any{"code": "history-system"}},
		}},
	}
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
	if err := fhir.CheckAccept(r); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	fhir.WriteResource(w, http.StatusOK, s.CapabilityStatement(s.BaseURL(r)))
}
