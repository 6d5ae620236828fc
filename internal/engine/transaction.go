package engine

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/trace"
)

// MaxBundleEntries bounds batch and transaction Bundles.
const MaxBundleEntries = 1000

type bundleEntry struct {
	index       int
	fullURL     string
	method      string
	typ, id     string
	query       string // search part of request.url
	resource    fhir.Resource
	ifMatch     int64
	ifNoneExist string
	// results
	change   *store.Change
	existing *store.Record
	response []byte // resource to return
	outcome  any    // OperationOutcome of a failed entry
	status   string
	rec      store.Record
}

func (s *Service) handleBundle(w http.ResponseWriter, r *http.Request) {
	res, err := s.readResource(w, r, "Bundle")
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	kind, _ := res["type"].(string)
	if kind != "transaction" && kind != "batch" {
		fhir.WriteError(w, r, fhir.Invalid("Bundle.type must be transaction or batch to be processed, not %q", kind).At("Bundle.type"))
		return
	}
	raw, _ := res["entry"].([]any)
	if len(raw) > MaxBundleEntries {
		fhir.WriteError(w, r, fhir.NewError(http.StatusRequestEntityTooLarge, fhir.CodeMessageTooLarge, "a Bundle may hold at most %d entries", MaxBundleEntries))
		return
	}
	entries := make([]*bundleEntry, len(raw))
	for i, e := range raw {
		be, err := s.parseEntry(i, e)
		if err != nil {
			if kind == "transaction" {
				fhir.WriteError(w, r, err)
				return
			}
			be = &bundleEntry{index: i}
			be.fail(err)
		}
		entries[i] = be
	}
	if kind == "transaction" {
		err = s.transaction(r, entries)
	} else {
		s.batch(r, entries)
	}
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	out := make([]Entry, len(entries))
	base := s.BaseURL(r)
	for i, e := range entries {
		resp := map[string]any{"status": e.status}
		if e.outcome != nil {
			resp["outcome"] = e.outcome
		}
		if e.rec.Version > 0 && e.method != http.MethodGet {
			resp["location"] = base + "/" + e.rec.Type + "/" + e.rec.ID + "/_history/" + strconv.FormatInt(e.rec.Version, 10)
			resp["etag"] = etag(e.rec.Version)
			resp["lastModified"] = e.rec.Updated.Format(fhir.InstantFormat)
		}
		ent := Entry{Response: resp, Resource: e.response}
		if e.rec.ID != "" && e.method != http.MethodDelete {
			ent.FullURL = base + "/" + e.rec.Type + "/" + e.rec.ID
		}
		out[i] = ent
	}
	fhir.Write(w, http.StatusOK, BundleJSON(kind+"-response", -1, nil, out))
}

func (e *bundleEntry) fail(err error) {
	fe := fhir.AsError(err)
	e.status = strconv.Itoa(fe.Status) + " " + http.StatusText(fe.Status)
	e.outcome = fe.Outcome()
}

func (s *Service) parseEntry(i int, raw any) (*bundleEntry, error) {
	at := fmt.Sprintf("Bundle.entry[%d]", i)
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fhir.Invalid("%s is not an object", at).At(at)
	}
	req, _ := m["request"].(map[string]any)
	if req == nil {
		return nil, fhir.Missing("%s.request is missing", at).At(at + ".request")
	}
	e := &bundleEntry{index: i}
	e.fullURL, _ = m["fullUrl"].(string)
	e.method, _ = req["method"].(string)
	rawURL, _ := req["url"].(string)
	if rawURL == "" {
		return nil, fhir.Missing("%s.request.url is missing", at).At(at + ".request.url")
	}
	path, query, _ := strings.Cut(rawURL, "?")
	path = strings.TrimPrefix(strings.TrimPrefix(path, s.Base), "/")
	if i := strings.Index(path, s.Base+"/"); i >= 0 { // absolute URL
		path = path[i+len(s.Base)+1:]
	}
	parts := strings.Split(path, "/")
	e.typ, e.query = parts[0], query
	if len(parts) > 1 {
		e.id = parts[1]
	}
	if _, err := s.Type(e.typ); err != nil {
		return nil, fhir.AsError(err).At(at + ".request.url")
	}
	if e.id != "" && !fhir.ValidID(e.id) {
		return nil, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidResourceID, "%s.request.url has an invalid id %q", at, e.id).At(at + ".request.url")
	}
	if h, ok := req["ifMatch"].(string); ok {
		v, good := ParseETag(h)
		if !good {
			return nil, fhir.Invalid("%s.request.ifMatch %q is not a version ETag", at, h).At(at + ".request.ifMatch")
		}
		e.ifMatch = v
	}
	e.ifNoneExist, _ = req["ifNoneExist"].(string)
	switch e.method {
	case http.MethodPost, http.MethodPut:
		res, _ := m["resource"].(map[string]any)
		if res == nil {
			return nil, fhir.Missing("%s.resource is missing for %s", at, e.method).At(at + ".resource")
		}
		if rt, _ := res["resourceType"].(string); rt != e.typ {
			return nil, fhir.Invalid("%s.resource is a %q but request.url names %s", at, rt, e.typ).At(at + ".resource")
		}
		e.resource = res
		if e.method == http.MethodPut && e.id == "" {
			return nil, fhir.Invalid("%s: PUT needs Type/id in request.url (conditional update is not supported)", at).At(at + ".request.url")
		}
		if e.method == http.MethodPost && e.id != "" {
			return nil, fhir.Invalid("%s: POST goes to the type, not to Type/id", at).At(at + ".request.url")
		}
	case http.MethodDelete:
		if e.id == "" {
			return nil, fhir.Invalid("%s: DELETE needs Type/id (conditional delete is not supported)", at).At(at + ".request.url")
		}
	case http.MethodGet:
	default:
		return nil, fhir.Invalid("%s.request.method %q is not supported in bundles (GET, POST, PUT, DELETE)", at, e.method).At(at + ".request.method")
	}
	return e, nil
}

// transaction applies every write entry atomically, resolving urn:uuid
// references between entries, then runs the reads.
func (s *Service) transaction(r *http.Request, entries []*bundleEntry) error {
	ctx := r.Context()
	refs := map[string]string{} // fullUrl -> Type/id
	for _, e := range entries {
		if e.method != http.MethodPost {
			if e.method == http.MethodPut && e.fullURL != "" {
				refs[e.fullURL] = e.typ + "/" + e.id
			}
			continue
		}
		if e.ifNoneExist != "" {
			q, err := s.parseCondition(e.typ, e.ifNoneExist)
			if err != nil {
				return fhir.AsError(err).At(fmt.Sprintf("Bundle.entry[%d].request.ifNoneExist", e.index))
			}
			found, err := s.Store.Search(ctx, q, 2)
			if err != nil {
				return err
			}
			if len(found) > 1 {
				return fhir.NewError(http.StatusPreconditionFailed, fhir.CodeMultipleMatches, "Bundle.entry[%d].request.ifNoneExist matched more than one resource", e.index)
			}
			if len(found) == 1 {
				rec, err := s.Store.Read(ctx, found[0].Type, found[0].ID)
				if err != nil {
					return err
				}
				e.existing = &rec
				e.id = rec.ID
			}
		}
		if e.id == "" {
			e.id = trace.NewTimeUUID()
		}
		if e.fullURL != "" {
			refs[e.fullURL] = e.typ + "/" + e.id
		}
	}
	var changes []store.Change
	var writers []*bundleEntry
	// FHIR processing order: DELETE, POST, PUT; GET after the commit.
	for _, method := range []string{http.MethodDelete, http.MethodPost, http.MethodPut} {
		for _, e := range entries {
			if e.method != method || e.existing != nil {
				continue
			}
			var c store.Change
			if e.resource != nil {
				rewriteRefs(e.resource, refs)
				if method == http.MethodPut {
					if rid, ok := e.resource["id"].(string); ok && rid != e.id {
						return fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidResourceID, "Bundle.entry[%d]: resource id %q does not match request.url", e.index, rid)
					}
				}
				var err error
				if c, err = s.Prepare(e.typ, e.id, e.resource); err != nil {
					return fhir.AsError(err).At(fmt.Sprintf("Bundle.entry[%d].resource", e.index))
				}
			} else {
				c = store.Change{Type: e.typ, ID: e.id}
			}
			c.IfMatch = e.ifMatch
			switch method {
			case http.MethodDelete:
				c.Op = store.Delete
			case http.MethodPost:
				c.Op = store.Create
			case http.MethodPut:
				t, _ := s.Type(e.typ)
				c.Op, c.AllowCreate = store.Update, t.UpdateCreate
			}
			changes = append(changes, c)
			writers = append(writers, e)
		}
	}
	if len(changes) > 0 {
		out, err := s.Store.Apply(ctx, changes)
		if err != nil {
			var ce *store.ChangeError
			if errors.As(err, &ce) {
				fe := fhir.AsError(s.StoreError(err))
				fe2 := *fe
				fe2.Diagnostics = fmt.Sprintf("Bundle.entry[%d] failed, nothing was applied: %s", writers[ce.Index].index, fe.Diagnostics)
				return &fe2
			}
			return s.StoreError(err)
		}
		for i, o := range out {
			e := writers[i]
			e.rec = o.Record
			switch {
			case e.method == http.MethodDelete:
				e.status = "204 No Content"
			case o.Created:
				e.status, e.response = "201 Created", o.Body
			default:
				e.status, e.response = "200 OK", o.Body
			}
		}
	}
	for _, e := range entries {
		if e.existing != nil {
			e.rec, e.status, e.response = *e.existing, "200 OK", e.existing.Body
		}
	}
	s.runReads(r, entries)
	return nil
}

// batch runs every entry on its own; failures become entry outcomes.
func (s *Service) batch(r *http.Request, entries []*bundleEntry) {
	ctx := r.Context()
	for _, e := range entries {
		if e.status != "" {
			continue // failed to parse
		}
		var out Result
		var err error
		switch e.method {
		case http.MethodPost:
			out, err = s.Create(ctx, e.typ, e.resource, e.ifNoneExist)
		case http.MethodPut:
			out, err = s.Update(ctx, e.typ, e.id, e.resource, e.ifMatch)
		case http.MethodDelete:
			out, err = s.Delete(ctx, e.typ, e.id, e.ifMatch)
		default:
			continue
		}
		if err != nil {
			e.fail(err)
			continue
		}
		e.rec = out.Record
		switch {
		case e.method == http.MethodDelete:
			e.status = "204 No Content"
		case out.Created:
			e.status, e.response = "201 Created", out.Body
		default:
			e.status, e.response = "200 OK", out.Body
		}
	}
	s.runReads(r, entries)
}

func (s *Service) runReads(r *http.Request, entries []*bundleEntry) {
	ctx := r.Context()
	for _, e := range entries {
		if e.method != http.MethodGet || e.status != "" {
			continue
		}
		if e.id != "" {
			rec, err := s.Read(ctx, e.typ, e.id)
			if err != nil {
				e.fail(err)
				continue
			}
			e.rec, e.status, e.response = rec, "200 OK", rec.Body
			continue
		}
		v, err := url.ParseQuery(e.query)
		if err != nil {
			e.fail(fhir.InvalidSearch("request.url has an invalid query"))
			continue
		}
		q, err := search.Parse(s, e.typ, v, false)
		if err != nil {
			e.fail(err)
			continue
		}
		p, err := s.Search(ctx, q)
		if err != nil {
			e.fail(err)
			continue
		}
		e.status, e.response = "200 OK", s.SearchBundle(r, e.typ, p)
	}
}

// rewriteRefs replaces references to other entries' fullUrls.
func rewriteRefs(v any, refs map[string]string) {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			if s, ok := c.(string); ok && k == "reference" {
				if to, ok := refs[s]; ok {
					t[k] = to
				}
				continue
			}
			rewriteRefs(c, refs)
		}
	case []any:
		for _, c := range t {
			rewriteRefs(c, refs)
		}
	}
}
