package pds

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/idempotency"
	"github.com/openspine/openspine/internal/jsonpatch"
	"github.com/openspine/openspine/internal/nhsnumber"
	"github.com/openspine/openspine/internal/store"
)

// listElements are the Patient elements whose items are patched by index.
var listElements = map[string]bool{"name": true, "address": true, "telecom": true, "contact": true,
	"generalPractitioner": true, "extension": true}

// locationElements are hidden on restricted records and so cannot be patched there.
var locationElements = map[string]bool{"address": true, "telecom": true, "contact": true, "generalPractitioner": true}

func invalidUpdate(i int, op jsonpatch.Op, format string, args ...any) error {
	return fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidUpdate, "Invalid update with error - patch operation %d (%s %s): %s", i, op.Op, op.Path, fmt.Sprintf(format, args...))
}

// checkOps applies the contract's rules on the operations themselves.
func checkOps(ops []jsonpatch.Op, cur fhir.Resource) error {
	for i, op := range ops {
		segs, err := jsonpatch.ParsePointer(op.Path)
		if err != nil || len(segs) == 0 {
			return invalidUpdate(i, op, "the path must name an element of the Patient")
		}
		top := segs[0]
		switch top {
		case "id", "resourceType", "meta", "identifier":
			if op.Op != "test" {
				return fhir.NewError(http.StatusForbidden, CodeForbiddenUpdate, "Forbidden update with error - patch operation %d (%s %s): %s cannot be changed; the NHS number never changes", i, op.Op, op.Path, top)
			}
			continue
		}
		if op.Op == "move" || op.Op == "copy" {
			return invalidUpdate(i, op, "move and copy are not supported; use add, replace, remove and test")
		}
		if !listElements[top] || len(segs) < 2 || op.Op == "test" {
			continue
		}
		idx := segs[1]
		if op.Op == "add" && len(segs) == 2 {
			if idx != "-" {
				return invalidUpdate(i, op, "new %s items are added at /%s/-", top, top)
			}
			continue
		}
		n, err := strconv.Atoi(idx)
		items, _ := cur[top].([]any)
		if err != nil || n < 0 || n >= len(items) {
			return invalidUpdate(i, op, "there is no %s item %s", top, idx)
		}
		item, _ := items[n].(map[string]any)
		itemID, _ := item["id"].(string)
		tested := i > 0 && ops[i-1].Op == "test" && (ops[i-1].Path == "/"+top+"/"+idx+"/id" || ops[i-1].Path == "/"+top+"/"+idx)
		switch {
		case op.Op == "remove" && len(segs) == 2:
			if !tested {
				return invalidUpdate(i, op, "removing a list item must be immediately preceded by a test of that item (/%s/%s/id)", top, idx)
			}
		case op.Op == "replace" && len(segs) == 2:
			v, _ := op.Value.(map[string]any)
			if itemID != "" && (v == nil || v["id"] != itemID) {
				return invalidUpdate(i, op, "a replaced %s item must carry its id %q", top, itemID)
			}
		default:
			if itemID != "" && !testedBefore(ops[:i], "/"+top+"/"+idx+"/id") {
				return invalidUpdate(i, op, "changing part of a %s item needs a test of its id (/%s/%s/id) first", top, top, idx)
			}
		}
	}
	return nil
}

func testedBefore(ops []jsonpatch.Op, path string) bool {
	for _, o := range ops {
		if o.Op == "test" && o.Path == path {
			return true
		}
	}
	return false
}

// opFor finds the operation whose path is the longest prefix of pointer.
func opFor(ops []jsonpatch.Op, pointer string) int {
	best, bestLen := -1, -1
	for i, op := range ops {
		if op.Op == "test" {
			continue
		}
		p := strings.TrimSuffix(op.Path, "/-")
		if (strings.HasPrefix(pointer, p) || strings.HasPrefix(p, pointer)) && len(p) > bestLen {
			best, bestLen = i, len(p)
		}
	}
	return best
}

func (s *Service) handlePatch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := checkHeaders(r); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if len(id) != 10 || !isDigits(id) {
		fhir.WriteError(w, r, invalidNHS(id))
		return
	}
	ifMatch := r.Header.Get("If-Match")
	if ifMatch == "" {
		fhir.WriteError(w, r, fhir.NewError(http.StatusPreconditionFailed, fhir.CodePreconditionFailed, "Required condition was not fulfilled: an If-Match header with the version (W/\"n\") is required"))
		return
	}
	want, ok := etagVersion(ifMatch)
	if !ok {
		fhir.WriteError(w, r, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidValue, "Invalid value - '%s' in header 'If-Match' (W/\"n\")", ifMatch))
		return
	}
	doc, key, handled := s.readWrite(w, r, "application/json-patch+json", "application/json")
	if handled {
		return
	}
	wrapper, _ := doc.(map[string]any)
	patches, ok := wrapper["patches"].([]any)
	if !ok || len(wrapper) != 1 {
		fhir.WriteError(w, r, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidUpdate, `Invalid update with error - the body must be {"patches": [JSON Patch operations]}`))
		return
	}
	raw, _ := json.Marshal(patches)
	ops, err := jsonpatch.Parse(raw)
	if err != nil {
		var pe *jsonpatch.Error
		if errors.As(err, &pe) && pe.Index >= 0 {
			fhir.WriteError(w, r, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidUpdate, "Invalid update with error - patch operation %d (%s %s): %s", pe.Index, pe.Op, pe.Path, pe.Reason))
		} else {
			fhir.WriteError(w, r, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidUpdate, "Invalid update with error - %s", err.Error()))
		}
		return
	}
	if !nhsnumber.Valid(id) {
		fhir.WriteError(w, r, invalidNHS(id))
		return
	}
	if err := s.allowPatient(ctx, "update", id); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	audit.Patients(ctx, id)
	rec, err := s.store.Read(ctx, "Patient", id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.Deleted) {
		fhir.WriteError(w, r, fhir.NewError(http.StatusNotFound, fhir.CodeResourceNotFound, "Patient %s was not found", id))
		return
	}
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	cur, err := fhir.DecodeStored(rec.Body)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	switch {
	case security(cur) == "REDACTED":
		fhir.WriteError(w, r, fhir.NewError(http.StatusNotFound, CodeInvalidatedResource, "Patient %s has been invalidated", id))
		return
	case supersededBy(cur) != "":
		fhir.WriteError(w, r, fhir.NewError(http.StatusForbidden, CodeForbiddenUpdate, "Forbidden update with error - patient %s has been superseded by %s; update that record", id, supersededBy(cur)))
		return
	case rec.Version != want:
		fhir.WriteError(w, r, fhir.NewError(http.StatusConflict, fhir.CodeVersionMismatch, "Invalid update with error - This resource has changed since you last read. Please re-read and try again with the new version number (current version %d).", rec.Version))
		return
	}
	if err := checkOps(ops, cur); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	if security(cur) == "R" {
		for i, op := range ops {
			segs, _ := jsonpatch.ParsePointer(op.Path)
			if len(segs) > 0 && locationElements[segs[0]] {
				fhir.WriteError(w, r, fhir.NewError(http.StatusForbidden, CodeForbiddenUpdate, "Forbidden update with error - patch operation %d (%s %s): the record is restricted; its %s cannot be changed here", i, op.Op, op.Path, segs[0]))
				return
			}
		}
	}
	patched, err := jsonpatch.Apply(map[string]any(cur), ops)
	if err != nil {
		var pe *jsonpatch.Error
		if errors.As(err, &pe) {
			fhir.WriteError(w, r, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidUpdate, "Invalid update with error - patch operation %d (%s %s): %s", pe.Index, pe.Op, pe.Path, pe.Reason))
		} else {
			fhir.WriteError(w, r, err)
		}
		return
	}
	res, err := fhir.DecodeResource(fhir.Marshal(patched), "Patient")
	if err != nil {
		fhir.WriteError(w, r, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidUpdate, "Invalid update with error - the patched record is not valid FHIR: %s", fhir.AsError(err).Diagnostics))
		return
	}
	if re := validatePatient(res, id); re != nil {
		e := *re.Err
		if i := opFor(ops, re.Pointer); i >= 0 {
			e.Diagnostics = "Invalid update with error - patch operation " + strconv.Itoa(i) + " (" + ops[i].Op + " " + ops[i].Path + "): " + e.Diagnostics
		}
		fhir.WriteError(w, r, &e)
		return
	}
	c, err := s.eng.Prepare("Patient", id, res)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	c.Op, c.IfMatch = store.Update, want
	out, replayedNow, err := s.applyOnce(w, r, key, []store.Change{c}, &idempotency.Answer{Status: http.StatusOK, ID: id})
	if replayedNow {
		return
	}
	if err != nil {
		var vc *store.VersionConflict
		if errors.As(err, &vc) {
			fhir.WriteError(w, r, fhir.NewError(http.StatusConflict, fhir.CodeVersionMismatch, "Invalid update with error - This resource has changed since you last read. Please re-read and try again with the new version number (current version %d).", vc.Current))
			return
		}
		fhir.WriteError(w, r, s.eng.StoreError(err))
		return
	}
	final, err := fhir.DecodeStored(out[0].Body)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	writePatient(w, r, http.StatusOK, out[0].Record, final)
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
