// Package store keeps FHIR resources, their versions and their search
// index rows in a relational database: SQLite (the embedded default, with a
// single writer that group-commits concurrent writes into one fsync) or
// PostgreSQL (production). Both share one SQL implementation; they differ
// in schema types, placeholders and how writes are serialised.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openspine/openspine/internal/search"
)

// Ref names one version of a resource.
type Ref struct {
	Type    string
	ID      string
	Version int64
}

// Record is one stored version of a resource.
type Record struct {
	Ref
	Seq     int64 // global write sequence (history order)
	Updated time.Time
	Deleted bool
	Body    []byte // canonical JSON with meta.versionId and meta.lastUpdated; empty when Deleted
}

// Op is the kind of a Change.
type Op int

// The write operations.
const (
	Create Op = iota + 1
	Update
	Delete
)

// Change is one write. Changes passed together to Apply commit atomically.
type Change struct {
	Op          Op
	Type, ID    string
	IfMatch     int64         // when > 0, the current version must equal it
	AllowCreate bool          // Update: create the resource if it does not exist
	IfNoneExist *search.Query // Create: when it matches one resource, write nothing and return it
	// Render produces the body to store once the new version and time are
	// known (Create and Update).
	Render func(version int64, updated time.Time) ([]byte, error)
	Index  []search.Entry
	// Unversioned marks a Create of a record that is written once and
	// only ever read as it is (Read): it gets no row in the version
	// table, so it has no history and cannot be read by version (an
	// internal record: a recorded answer, a fixed pairing of ids). A
	// change that says so must be a plain Create, and the record must not
	// be changed afterwards (its first version would have no history).
	Unversioned bool
}

// Outcome reports what a Change did.
type Outcome struct {
	Record
	Created  bool // a new resource was created
	Existing bool // IfNoneExist matched: Record is the existing resource, nothing written
	NoOp     bool // Delete of a missing or already deleted resource
}

// Errors returned by the store. VersionConflict carries the current version.
var (
	ErrNotFound        = errors.New("resource not found")
	ErrDeleted         = errors.New("resource deleted")
	ErrExists          = errors.New("resource already exists")
	ErrMultipleMatches = errors.New("conditional create matched more than one resource")
	ErrClosed          = errors.New("store closed")
	// ErrNotDurable: the write was committed (others may have seen it) but
	// could not be made durable; it must not be acknowledged.
	ErrNotDurable = errors.New("write not durable")
)

// VersionConflict is returned when IfMatch does not equal the current version.
type VersionConflict struct {
	Type, ID string
	Want     int64
	Current  int64 // 0 when the resource does not exist
}

func (e *VersionConflict) Error() string {
	return fmt.Sprintf("%s/%s: version %d expected, current is %d", e.Type, e.ID, e.Want, e.Current)
}

// ChangeError says which change of a batch failed.
type ChangeError struct {
	Index int
	Err   error
}

func (e *ChangeError) Error() string { return fmt.Sprintf("change %d: %v", e.Index, e.Err) }
func (e *ChangeError) Unwrap() error { return e.Err }

// HistoryQuery selects versions: of one resource (Type and ID), of a type
// (Type), or of everything; newest first.
type HistoryQuery struct {
	Type, ID string
	Before   int64 // only versions with Seq < Before (0: no bound); the paging cursor
	Since    int64 // only versions updated at or after this Unix ms (0: no bound)
	Count    int
}

// Store is the storage interface of the engine.
type Store interface {
	// Read returns the current version of a resource (Deleted set when its
	// latest version is a deletion); ErrNotFound when it never existed.
	Read(ctx context.Context, typ, id string) (Record, error)
	// ReadVersion returns one version; ErrNotFound when absent.
	ReadVersion(ctx context.Context, typ, id string, version int64) (Record, error)
	// Fetch returns the given versions in the order given (missing ones
	// skipped); a Ref of Version 0 stands for the current version (Deleted
	// set when it is a deletion).
	Fetch(ctx context.Context, refs []Ref) ([]Record, error)
	// History lists versions newest first.
	History(ctx context.Context, q HistoryQuery) ([]Record, error)
	// Search returns up to limit current, non-deleted matches in sort order.
	Search(ctx context.Context, q *search.Query, limit int) ([]Ref, error)
	// Count counts all matches.
	Count(ctx context.Context, q *search.Query) (int, error)
	// Include returns the current resources that src references through inc.
	Include(ctx context.Context, src []Ref, inc search.Include, limit int) ([]Record, error)
	// RevInclude returns current resources that reference targets through inc.
	RevInclude(ctx context.Context, targets []Ref, inc search.Include, limit int) ([]Record, error)
	// Apply commits changes atomically and durably (fsync) before returning.
	Apply(ctx context.Context, changes []Change) ([]Outcome, error)
	// Reindex rebuilds the index rows of every current resource of typ.
	Reindex(ctx context.Context, typ string, extract func(body []byte) ([]search.Entry, error)) (int, error)
	// NextSequence durably reserves n values of a named counter and returns
	// the first; values are never handed out twice, even after a crash.
	NextSequence(ctx context.Context, name string, n int64) (int64, error)
	// BulkLoad runs load (which calls Apply) with the search indexes
	// dropped and rebuilds them afterwards: for loading millions of resources.
	BulkLoad(ctx context.Context, load func() error) error
	// Claim records key until the given time; fresh is false when the key
	// is already claimed and not yet expired (atomic across processes).
	Claim(ctx context.Context, key string, until time.Time) (fresh bool, err error)
	// TakeToken takes n tokens from the shared bucket key (refilled at
	// rate per second up to burst); when too few remain it says how long to wait.
	TakeToken(ctx context.Context, key string, rate float64, burst, n int) (ok bool, retryAfter time.Duration, err error)
	// Setting returns a named setting kept with the data ("" when unset);
	// SetSetting stores one durably. The schema version is one ("schema").
	Setting(ctx context.Context, key string) (string, error)
	SetSetting(ctx context.Context, key, value string) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Backend names the implementation ("sqlite" or "postgres").
	Backend() string
	Close() error
}

// Open opens the store named by dsn: "sqlite" (a file in dataDir) or a
// postgres:// URL.
func Open(ctx context.Context, dsn, dataDir string) (Store, error) {
	if dsn == "" || dsn == "sqlite" {
		return OpenSQLite(ctx, dataDir)
	}
	if len(dsn) > 11 && (dsn[:11] == "postgres://" || len(dsn) > 13 && dsn[:13] == "postgresql://") {
		return OpenPostgres(ctx, dsn)
	}
	return nil, fmt.Errorf("unknown database %q: use sqlite or a postgres:// URL", dsn)
}
