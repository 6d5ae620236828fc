// Package audit is the spine's tamper-evident audit trail: one record for
// every request that touches patient data, committed durably before the
// response is released, appended to a Merkle-tree log (RFC 6962 hashing)
// with signed checkpoints, inclusion and consistency proofs, and an
// offline verifier.
package audit

import (
	"context"
	"sync"
	"time"

	"github.com/openspine/openspine/internal/auth"
)

// Record is one audited request. It is stored as its JSON encoding, which
// is the Merkle leaf.
type Record struct {
	Index         int64     `json:"index"` // position in the log (0-based), assigned on append
	Time          time.Time `json:"time"`
	RequestID     string    `json:"request_id"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	Client        string    `json:"client,omitempty"` // client address
	// who
	AppID         string `json:"app,omitempty"`
	AppOrg        string `json:"app_org,omitempty"`
	Mode          string `json:"mode,omitempty"` // application-restricted | user-restricted
	UserID        string `json:"user,omitempty"` // SDS user id
	RoleProfileID string `json:"role_profile,omitempty"`
	JobRole       string `json:"job_role,omitempty"`
	OrgODS        string `json:"org,omitempty"`     // organisation of the user's role
	Patient       string `json:"patient,omitempty"` // NHS number of a patient acting for themself
	// emergency (break-glass) access
	Emergency              bool   `json:"emergency,omitempty"`
	EmergencyReason        string `json:"emergency_reason,omitempty"`
	RelationshipOverridden bool   `json:"relationship_overridden,omitempty"`
	// what
	Service string `json:"service"`
	Action  string `json:"action"` // read, search, create, update, release, ...
	Method  string `json:"method"`
	Route   string `json:"route"`
	Status  int    `json:"status"`
	// which patients (NHS numbers) and resources ("Type/id") were concerned
	Patients  []string `json:"patients,omitempty"`
	Resources []string `json:"resources,omitempty"`
	// Subjects is what the request learnt of the patients it served. It
	// goes with the record, in memory only, to the monitor (which would
	// otherwise read each patient again); it is never stored in the log.
	Subjects map[string]Subject `json:"-"`
}

// Subject is what a request learnt of a patient's record: the facts the
// security monitoring compares.
type Subject struct {
	Surname    string // family name
	Postcode   string // of the home address
	Address    string // first line of the home address
	GP         string // ODS code of the registered practice
	Restricted bool   // the record is restricted (confidentiality R)
	// Details, when set, works out the whole Subject (Restricted included)
	// from what the request read, for a rule that needs the other fields,
	// which are then left empty here: most accesses never need them, and
	// decoding them from a stored record costs more than the rest of a
	// read. The monitor calls it at most once, after the response was sent.
	Details func() (Subject, error)
	// Record, with Details, is the stored JSON they are worked out from:
	// the monitor may screen its text first, and so skip working out the
	// details of a record that cannot hold what a rule looks for.
	Record []byte
}

type collectorKey struct{}

// Collector gathers, during a request, the patients and resources it touched.
type Collector struct {
	mu        sync.Mutex
	patients  []string
	resources []string
	subjects  map[string]Subject
	principal *auth.Principal
}

// WithCollector returns ctx carrying a new Collector.
func WithCollector(ctx context.Context) (context.Context, *Collector) {
	c := &Collector{}
	return context.WithValue(ctx, collectorKey{}, c), c
}

// Patients notes NHS numbers concerned by the request (no-op when the
// request is not audited).
func Patients(ctx context.Context, nhs ...string) {
	if c, ok := ctx.Value(collectorKey{}).(*Collector); ok {
		c.mu.Lock()
		c.patients = append(c.patients, nhs...)
		c.mu.Unlock()
	}
}

// Audited tells whether the request is audited (Describe is then read).
func Audited(ctx context.Context) bool {
	_, ok := ctx.Value(collectorKey{}).(*Collector)
	return ok
}

// Describe notes what the request learnt of patient nhs's record (no-op
// when the request is not audited).
func Describe(ctx context.Context, nhs string, s Subject) {
	if c, ok := ctx.Value(collectorKey{}).(*Collector); ok {
		c.mu.Lock()
		if c.subjects == nil {
			c.subjects = map[string]Subject{}
		}
		c.subjects[nhs] = s
		c.mu.Unlock()
	}
}

// Resources notes resources ("Type/id") concerned by the request.
func Resources(ctx context.Context, refs ...string) {
	if c, ok := ctx.Value(collectorKey{}).(*Collector); ok {
		c.mu.Lock()
		c.resources = append(c.resources, refs...)
		c.mu.Unlock()
	}
}

// Collected returns what was noted, duplicates removed.
func (c *Collector) Collected() (patients, resources []string, subjects map[string]Subject) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return dedupe(c.patients), dedupe(c.resources), c.subjects
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Storage keeps the log: records with their leaf hashes at consecutive
// indexes, and signed checkpoints. The store implements it on SQLite and
// PostgreSQL.
type Storage interface {
	// AppendLeaves stores the records (bodies with their RFC 6962 leaf
	// hashes) at consecutive indexes starting at the current size, in one
	// durable transaction, and returns the index of the first.
	AppendLeaves(ctx context.Context, bodies, hashes [][]byte) (first int64, err error)
	// LeafHashes returns the stored leaf hashes of indexes [from, to).
	LeafHashes(ctx context.Context, from, to int64) ([][]byte, error)
	// Leaves returns the stored bodies of indexes [from, to).
	Leaves(ctx context.Context, from, to int64) ([][]byte, error)
	// LogSize is the number of records.
	LogSize(ctx context.Context) (int64, error)
	// PutCheckpoint stores a signed checkpoint of the given tree size.
	PutCheckpoint(ctx context.Context, size int64, checkpoint []byte) error
	// Checkpoints returns the stored checkpoints, oldest first.
	Checkpoints(ctx context.Context) ([][]byte, error)
}
