package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/engine"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/nhsnumber"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
)

// ViewBase is where the AuditEvent view is served.
const ViewBase = "/audit/FHIR/R4"

// IndexStore is what the view needs of the store: the log's records and a
// projection of their search keys (rebuilt from the log when behind).
type IndexStore interface {
	Leaves(ctx context.Context, from, to int64) ([][]byte, error)
	LogSize(ctx context.Context) (int64, error)
	IndexAudit(ctx context.Context, keys []store.AuditKey, through int64) error
	AuditIndexed(ctx context.Context) (int64, error)
	AuditLookup(ctx context.Context, key string, before int64, limit int) ([]int64, error)
	AuditLeavesAt(ctx context.Context, idxs []int64) ([][]byte, error)
}

// View serves the audit trail as FHIR AuditEvent resources for privacy
// officers, and to patients the accesses to their own record.
type View struct {
	st   IndexStore
	mu   sync.Mutex // one catch-up or Index at a time
	next int64      // the indexed-through mark as this process last saw it; -1: unknown
}

// NewView creates the view over st.
func NewView(st IndexStore) *View { return &View{st: st, next: -1} }

// Keys are the search keys of a record.
func Keys(r *Record) []string {
	keys := []string{"all"}
	for _, p := range r.Patients {
		keys = append(keys, "patient:"+p)
	}
	if r.Patient != "" {
		keys = append(keys, "patient:"+r.Patient)
	}
	if r.UserID != "" {
		keys = append(keys, "agent:"+r.UserID)
	}
	if r.AppID != "" {
		keys = append(keys, "agent:"+r.AppID)
	}
	if r.OrgODS != "" {
		keys = append(keys, "org:"+r.OrgODS)
	} else if r.AppOrg != "" {
		keys = append(keys, "org:"+r.AppOrg)
	}
	if r.Action != "" {
		keys = append(keys, "action:"+r.Action)
	}
	return keys
}

// catchupChunk is how many records one catch-up step reads and indexes.
const catchupChunk = 4096

// Catchup indexes every record of the log not yet indexed, read from the
// log itself: a search calls it first, so that it sees every record
// appended before it; Index calls it for records it was not given.
func (v *View) Catchup(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	size, err := v.st.LogSize(ctx)
	if err != nil {
		return err
	}
	return v.catchupLocked(ctx, size)
}

// catchupLocked indexes the records from the indexed-through mark up to
// (not including) to, reading them from the log. mu held.
func (v *View) catchupLocked(ctx context.Context, to int64) error {
	from, err := v.st.AuditIndexed(ctx)
	if err != nil {
		return err
	}
	for from < to {
		end := min(from+catchupChunk, to)
		bodies, err := v.st.Leaves(ctx, from, end)
		if err != nil {
			return err
		}
		if int64(len(bodies)) != end-from { // the mark must not pass a record not read
			return fmt.Errorf("audit index: records %d to %d read, %d to %d asked", from, from+int64(len(bodies)), from, end)
		}
		recs := make([]Record, len(bodies))
		for i, b := range bodies {
			if err := json.Unmarshal(b, &recs[i]); err != nil {
				return fmt.Errorf("audit record %d: %w", from+int64(i), err)
			}
			recs[i].Index = from + int64(i)
		}
		if err := v.st.IndexAudit(ctx, recordKeys(recs), end); err != nil {
			return err
		}
		from = end
	}
	v.next = to
	return nil
}

// Index adds the search keys of records delivered by the log (a
// subscription, in index order): those already indexed are skipped, and
// any the delivery missed (a full subscriber buffer, records appended
// before it began) are read from the log first, so the indexed-through
// mark never passes a record whose keys are missing.
func (v *View) Index(ctx context.Context, recs []Record) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.next < 0 {
		n, err := v.st.AuditIndexed(ctx)
		if err != nil {
			return err
		}
		v.next = n
	}
	for len(recs) > 0 && recs[0].Index < v.next {
		recs = recs[1:]
	}
	if len(recs) == 0 {
		return nil
	}
	last := recs[len(recs)-1].Index
	if recs[0].Index != v.next || last-recs[0].Index+1 != int64(len(recs)) {
		return v.catchupLocked(ctx, last+1) // a gap: read the whole range from the log
	}
	if err := v.st.IndexAudit(ctx, recordKeys(recs), last+1); err != nil {
		v.next = -1 // read the mark again next time
		return err
	}
	v.next = last + 1
	return nil
}

// Follow keeps the index up with the log until ctx ends: it catches up
// once, then indexes what a subscription delivers, a second behind, in
// batches of up to 8192 records (keys added together, sorted, share
// b-tree pages). A failed batch is logged and done again with the next
// one or at the next search.
func (v *View) Follow(ctx context.Context, l *Log) {
	records, cancel := l.Subscribe(16384)
	defer cancel()
	if err := v.Catchup(ctx); err != nil && ctx.Err() == nil {
		slog.Error("audit index: catch-up failed", "err", err)
	}
	var batch []Record
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	flush := func() {
		if len(batch) > 0 {
			if err := v.Index(ctx, batch); err != nil && ctx.Err() == nil {
				slog.Error("audit index: indexing failed (done again at the next batch or search)", "err", err)
			}
			batch = batch[:0]
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case r, ok := <-records:
			if !ok {
				return
			}
			batch = append(batch, r)
			if len(batch) >= 8192 {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// recordKeys lists the search keys of records.
func recordKeys(recs []Record) []store.AuditKey {
	keys := make([]store.AuditKey, 0, 6*len(recs))
	for i := range recs {
		for _, k := range Keys(&recs[i]) {
			keys = append(keys, store.AuditKey{Key: k, Index: recs[i].Index})
		}
	}
	return keys
}

// Register mounts GET /audit/FHIR/R4/AuditEvent and the view's
// CapabilityStatement.
func (v *View) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+ViewBase+"/AuditEvent", v.handleSearch)
	mux.HandleFunc("GET "+ViewBase+"/metadata", v.handleMetadata)
}

// handleMetadata states what the view serves: AuditEvent search by the
// parameters handleSearch takes, nothing else.
func (v *View) handleMetadata(w http.ResponseWriter, r *http.Request) {
	params := []any{}
	for _, p := range viewParams {
		params = append(params, map[string]any{"name": p.name, "type": p.typ, "documentation": p.doc})
	}
	engine.WriteCapability(w, r, engine.Capability("OpenSpine audit", "The audit trail as AuditEvent resources, for privacy officers and patients",
		engine.BaseURLOf(r, ViewBase), map[string]any{"resource": []any{map[string]any{
			"type": "AuditEvent", "interaction": []any{map[string]any{"code": "search-type"}}, "searchParam": params,
			"documentation": "Newest first, paged with _before; with none of patient, agent, organization or action, every record. A patient sees only the accesses to their own record.",
		}}}))
}

// viewParams are the parameters of GET AuditEvent: what handleSearch
// takes and what /metadata states.
var viewParams = []struct{ name, typ, doc string }{
	{"patient", "token", "the patient's NHS number"}, {"agent", "token", "a user (UUID) or an application"},
	{"organization", "token", "an ODS code"}, {"action", "token", "read, search, create, update, release, ..."},
	{"date", "date", "a day or instant, or ge/gt/le/lt bounds; repeatable"}, {"_count", "number", "page size"},
	{"_before", "number", "the next page: records before this index"},
}

func (v *View) handleSearch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	for k := range q {
		if !slices.ContainsFunc(viewParams, func(p struct{ name, typ, doc string }) bool { return p.name == k }) {
			fhir.WriteError(w, r, fhir.InvalidSearch("unknown parameter %q (patient, agent, organization, action, date, _count, _before)", k))
			return
		}
	}
	pr := auth.From(ctx)
	patient := q.Get("patient")
	if patient != "" && !nhsnumber.Valid(patient) {
		fhir.WriteError(w, r, fhir.InvalidSearch("patient must be an NHS number"))
		return
	}
	if pr.IsPatient() {
		// patients see who looked at their own record, and nothing else
		if patient != pr.NHSNumber || q.Get("agent") != "" || q.Get("organization") != "" {
			fhir.WriteError(w, r, auth.Forbidden("patients can list only the accesses to their own record (patient=%s)", pr.NHSNumber))
			return
		}
	}
	key := "all"
	switch {
	case patient != "":
		key = "patient:" + patient
	case q.Get("agent") != "":
		key = "agent:" + q.Get("agent")
	case q.Get("organization") != "":
		key = "org:" + q.Get("organization")
	case q.Get("action") != "":
		key = "action:" + q.Get("action")
	}
	count := 50
	if c := q.Get("_count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			fhir.WriteError(w, r, fhir.InvalidSearch("_count must be a positive integer"))
			return
		}
		count = min(n, 500)
	}
	var before int64
	if b := q.Get("_before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 1 {
			fhir.WriteError(w, r, fhir.InvalidSearch("_before must be a record index"))
			return
		}
		before = n
	}
	lo, hi := search.MinTime, search.MaxTime
	for _, d := range q["date"] {
		prefix, val := "eq", d
		if len(d) > 2 && (d[:2] == "ge" || d[:2] == "le" || d[:2] == "gt" || d[:2] == "lt") {
			prefix, val = d[:2], d[2:]
		}
		l, h, ok := search.DateRange(val)
		if !ok {
			fhir.WriteError(w, r, fhir.InvalidSearch("date %q is not a valid date", d))
			return
		}
		switch prefix {
		case "ge", "gt":
			lo = max(lo, l)
		case "le", "lt":
			hi = min(hi, h)
		default:
			lo, hi = max(lo, l), min(hi, h)
		}
	}
	if err := v.Catchup(ctx); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	var matches []Record
	var next int64
	for len(matches) < count {
		idxs, err := v.st.AuditLookup(ctx, key, before, 200)
		if err != nil {
			fhir.WriteError(w, r, err)
			return
		}
		if len(idxs) == 0 {
			break
		}
		bodies, err := v.st.AuditLeavesAt(ctx, idxs)
		if err != nil {
			fhir.WriteError(w, r, err)
			return
		}
		for _, b := range bodies {
			var rec Record
			if json.Unmarshal(b, &rec) != nil {
				continue
			}
			t := rec.Time.UnixMilli()
			if t < lo || t > hi || !matchesFilters(&rec, q) {
				continue
			}
			matches = append(matches, rec)
			if len(matches) == count {
				next = rec.Index
				break
			}
		}
		before = idxs[len(idxs)-1]
		if len(idxs) < 200 {
			break
		}
	}
	base := engine.BaseURLOf(r, ViewBase)
	entries := make([]engine.Entry, len(matches))
	for i := range matches {
		ev := AuditEvent(&matches[i], pr.IsPatient())
		entries[i] = engine.Entry{FullURL: base + "/AuditEvent/" + strconv.FormatInt(matches[i].Index, 10), Resource: fhir.Marshal(ev), Mode: "match"}
		Patients(ctx, matches[i].Patients...)
	}
	links := [][2]string{{"self", base + "/AuditEvent?" + r.URL.RawQuery}}
	if next > 0 {
		nq := r.URL.Query()
		nq.Set("_before", strconv.FormatInt(next, 10))
		links = append(links, [2]string{"next", base + "/AuditEvent?" + nq.Encode()})
	}
	fhir.Write(w, http.StatusOK, engine.BundleJSON("searchset", -1, links, entries))
}

func matchesFilters(r *Record, q map[string][]string) bool {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if a := get("action"); a != "" && r.Action != a {
		return false
	}
	if o := get("organization"); o != "" && r.OrgODS != o && r.AppOrg != o {
		return false
	}
	if a := get("agent"); a != "" && r.UserID != a && r.AppID != a {
		return false
	}
	if p := get("patient"); p != "" {
		found := r.Patient == p
		for _, x := range r.Patients {
			found = found || x == p
		}
		if !found {
			return false
		}
	}
	return true
}

var actionCode = map[string]string{"read": "R", "search": "E", "create": "C", "update": "U", "delete": "D"}

// AuditEvent renders a record in the shape of IHE Basic Audit Log Patterns.
// forPatient leaves out the individual user's identity (a patient sees
// when, which organisation, which role, for what).
func AuditEvent(r *Record, forPatient bool) fhir.Resource {
	act := actionCode[r.Action]
	if act == "" {
		act = "E"
	}
	outcome := "0"
	switch {
	case r.Status >= 500:
		outcome = "8"
	case r.Status >= 400:
		outcome = "4"
	}
	user := map[string]any{"requestor": true, "type": map[string]any{"coding": []any{map[string]any{
		"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP", "display": "information recipient"}}}}
	if r.UserID != "" && !forPatient {
		user["who"] = map[string]any{"identifier": map[string]any{"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": r.UserID}}
	}
	if r.JobRole != "" {
		user["role"] = []any{map[string]any{"coding": []any{map[string]any{"system": "https://fhir.nhs.uk/CodeSystem/NHSDigital-SDS-JobRoleCode", "code": r.JobRole}}}}
	}
	org := r.OrgODS
	if org == "" {
		org = r.AppOrg
	}
	if org != "" {
		user["location"] = map[string]any{"identifier": map[string]any{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": org}}
	}
	if r.Client != "" && !forPatient {
		user["network"] = map[string]any{"address": r.Client, "type": "2"}
	}
	agents := []any{user}
	if r.AppID != "" {
		agents = append(agents, map[string]any{"requestor": false, "who": map[string]any{"display": r.AppID},
			"type": map[string]any{"coding": []any{map[string]any{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110150", "display": "Application"}}}})
	}
	ev := fhir.Resource{
		"resourceType": "AuditEvent",
		"id":           strconv.FormatInt(r.Index, 10),
		"type":         map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
		"subtype":      []any{map[string]any{"system": "https://openspine.org/CodeSystem/spine-action", "code": r.Service + ":" + r.Action}},
		"action":       act,
		"recorded":     r.Time.UTC().Format(time.RFC3339Nano),
		"outcome":      outcome,
		"outcomeDesc":  strconv.Itoa(r.Status),
		"agent":        agents,
		"source":       map[string]any{"observer": map[string]any{"display": "OpenSpine " + r.Service}, "type": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server"}}},
	}
	if r.Emergency {
		ev["purposeOfEvent"] = []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT", "display": "Emergency Treatment"}}, "text": r.EmergencyReason}}
	}
	var entities []any
	for _, p := range r.Patients {
		entities = append(entities, map[string]any{"what": map[string]any{"identifier": map[string]any{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": p}},
			"type": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
			"role": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}})
	}
	if !forPatient && r.RequestID != "" {
		entities = append(entities, map[string]any{"what": map[string]any{"identifier": map[string]any{"system": "https://openspine.org/Id/request-id", "value": r.RequestID}},
			"type": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"}})
	}
	if len(entities) > 0 {
		ev["entity"] = entities
	}
	return ev
}
