// Package engine is the FHIR R4 REST engine shared by every OpenSpine
// service: resource types with their search parameters are registered on a
// Service, which then offers the FHIR interactions both as Go methods (for
// services with contracts of their own, such as PDS) and as generic HTTP
// handlers (read, vread, create, update, patch, delete, history, search,
// batch/transaction, capabilities).
package engine

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
)

// TypeDef declares a resource type served by a Service.
type TypeDef struct {
	Name   string
	Params []search.Param
	// Validate applies the service's rules to a resource about to be
	// written (nil: structural checks only). It returns a *fhir.Error.
	Validate func(res fhir.Resource) error
	// Index, when set, adjusts the index entries extracted from Params
	// (derived keys, normalised values; nil hides the resource from search).
	Index func(res fhir.Resource, entries []search.Entry) []search.Entry
	// IndexVersion changes whenever Index derives different rows from the
	// same resource: stored rows are then rebuilt (Service.EnsureIndexed).
	IndexVersion int
	// UpdateCreate lets PUT create a resource with a client-chosen id.
	UpdateCreate bool
	Doc          string

	params map[string]search.Param
}

// IndexEntries are the search index rows of a resource of this type (the
// same for a write and for a reindex).
func (t *TypeDef) IndexEntries(res fhir.Resource) []search.Entry {
	entries := search.Extract(res, t.Params)
	if t.Index != nil {
		entries = t.Index(res, entries)
	}
	return entries
}

// Service is one FHIR endpoint (a base URL) over the shared store.
type Service struct {
	Name  string
	Base  string // e.g. /directory/FHIR/R4
	Store store.Store
	// MaxBody bounds request bodies (bytes).
	MaxBody int64
	// SnapshotCap bounds the matches kept for consistent paging.
	SnapshotCap int

	types map[string]*TypeDef
	pages *pageCache
}

// NewService creates a service serving the given types.
func NewService(name, base string, st store.Store, types ...TypeDef) *Service {
	s := &Service{Name: name, Base: base, Store: st, MaxBody: fhir.MaxBody, SnapshotCap: 10000,
		types: map[string]*TypeDef{}, pages: newPageCache(20000)}
	for i := range types {
		t := types[i]
		t.params = map[string]search.Param{}
		keys := map[int64]string{}
		for _, p := range t.Params {
			t.params[p.Name] = p
			// Index rows are keyed by store.ParamKey: two parameters of one
			// type under one key would find each other's rows.
			k := store.ParamKey(t.Name, p.Name)
			if other := keys[k]; other != "" && other != p.Name {
				panic(fmt.Sprintf("engine: search parameters %q and %q of %s share the index key %d: rename one", other, p.Name, t.Name, k))
			}
			keys[k] = p.Name
		}
		s.types[t.Name] = &t
	}
	return s
}

// Params implements search.Registry.
func (s *Service) Params(typ string) (map[string]search.Param, bool) {
	t, ok := s.types[typ]
	if !ok {
		return nil, false
	}
	return t.params, true
}

// Type returns the definition of a registered type.
func (s *Service) Type(name string) (*TypeDef, error) {
	t, ok := s.types[name]
	if !ok {
		return nil, fhir.NewError(http.StatusNotFound, fhir.CodeUnsupportedService, "resource type %q is not served at %s", name, s.Base)
	}
	return t, nil
}

// TypeNames lists the registered types in order.
func (s *Service) TypeNames() []string {
	var out []string
	for n := range s.types {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
