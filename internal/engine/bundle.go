package engine

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/trace"
)

// BaseURL is the absolute base of the service as the client addressed it.
func (s *Service) BaseURL(r *http.Request) string { return BaseURLOf(r, s.Base) }

// BaseURLOf is the absolute URL of base (a path) as the client of r
// addressed the server: https behind TLS or a proxy that says so.
func BaseURLOf(r *http.Request, base string) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host + base
}

// Entry is one entry of a Bundle built from stored bytes.
type Entry struct {
	FullURL  string
	Resource []byte  // raw resource JSON (nil: none)
	Mode     string  // search mode: match, include, outcome
	Score    float64 // search score, written when > 0
	Request  map[string]any
	Response map[string]any
}

// BundleJSON assembles a Bundle around raw resource bytes without decoding them.
func BundleJSON(kind string, total int, links [][2]string, entries []Entry) []byte {
	b := make([]byte, 0, 256+len(entries)*512)
	b = append(b, `{"resourceType":"Bundle","id":"`...)
	b = append(b, trace.NewUUID()...)
	b = append(b, `","meta":{"lastUpdated":"`...)
	b = append(b, time.Now().UTC().Format(fhir.InstantFormat)...)
	b = append(b, `"},"type":"`...)
	b = append(b, kind...)
	b = append(b, '"')
	if kind == "searchset" || kind == "history" {
		b = append(b, `,"timestamp":"`...)
		b = append(b, time.Now().UTC().Format(fhir.InstantFormat)...)
		b = append(b, '"')
	}
	if total >= 0 {
		b = append(b, `,"total":`...)
		b = strconv.AppendInt(b, int64(total), 10)
	}
	if len(links) > 0 {
		b = append(b, `,"link":[`...)
		for i, l := range links {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"relation":`...)
			b = fhir.AppendJSON(b, l[0])
			b = append(b, `,"url":`...)
			b = fhir.AppendJSON(b, l[1])
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(entries) > 0 {
		b = append(b, `,"entry":[`...)
		for i, e := range entries {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			sep := false
			if e.FullURL != "" {
				b = append(b, `"fullUrl":`...)
				b = fhir.AppendJSON(b, e.FullURL)
				sep = true
			}
			if len(e.Resource) > 0 {
				if sep {
					b = append(b, ',')
				}
				b = append(b, `"resource":`...)
				b = append(b, e.Resource...)
				sep = true
			}
			if e.Mode != "" {
				if sep {
					b = append(b, ',')
				}
				b = append(b, `"search":{"mode":"`...)
				b = append(b, e.Mode...)
				b = append(b, '"')
				if e.Score > 0 {
					b = append(b, `,"score":`...)
					b = strconv.AppendFloat(b, e.Score, 'f', -1, 64)
				}
				b = append(b, '}')
				sep = true
			}
			if e.Request != nil {
				if sep {
					b = append(b, ',')
				}
				b = append(b, `"request":`...)
				b = fhir.AppendJSON(b, e.Request)
				sep = true
			}
			if e.Response != nil {
				if sep {
					b = append(b, ',')
				}
				b = append(b, `"response":`...)
				b = fhir.AppendJSON(b, e.Response)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// SearchBundle renders a search page as a searchset Bundle.
func (s *Service) SearchBundle(r *http.Request, typ string, p *Page) []byte {
	base := s.BaseURL(r)
	self := base + "/" + typ
	if qs := p.Query.String(); qs != "" {
		self += "?" + qs
	}
	if p.Offset > 0 {
		self = base + "?_getpages=" + p.Token + "&_getpagesoffset=" + strconv.Itoa(p.Offset) + "&_count=" + strconv.Itoa(p.Query.Count)
	}
	links := [][2]string{{"self", self}}
	if p.HasNext {
		links = append(links, [2]string{"next", base + "?_getpages=" + p.Token + "&_getpagesoffset=" + strconv.Itoa(p.Offset+p.Query.Count) + "&_count=" + strconv.Itoa(p.Query.Count)})
	}
	if p.Offset > 0 {
		links = append(links, [2]string{"previous", base + "?_getpages=" + p.Token + "&_getpagesoffset=" + strconv.Itoa(max(0, p.Offset-p.Query.Count)) + "&_count=" + strconv.Itoa(p.Query.Count)})
	}
	entries := make([]Entry, 0, len(p.Matches)+len(p.Included)+1)
	for _, rec := range p.Matches {
		entries = append(entries, Entry{FullURL: base + "/" + rec.Type + "/" + rec.ID, Resource: s.shape(rec.Body, p.Query), Mode: "match"})
	}
	for _, rec := range p.Included {
		entries = append(entries, Entry{FullURL: base + "/" + rec.Type + "/" + rec.ID, Resource: s.shape(rec.Body, p.Query), Mode: "include"})
	}
	if p.Warning != "" {
		oo := &fhir.Error{Code: fhir.CodeTooManyMatches, IssueType: "too-costly", Severity: "warning", Diagnostics: p.Warning}
		entries = append(entries, Entry{Resource: fhir.Marshal(oo.Outcome()), Mode: "outcome"})
	}
	return BundleJSON("searchset", p.Total, links, entries)
}

// summaryElements are kept by _summary=true beyond id and meta.
var summaryElements = map[string]bool{"resourceType": true, "id": true, "meta": true, "identifier": true, "active": true,
	"name": true, "status": true, "type": true, "telecom": true, "address": true, "partOf": true, "code": true,
	"organization": true, "practitioner": true, "location": true, "healthcareService": true, "period": true,
	"gender": true, "birthDate": true, "specialty": true, "connectionType": true, "managingOrganization": true,
	"providedBy": true, "category": true, "subject": true, "deceasedBoolean": true, "deceasedDateTime": true}

// shape applies _summary and _elements to a stored body; untouched bodies
// are returned as stored.
func (s *Service) shape(body []byte, q *search.Query) []byte {
	if len(q.Elements) == 0 && (q.Summary == "" || q.Summary == "false") {
		return body
	}
	res, err := fhir.DecodeStored(body)
	if err != nil {
		return body
	}
	keep := func(k string) bool {
		switch k {
		case "resourceType", "id", "meta":
			return true
		}
		if len(q.Elements) > 0 {
			for _, e := range q.Elements {
				if e == k {
					return true
				}
			}
			return false
		}
		switch q.Summary {
		case "text":
			return k == "text"
		case "data":
			return k != "text"
		}
		return summaryElements[k]
	}
	for k := range res {
		if !keep(k) {
			delete(res, k)
		}
	}
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		res["meta"] = meta
	}
	tags, _ := meta["tag"].([]any)
	meta["tag"] = append(tags, map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED", "display": "Resource encoded in summary mode"})
	return fhir.Marshal(res)
}

// HistoryBundle renders versions as a history Bundle.
func (s *Service) HistoryBundle(r *http.Request, recs []store.Record, self, next string) []byte {
	base := s.BaseURL(r)
	links := [][2]string{{"self", self}}
	if next != "" {
		links = append(links, [2]string{"next", next})
	}
	entries := make([]Entry, len(recs))
	for i, rec := range recs {
		e := Entry{FullURL: base + "/" + rec.Type + "/" + rec.ID}
		method, url, status := "PUT", rec.Type+"/"+rec.ID, "200"
		switch {
		case rec.Deleted:
			method, status = "DELETE", "204"
		case rec.Version == 1:
			method, url, status = "POST", rec.Type, "201"
		}
		if !rec.Deleted {
			e.Resource = rec.Body
		}
		e.Request = map[string]any{"method": method, "url": url}
		e.Response = map[string]any{"status": status, "etag": etag(rec.Version), "lastModified": rec.Updated.Format(fhir.InstantFormat)}
		entries[i] = e
	}
	return BundleJSON("history", -1, links, entries)
}

func etag(v int64) string { return `W/"` + strconv.FormatInt(v, 10) + `"` }

// ParseETag parses an If-Match / If-None-Match value: W/"3", "3" or 3.
func ParseETag(h string) (int64, bool) {
	h = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(h), "W/"))
	h = strings.Trim(h, `"`)
	v, err := strconv.ParseInt(h, 10, 64)
	return v, err == nil && v > 0
}

// location is the versioned URL of a record.
func (s *Service) location(r *http.Request, rec store.Record) string {
	return s.BaseURL(r) + "/" + rec.Type + "/" + rec.ID + "/_history/" + strconv.FormatInt(rec.Version, 10)
}
