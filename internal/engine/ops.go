package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/jsonpatch"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/trace"
)

// Result is the outcome of a write interaction.
type Result struct {
	store.Record
	Created  bool // 201
	Existing bool // conditional create matched: nothing written
	NoOp     bool // delete of something absent
}

// Read returns the current version; 404 when unknown, 410 when deleted.
func (s *Service) Read(ctx context.Context, typ, id string) (store.Record, error) {
	if _, err := s.Type(typ); err != nil {
		return store.Record{}, err
	}
	if !fhir.ValidID(id) {
		return store.Record{}, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidResourceID, "%q is not a valid resource id", id)
	}
	rec, err := s.Store.Read(ctx, typ, id)
	if errors.Is(err, store.ErrNotFound) {
		return rec, fhir.NotFound(typ, id)
	}
	if err != nil {
		return rec, err
	}
	if rec.Deleted {
		return rec, fhir.NewError(http.StatusGone, fhir.CodeResourceDeleted, "%s/%s was deleted (version %d)", typ, id, rec.Version)
	}
	return rec, nil
}

// VRead returns one version.
func (s *Service) VRead(ctx context.Context, typ, id, vid string) (store.Record, error) {
	if _, err := s.Type(typ); err != nil {
		return store.Record{}, err
	}
	if !fhir.ValidID(id) {
		return store.Record{}, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidResourceID, "%q is not a valid resource id", id)
	}
	v, err := strconv.ParseInt(vid, 10, 64)
	if err != nil || v < 1 {
		return store.Record{}, fhir.Invalid("version %q is not a positive integer", vid)
	}
	rec, err := s.Store.ReadVersion(ctx, typ, id, v)
	if errors.Is(err, store.ErrNotFound) {
		return rec, fhir.NewError(http.StatusNotFound, fhir.CodeResourceNotFound, "%s/%s has no version %d", typ, id, v)
	}
	if err != nil {
		return rec, err
	}
	if rec.Deleted {
		return rec, fhir.NewError(http.StatusGone, fhir.CodeResourceDeleted, "version %d of %s/%s is a deletion", v, typ, id)
	}
	return rec, nil
}

// Prepare validates res as a new version of typ/id and returns the store
// change that writes it. The caller sets Op-specific fields.
func (s *Service) Prepare(typ, id string, res fhir.Resource) (store.Change, error) {
	t, err := s.Type(typ)
	if err != nil {
		return store.Change{}, err
	}
	if rt, _ := res["resourceType"].(string); rt != typ {
		return store.Change{}, fhir.Invalid("resourceType %q does not match the URL's type %s", rt, typ).At("resourceType")
	}
	if t.Validate != nil {
		if err := t.Validate(res); err != nil {
			return store.Change{}, err
		}
	}
	res["id"] = id
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	delete(meta, "versionId")
	delete(meta, "lastUpdated")
	c := store.Change{Type: typ, ID: id, Index: t.IndexEntries(res)}
	// Serialise now, with marks where the version and time go: the store's
	// writer only splices them in.
	m := make(map[string]any, len(meta)+2)
	for k, v := range meta {
		m[k] = v
	}
	m["versionId"], m["lastUpdated"] = fhir.VersionMark, fhir.UpdatedMark
	res["meta"] = m
	tpl, err := fhir.NewMetaTemplate(fhir.Marshal(res))
	if err != nil {
		return store.Change{}, err
	}
	c.Render = func(version int64, updated time.Time) ([]byte, error) {
		m["versionId"] = strconv.FormatInt(version, 10)
		m["lastUpdated"] = updated.UTC().Format(fhir.InstantFormat)
		return tpl.Fill(version, updated), nil
	}
	return c, nil
}

// Create stores a new resource with a server-assigned id. ifNoneExist, when
// not empty, is a search (as in the If-None-Exist header): one match →
// nothing is created and the match is returned; several → 412.
func (s *Service) Create(ctx context.Context, typ string, res fhir.Resource, ifNoneExist string) (Result, error) {
	c, err := s.Prepare(typ, trace.NewTimeUUID(), res)
	if err != nil {
		return Result{}, err
	}
	c.Op = store.Create
	if ifNoneExist != "" {
		q, err := s.parseCondition(typ, ifNoneExist)
		if err != nil {
			return Result{}, err
		}
		c.IfNoneExist = q
	}
	return s.apply1(ctx, c)
}

// Update writes a new version of typ/id (ifMatch > 0: only if it is the
// current version). Creates when the type allows client ids.
func (s *Service) Update(ctx context.Context, typ, id string, res fhir.Resource, ifMatch int64) (Result, error) {
	if !fhir.ValidID(id) {
		return Result{}, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidResourceID, "%q is not a valid resource id", id)
	}
	if rid, ok := res["id"].(string); ok && rid != id {
		return Result{}, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidResourceID, "the resource's id %q does not match the URL's id %q", rid, id).At(typ + ".id")
	} else if !ok {
		return Result{}, fhir.Missing("the resource has no id; an update must carry the id of the URL").At(typ + ".id")
	}
	c, err := s.Prepare(typ, id, res)
	if err != nil {
		return Result{}, err
	}
	t, _ := s.Type(typ)
	c.Op, c.IfMatch, c.AllowCreate = store.Update, ifMatch, t.UpdateCreate
	return s.apply1(ctx, c)
}

// Patch applies a JSON Patch to the current version. Without ifMatch, a
// concurrent write between read and write is retried on the new version.
func (s *Service) Patch(ctx context.Context, typ, id string, patch []byte, ifMatch int64) (Result, error) {
	ops, err := jsonpatch.Parse(patch)
	if err != nil {
		return Result{}, patchError(err)
	}
	for attempt := 0; ; attempt++ {
		rec, err := s.Read(ctx, typ, id)
		if err != nil {
			return Result{}, err
		}
		if ifMatch > 0 && rec.Version != ifMatch {
			return Result{}, s.conflict(&store.VersionConflict{Type: typ, ID: id, Want: ifMatch, Current: rec.Version})
		}
		doc, err := fhir.DecodeValue(rec.Body)
		if err != nil {
			return Result{}, fmt.Errorf("stored %s/%s does not decode: %w", typ, id, err)
		}
		patched, err := jsonpatch.Apply(doc, ops)
		if err != nil {
			return Result{}, patchError(err)
		}
		// Re-check the patched document as if it had been sent whole.
		res, err := fhir.DecodeResource(fhir.Marshal(patched), typ)
		if err != nil {
			return Result{}, err
		}
		if res["id"] != id {
			return Result{}, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidUpdate, "a patch may not change the resource id")
		}
		c, err := s.Prepare(typ, id, res)
		if err != nil {
			return Result{}, err
		}
		c.Op, c.IfMatch = store.Update, rec.Version
		out, err := s.apply1(ctx, c)
		var fe *fhir.Error
		if errors.As(err, &fe) && fe.Status == http.StatusPreconditionFailed && ifMatch == 0 && attempt < 5 {
			continue
		}
		return out, err
	}
}

func patchError(err error) error {
	var pe *jsonpatch.Error
	if errors.As(err, &pe) {
		if pe.Index < 0 {
			return fhir.Invalid("invalid JSON Patch document: %s", pe.Reason)
		}
		return fhir.Invalid("JSON Patch operation %d (%s %s) failed: %s", pe.Index, pe.Op, pe.Path, pe.Reason)
	}
	return fhir.Invalid("invalid JSON Patch: %s", err.Error())
}

// Delete deletes typ/id (history kept).
func (s *Service) Delete(ctx context.Context, typ, id string, ifMatch int64) (Result, error) {
	if _, err := s.Type(typ); err != nil {
		return Result{}, err
	}
	if !fhir.ValidID(id) {
		return Result{}, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidResourceID, "%q is not a valid resource id", id)
	}
	return s.apply1(ctx, store.Change{Op: store.Delete, Type: typ, ID: id, IfMatch: ifMatch})
}

func (s *Service) apply1(ctx context.Context, c store.Change) (Result, error) {
	out, err := s.Store.Apply(ctx, []store.Change{c})
	if err != nil {
		return Result{}, s.StoreError(err)
	}
	o := out[0]
	return Result{Record: o.Record, Created: o.Created, Existing: o.Existing, NoOp: o.NoOp}, nil
}

// StoreError maps store failures to FHIR errors.
func (s *Service) StoreError(err error) error {
	var ce *store.ChangeError
	if errors.As(err, &ce) {
		err = ce.Err
	}
	var vc *store.VersionConflict
	switch {
	case errors.As(err, &vc):
		return s.conflict(vc)
	case errors.Is(err, store.ErrNotFound):
		return fhir.NewError(http.StatusNotFound, fhir.CodeResourceNotFound, "the resource does not exist; this type does not allow create-on-update")
	case errors.Is(err, store.ErrExists):
		return fhir.NewError(http.StatusConflict, fhir.CodeDuplicate, "a resource with this id already exists")
	case errors.Is(err, store.ErrMultipleMatches):
		return fhir.NewError(http.StatusPreconditionFailed, fhir.CodeMultipleMatches, "the If-None-Exist search matched more than one resource")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fhir.NewError(http.StatusServiceUnavailable, fhir.CodeServiceUnavailable, "the request was cancelled or timed out before it was stored; it was not applied")
	}
	var fe *fhir.Error
	if errors.As(err, &fe) {
		return fe
	}
	return err
}

func (s *Service) conflict(vc *store.VersionConflict) error {
	if vc.Current == 0 {
		return fhir.NewError(http.StatusPreconditionFailed, fhir.CodePreconditionFailed, "If-Match names version %d but %s/%s does not exist", vc.Want, vc.Type, vc.ID)
	}
	return fhir.NewError(http.StatusPreconditionFailed, fhir.CodePreconditionFailed, "If-Match names version %d but the current version of %s/%s is %d", vc.Want, vc.Type, vc.ID, vc.Current)
}

func (s *Service) parseCondition(typ, cond string) (*search.Query, error) {
	if i := len(typ) + 1; len(cond) > i && cond[:i] == typ+"?" {
		cond = cond[i:]
	}
	cond = trimQ(cond)
	v, err := url.ParseQuery(cond)
	if err != nil || len(v) == 0 {
		return nil, fhir.InvalidSearch("If-None-Exist %q is not a search query", cond)
	}
	return search.Parse(s, typ, v, false)
}

func trimQ(s string) string {
	if len(s) > 0 && s[0] == '?' {
		return s[1:]
	}
	return s
}
