package pds

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/nhsnumber"
	"github.com/openspine/openspine/internal/store"
)

// allowPatient applies the per-patient policy (patients reach only their
// own record) when the request was authenticated.
func (s *Service) allowPatient(ctx context.Context, action, nhs string) error {
	pr := auth.From(ctx)
	if pr == nil || s.Policy == nil {
		return nil
	}
	return s.Policy.AllowPatient(ctx, pr, "pds", action, nhs)
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// checkHeaders applies the PDS header rules: X-Request-ID is mandatory and a UUID.
func checkHeaders(r *http.Request) error {
	id := r.Header.Get("X-Request-ID")
	if id == "" {
		return fhir.NewError(http.StatusBadRequest, fhir.CodeMissingValue, "Invalid request with error - X-Request-ID header must be supplied to access this resource")
	}
	if !uuidPattern.MatchString(id) {
		return fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidValue, "Invalid value - '%s' in header 'X-Request-ID'", id)
	}
	return fhir.CheckAccept(r)
}

func invalidNHS(id string) error {
	return fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidResourceID, "Resource Id is invalid: %q is not a valid NHS number", id)
}

// maxSupersededHops bounds the chain of merged records followed on a read.
const maxSupersededHops = 5

// Read returns the patient with NHS number id as stored (unredacted): a
// superseded record resolves to the surviving one; an invalidated one is 404
// INVALIDATED_RESOURCE.
func (s *Service) Read(ctx context.Context, id string) (store.Record, fhir.Resource, error) {
	if !nhsnumber.Valid(id) {
		return store.Record{}, nil, invalidNHS(id)
	}
	for hop := 0; ; hop++ {
		rec, err := s.store.Read(ctx, "Patient", id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && rec.Deleted) {
			return rec, nil, fhir.NewError(http.StatusNotFound, fhir.CodeResourceNotFound, "Patient %s was not found", id)
		}
		if err != nil {
			return rec, nil, err
		}
		res, err := fhir.DecodeStored(rec.Body)
		if err != nil {
			return rec, nil, err
		}
		if security(res) == "REDACTED" {
			return rec, nil, fhir.NewError(http.StatusNotFound, CodeInvalidatedResource, "Patient %s has been invalidated", id)
		}
		next := supersededBy(res)
		if next == "" {
			return rec, res, nil
		}
		if hop >= maxSupersededHops || !nhsnumber.Valid(next) {
			return rec, nil, errors.New("superseded chain of " + id + " is broken")
		}
		id = next
	}
}

// redact removes what a restricted record never reveals — to anyone but
// the patient themself.
func redact(ctx context.Context, res fhir.Resource) {
	if security(res) != "R" {
		return
	}
	if pr := auth.From(ctx); pr.IsPatient() && pr.NHSNumber == res["id"] {
		return
	}
	delete(res, "address")
	delete(res, "telecom")
	delete(res, "contact")
	delete(res, "generalPractitioner")
	removeExtensions(res, ExtNominatedPharmacy)
}

func removeExtensions(res fhir.Resource, urls ...string) {
	exts, _ := res["extension"].([]any)
	var keep []any
outer:
	for _, e := range exts {
		m, _ := e.(map[string]any)
		for _, u := range urls {
			if m["url"] == u {
				continue outer
			}
		}
		keep = append(keep, e)
	}
	if len(keep) == 0 {
		delete(res, "extension")
	} else {
		res["extension"] = keep
	}
}

func writePatient(w http.ResponseWriter, r *http.Request, status int, rec store.Record, res fhir.Resource) {
	redact(r.Context(), res)
	w.Header().Set("ETag", `W/"`+strconv.FormatInt(rec.Version, 10)+`"`)
	fhir.WriteResource(w, status, res)
}

func (s *Service) handleRead(w http.ResponseWriter, r *http.Request) {
	if err := checkHeaders(r); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	id := r.PathValue("id")
	// Scope first: a patient asking for another number learns nothing,
	// not even whether it exists.
	err := s.allowPatient(r.Context(), "read", id)
	var rec store.Record
	var res fhir.Resource
	if err == nil {
		audit.Patients(r.Context(), id)
		rec, res, err = s.Read(r.Context(), id)
		if err == nil && rec.ID != id {
			audit.Patients(r.Context(), rec.ID) // the surviving record of a merge
		}
	}
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	if security(res) != "R" {
		// nothing to remove: serve the stored bytes as they are
		w.Header().Set("ETag", `W/"`+strconv.FormatInt(rec.Version, 10)+`"`)
		fhir.Write(w, http.StatusOK, rec.Body)
		return
	}
	writePatient(w, r, http.StatusOK, rec, res)
}
