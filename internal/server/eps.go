package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/engine"
	"github.com/openspine/openspine/internal/eps"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/pds"
	"github.com/openspine/openspine/internal/store"
)

// epsPatients gives EPS the patient's nomination and status from PDS.
type epsPatients struct{ pds *pds.Service }

func (a epsPatients) Patient(ctx context.Context, nhs string) (*eps.Patient, error) {
	rec, res, err := a.pds.Read(ctx, nhs)
	if err != nil {
		if fhir.AsError(err).Status == http.StatusNotFound {
			return nil, nil
		}
		return nil, err
	}
	// the monitor then needs no look-up of its own, for this request and
	// (from its cache) for the prescription's later steps
	audit.Describe(ctx, rec.ID, pds.SubjectOf(res))
	return eps.PatientFromPDS(res), nil
}

// epsKeys gives EPS a prescriber's role and signing keys from the directory.
type epsKeys struct{ dir *engine.Service }

func (a epsKeys) Prescriber(ctx context.Context, role string) (*eps.Prescriber, error) {
	if !fhir.ValidID(role) {
		return nil, nil
	}
	rec, err := a.dir.Store.Read(ctx, "PractitionerRole", role)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.Deleted) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	res, err := fhir.DecodeStored(rec.Body)
	if err != nil {
		return nil, err
	}
	return eps.PrescriberFromRole(res)
}
