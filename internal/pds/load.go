package pds

import (
	"context"
	"fmt"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/store"
)

// Load stores patients (each with id = its NHS number) in one atomic
// batch: the bulk path of `spine seed` and of tests.
func (s *Service) Load(ctx context.Context, patients []fhir.Resource) error {
	changes := make([]store.Change, 0, len(patients))
	for _, p := range patients {
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
