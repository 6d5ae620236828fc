package pds

import (
	"context"
	"fmt"

	"github.com/openspine/openspine/internal/directory"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/nhsnumber"
	"github.com/openspine/openspine/internal/population"
	"github.com/openspine/openspine/internal/store"
)

// SeedGenerator is the synthetic population `spine seed` loads: patients
// registered at the demo directory's practices, nominating its pharmacies,
// with NHS numbers kept out of the allocation range and issued in
// ascending order, as an allocator issues them (loaded in that order, the
// unique (type, id) indexes grow at their end instead of taking random
// inserts: a million patients load in ~65 s instead of ~105 s). The
// benchmarks regenerate it with the same seed to know who is stored.
func SeedGenerator(seed int64) *population.Generator {
	var practices, pharmacies []string
	for _, o := range directory.DemoOrganizations {
		switch o.Role {
		case "RO177":
			practices = append(practices, o.ODS)
		case "RO182":
			pharmacies = append(pharmacies, o.ODS)
		}
	}
	ranges := []nhsnumber.Range{{Low: 999000000, High: DefaultAllocation.Low - 1}, population.OverflowRange}
	return population.New(seed, population.Options{Practices: practices, Pharmacies: pharmacies, Ranges: ranges, Sequential: true})
}

// SeedResource is the Patient a generated person is stored as: a merged
// record links to the one that replaced it.
func SeedResource(p population.Patient) fhir.Resource {
	res := p.FHIR()
	if p.SupersededBy != "" {
		res["link"] = []any{map[string]any{"type": "replaced-by", "other": map[string]any{"reference": "Patient/" + p.SupersededBy}}}
	}
	return res
}

// Load stores patients (each with id = its NHS number), and the records
// of their related people (RelatedPeople), in one atomic batch: the bulk
// path of `spine seed` and of tests.
func (s *Service) Load(ctx context.Context, patients []fhir.Resource) error {
	changes := make([]store.Change, 0, len(patients))
	for _, p := range patients {
		if p["resourceType"] == relatedType {
			c, err := relatedChange(p)
			if err != nil {
				return fmt.Errorf("load: %w", err)
			}
			changes = append(changes, c)
			continue
		}
		id, _ := p["id"].(string)
		if id == "" {
			return fmt.Errorf("load: a patient has no id")
		}
		meta, _ := p["meta"].(map[string]any)
		if meta != nil {
			delete(meta, "versionId")
		}
		c, err := s.eng.Prepare("Patient", id, p)
		if err != nil {
			return fmt.Errorf("load patient %s: %w", id, err)
		}
		c.Op = store.Create
		changes = append(changes, c)
	}
	if _, err := s.store.Apply(ctx, changes); err != nil {
		return fmt.Errorf("load %d patients: %w", len(patients), err)
	}
	return nil
}
