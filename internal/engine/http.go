package engine

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
)

// Register mounts the generic FHIR REST interactions of the service on mux.
func (s *Service) Register(mux *http.ServeMux) {
	b := s.Base
	mux.HandleFunc("GET "+b+"/metadata", s.handleMetadata)
	mux.HandleFunc("GET "+b+"/{$}", s.handleGetPages)
	mux.HandleFunc("GET "+b, s.handleGetPages)
	mux.HandleFunc("POST "+b+"/{$}", s.handleBundle)
	mux.HandleFunc("POST "+b, s.handleBundle)
	mux.HandleFunc("GET "+b+"/_history", s.handleHistory)
	mux.HandleFunc("GET "+b+"/{type}", s.handleSearch)
	mux.HandleFunc("POST "+b+"/{type}/_search", s.handleSearch)
	mux.HandleFunc("POST "+b+"/{type}", s.handleCreate)
	mux.HandleFunc("GET "+b+"/{type}/_history", s.handleHistory)
	mux.HandleFunc("GET "+b+"/{type}/{id}", s.handleRead)
	mux.HandleFunc("PUT "+b+"/{type}/{id}", s.handleUpdate)
	mux.HandleFunc("PATCH "+b+"/{type}/{id}", s.handlePatch)
	mux.HandleFunc("DELETE "+b+"/{type}/{id}", s.handleDelete)
	mux.HandleFunc("GET "+b+"/{type}/{id}/_history", s.handleHistory)
	mux.HandleFunc("GET "+b+"/{type}/{id}/_history/{vid}", s.handleVRead)
}

// writeRecord sends a stored version as it is stored.
func writeRecord(w http.ResponseWriter, status int, rec store.Record) {
	h := w.Header()
	h.Set("ETag", etag(rec.Version))
	h.Set("Last-Modified", rec.Updated.Format(http.TimeFormat))
	fhir.Write(w, status, rec.Body)
}

func (s *Service) handleRead(w http.ResponseWriter, r *http.Request) {
	if err := fhir.CheckAccept(r); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	rec, err := s.Read(r.Context(), r.PathValue("type"), r.PathValue("id"))
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if v, ok := ParseETag(inm); ok && v == rec.Version {
			w.Header().Set("ETag", etag(rec.Version))
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	writeRecord(w, http.StatusOK, rec)
}

func (s *Service) handleVRead(w http.ResponseWriter, r *http.Request) {
	if err := fhir.CheckAccept(r); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	rec, err := s.VRead(r.Context(), r.PathValue("type"), r.PathValue("id"), r.PathValue("vid"))
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	writeRecord(w, http.StatusOK, rec)
}

// readResource checks the request's media types and decodes its body.
func (s *Service) readResource(w http.ResponseWriter, r *http.Request, typ string) (fhir.Resource, error) {
	if err := fhir.CheckAccept(r); err != nil {
		return nil, err
	}
	if err := fhir.CheckContentType(r, "application/fhir+json", "application/json", "application/json+fhir"); err != nil {
		return nil, err
	}
	body, err := fhir.ReadBody(w, r, s.MaxBody)
	if err != nil {
		return nil, err
	}
	return fhir.DecodeResource(body, typ)
}

// ifMatch parses If-Match (0 when absent).
func ifMatch(r *http.Request) (int64, error) {
	h := r.Header.Get("If-Match")
	if h == "" {
		return 0, nil
	}
	v, ok := ParseETag(h)
	if !ok {
		return 0, fhir.Invalid("If-Match %q is not a version ETag such as W/\"3\"", h)
	}
	return v, nil
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("type")
	if _, err := s.Type(typ); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	res, err := s.readResource(w, r, typ)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	out, err := s.Create(r.Context(), typ, res, r.Header.Get("If-None-Exist"))
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	status := http.StatusCreated
	if out.Existing {
		status = http.StatusOK
	}
	w.Header().Set("Location", s.location(r, out.Record))
	s.writeResult(w, r, status, out.Record)
}

// writeResult honours Prefer: return=minimal|representation|OperationOutcome.
func (s *Service) writeResult(w http.ResponseWriter, r *http.Request, status int, rec store.Record) {
	prefer := r.Header.Get("Prefer")
	switch {
	case strings.Contains(prefer, "return=minimal"):
		w.Header().Set("ETag", etag(rec.Version))
		w.Header().Set("Last-Modified", rec.Updated.Format(http.TimeFormat))
		w.WriteHeader(status)
	case strings.Contains(prefer, "return=OperationOutcome"):
		w.Header().Set("ETag", etag(rec.Version))
		oo := &fhir.Error{Code: "OK", IssueType: "informational", Severity: "information",
			Diagnostics: rec.Type + "/" + rec.ID + " version " + strconv.FormatInt(rec.Version, 10) + " stored"}
		fhir.WriteResource(w, status, oo.Outcome())
	default:
		writeRecord(w, status, rec)
	}
}

func (s *Service) handleUpdate(w http.ResponseWriter, r *http.Request) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if _, err := s.Type(typ); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	v, err := ifMatch(r)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	res, err := s.readResource(w, r, typ)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	out, err := s.Update(r.Context(), typ, id, res, v)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	status := http.StatusOK
	if out.Created {
		status = http.StatusCreated
		w.Header().Set("Location", s.location(r, out.Record))
	}
	s.writeResult(w, r, status, out.Record)
}

func (s *Service) handlePatch(w http.ResponseWriter, r *http.Request) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if _, err := s.Type(typ); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	v, err := ifMatch(r)
	if err == nil {
		err = fhir.CheckAccept(r)
	}
	if err == nil {
		err = fhir.CheckContentType(r, "application/json-patch+json")
	}
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	body, err := fhir.ReadBody(w, r, s.MaxBody)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	out, err := s.Patch(r.Context(), typ, id, body, v)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	s.writeResult(w, r, http.StatusOK, out.Record)
}

func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request) {
	v, err := ifMatch(r)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	out, err := s.Delete(r.Context(), r.PathValue("type"), r.PathValue("id"), v)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	if !out.NoOp {
		w.Header().Set("ETag", etag(out.Version))
	}
	w.WriteHeader(http.StatusNoContent)
}

// lenient reports Prefer: handling=lenient.
func lenient(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Prefer"), "handling=lenient")
}

func (s *Service) handleSearch(w http.ResponseWriter, r *http.Request) {
	if err := fhir.CheckAccept(r); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	typ := r.PathValue("type")
	values := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := fhir.CheckContentType(r, "application/x-www-form-urlencoded"); err != nil {
			fhir.WriteError(w, r, err)
			return
		}
		body, err := fhir.ReadBody(w, r, 1<<20)
		if err != nil {
			fhir.WriteError(w, r, err)
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			fhir.WriteError(w, r, fhir.InvalidSearch("the form body is not valid"))
			return
		}
		for k, v := range form {
			values[k] = append(values[k], v...)
		}
	}
	q, err := search.Parse(s, typ, values, lenient(r))
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	p, err := s.Search(r.Context(), q)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	fhir.Write(w, http.StatusOK, s.SearchBundle(r, typ, p))
}

// handleGetPages serves the next/previous links of a search snapshot.
func (s *Service) handleGetPages(w http.ResponseWriter, r *http.Request) {
	if err := fhir.CheckAccept(r); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	v := r.URL.Query()
	tok := v.Get("_getpages")
	if tok == "" {
		fhir.WriteError(w, r, fhir.NewError(http.StatusBadRequest, fhir.CodeUnsupportedService, "GET on the base URL needs _getpages (a search page link); to search, GET [base]/[type]"))
		return
	}
	offset, err := strconv.Atoi(v.Get("_getpagesoffset"))
	if err != nil {
		fhir.WriteError(w, r, fhir.InvalidSearch("_getpagesoffset must be an integer"))
		return
	}
	count, _ := strconv.Atoi(v.Get("_count"))
	p, err := s.Page(r.Context(), tok, offset, count)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	fhir.Write(w, http.StatusOK, s.SearchBundle(r, p.Query.Type, p))
}

const maxHistory = 1000

func (s *Service) handleHistory(w http.ResponseWriter, r *http.Request) {
	if err := fhir.CheckAccept(r); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	typ, id := r.PathValue("type"), r.PathValue("id")
	if typ != "" {
		if _, err := s.Type(typ); err != nil {
			fhir.WriteError(w, r, err)
			return
		}
	}
	if id != "" {
		if _, err := s.Store.Read(r.Context(), typ, id); err != nil {
			fhir.WriteError(w, r, fhir.NotFound(typ, id))
			return
		}
	}
	v := r.URL.Query()
	hq := store.HistoryQuery{Type: typ, ID: id, Count: search.DefaultCount}
	for k := range v {
		switch k {
		case "_count", "_since", "_before", "_cursor", "_format", "_pretty":
		default:
			if !lenient(r) {
				fhir.WriteError(w, r, fhir.InvalidSearch("unknown history parameter %q", k))
				return
			}
		}
	}
	if c := v.Get("_count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			fhir.WriteError(w, r, fhir.InvalidSearch("_count must be a positive integer"))
			return
		}
		hq.Count = min(n, maxHistory)
	}
	if since := v.Get("_since"); since != "" {
		lo, _, ok := search.DateRange(since)
		if !ok {
			fhir.WriteError(w, r, fhir.InvalidSearch("_since %q is not a valid instant", since))
			return
		}
		hq.Since = lo
	}
	if c := v.Get("_cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 1 {
			fhir.WriteError(w, r, fhir.InvalidSearch("_cursor is not valid"))
			return
		}
		hq.Before = n
	}
	recs, err := s.historyOf(r, hq)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	self := s.BaseURL(r) + strings.TrimPrefix(r.URL.Path, s.Base)
	if r.URL.RawQuery != "" {
		self += "?" + r.URL.RawQuery
	}
	next := ""
	if len(recs) > hq.Count {
		recs = recs[:hq.Count]
		nv := url.Values{}
		for k, vals := range v {
			nv[k] = vals
		}
		nv.Set("_cursor", strconv.FormatInt(recs[len(recs)-1].Seq, 10))
		next = s.BaseURL(r) + strings.TrimPrefix(r.URL.Path, s.Base) + "?" + nv.Encode()
	}
	fhir.Write(w, http.StatusOK, s.HistoryBundle(r, recs, self, next))
}

// historyOf reads one more than asked, to know whether a next page exists,
// keeping only this service's types in system history.
func (s *Service) historyOf(r *http.Request, hq store.HistoryQuery) ([]store.Record, error) {
	want := hq.Count + 1
	hq.Count = want
	var out []store.Record
	for {
		recs, err := s.Store.History(r.Context(), hq)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			if _, ok := s.types[rec.Type]; ok {
				out = append(out, rec)
			}
		}
		if len(out) >= want || len(recs) < hq.Count || hq.Type != "" {
			if len(out) > want {
				out = out[:want]
			}
			return out, nil
		}
		hq.Before = recs[len(recs)-1].Seq
	}
}
