// Package eps is the Electronic Prescription Service, served at
// /electronic-prescriptions/FHIR/R4 on the contract of NHS England's EPS
// FHIR API (NHSDigital/electronic-prescription-service-api): $prepare and
// signed prescription-order messages, cancellation, nominated and
// patient (by short-form id) release, return, dispense notifications and
// their withdrawal, claims, repeat dispensing, expiry and tracking.
//
// Each prescription is one internal resource (_Prescription, id = the
// long-form id) holding the signed order, the state of each issue and line
// item, the dispenser and the history. Every message is a read, a pure
// transition of the state machine (state.go) and one store.Apply with
// IfMatch on the version read, together with the answer recorded against
// the request's X-Request-ID and the message's identifier: concurrent
// messages serialise, and a retried message is answered again, not
// applied twice.
package eps

import (
	"context"
	"crypto"
	"net/http"
	"time"

	"github.com/openspine/openspine/internal/engine"
	"github.com/openspine/openspine/internal/store"
)

// Base is where EPS is served.
const Base = "/electronic-prescriptions/FHIR/R4"

// Patient is what EPS needs to know about a patient from PDS.
type Patient struct {
	// NHSNumber is the patient's current NHS number (the surviving record
	// when the one asked for was merged into another).
	NHSNumber string
	// NominatedPharmacy is the ODS code of the patient's nominated
	// dispenser (the Extension-UKCore-NominatedPharmacy of the PDS record);
	// "" when none.
	NominatedPharmacy string
	Deceased          bool
}

// PatientLookup finds patients in PDS.
type PatientLookup interface {
	// Patient returns the patient with this NHS number, or nil (and no
	// error) when there is none (unknown or invalidated).
	Patient(ctx context.Context, nhsNumber string) (*Patient, error)
}

// Prescriber is a practitioner role of the directory, with the public keys
// registered against it for signing prescriptions.
type Prescriber struct {
	RoleProfileID string // SDS role profile id (the PractitionerRole)
	UserID        string // SDS user id of the practitioner ("" when unknown)
	OrgODS        string // ODS code of the role's organisation
	JobRole       string // SDS job role code, e.g. R8000
	Active        bool
	// Keys verify the prescriber's signatures: *ecdsa.PublicKey (P-256,
	// ES256) or *rsa.PublicKey (RS256); several while a key is rotated.
	Keys []crypto.PublicKey
}

// PrescriberKeys finds prescribers (practitioner roles) in the directory.
type PrescriberKeys interface {
	// Prescriber returns the role with this SDS role profile id, or nil
	// (and no error) when there is none.
	Prescriber(ctx context.Context, roleProfileID string) (*Prescriber, error)
}

// Service is EPS over the shared store.
type Service struct {
	store    store.Store
	eng      *engine.Service
	patients PatientLookup
	keys     PrescriberKeys
	shorts   shortForms

	// Now is the clock (tests move it).
	Now func() time.Time
	// MaxRelease bounds a nominated release (the contract's 25).
	MaxRelease int
	// ExpiryInterval is how often Run sweeps for expired prescriptions.
	ExpiryInterval time.Duration
}

// New creates the service.
func New(st store.Store, patients PatientLookup, keys PrescriberKeys) *Service {
	return &Service{
		store: st, patients: patients, keys: keys,
		eng:        engine.NewService("electronic-prescriptions", Base, st, TypeDefs()...),
		Now:        func() time.Time { return time.Now().UTC() },
		MaxRelease: 25, ExpiryInterval: time.Minute,
	}
}

// Engine exposes the engine holding the internal types (for reindexing).
func (s *Service) Engine() *engine.Service { return s.eng }

// Register mounts the EPS routes.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+Base+"/$prepare", s.handlePrepare)
	mux.HandleFunc("POST "+Base+"/$process-message", s.handleProcessMessage)
	mux.HandleFunc("POST "+Base+"/$verify-signature", s.handleVerifySignature)
	mux.HandleFunc("POST "+Base+"/Task/$release", s.handleRelease)
	mux.HandleFunc("POST "+Base+"/Task", s.handleTask)
	mux.HandleFunc("POST "+Base+"/Claim", s.handleClaim)
	mux.HandleFunc("GET "+Base+"/Task", s.handleTrack)
	mux.HandleFunc("GET "+Base+"/Task/{id}", s.handleTrackOne)
	mux.HandleFunc("GET "+Base+"/metadata", s.handleMetadata)
}

func (s *Service) now() time.Time { return s.Now().UTC() }

func (s *Service) handleMetadata(w http.ResponseWriter, r *http.Request) {
	ops := []any{}
	for _, op := range []string{"prepare", "process-message", "verify-signature", "release"} {
		ops = append(ops, map[string]any{"name": op, "definition": "https://fhir.nhs.uk/OperationDefinition/" + op})
	}
	engine.WriteCapability(w, r, engine.Capability("OpenSpine EPS", "Electronic Prescription Service", engine.BaseURLOf(r, Base), map[string]any{
		"operation": ops, "resource": []any{
			map[string]any{"type": "Task", "interaction": []any{map[string]any{"code": "create"}, map[string]any{"code": "read"}, map[string]any{"code": "search-type"}},
				"operation": []any{map[string]any{"name": "release", "definition": "https://fhir.nhs.uk/OperationDefinition/Task-release"}}},
			map[string]any{"type": "Claim", "interaction": []any{map[string]any{"code": "create"}}},
		}}))
}
