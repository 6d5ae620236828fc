package pds

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/engine"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/matching"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
)

// Search limits.
const (
	DefaultMaxResults = 50
	candidateCap      = 1000 // candidates fetched from the index before scoring
	maxFamilyLen      = 35
)

// Query is a parsed PDS search.
type Query struct {
	Family     string
	Given      []string
	Gender     string
	BirthDate  []dateCond
	DeathDate  []dateCond
	Postcode   string
	GP         string
	Email      string
	Phone      string
	Fuzzy      bool
	Exact      bool
	History    bool
	MaxResults int
}

type dateCond struct{ prefix, date string }

var pdsDate = regexp.MustCompile(`^(eq|ge|le)?(\d{4}-\d{2}-\d{2})$`)

// searchParamTable lists the parameters of GET /Patient with their FHIR
// search types: what ParseQuery accepts and what /metadata states (but
// the deprecated ones, accepted and not stated).
var searchParamTable = []struct {
	name, typ  string
	deprecated bool
}{
	{"family", "string", false}, {"given", "string", false}, {"gender", "token", false},
	{"birthdate", "date", false}, {"death-date", "date", false}, {"address-postalcode", "string", false},
	{"address-postcode", "string", true}, {"general-practitioner", "token", false}, {"email", "token", false},
	{"phone", "token", false}, {"_fuzzy-match", "special", false}, {"_exact-match", "special", false},
	{"_history", "special", false}, {"_max-results", "number", false},
}

// searchParams are the names of searchParamTable.
var searchParams = func() map[string]bool {
	m := make(map[string]bool, len(searchParamTable))
	for _, p := range searchParamTable {
		m[p.name] = true
	}
	return m
}()

func badValue(field, v string) error {
	return fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidValue, "Invalid value - '%s' in field '%s'", v, field)
}

func badSearch(format string, args ...any) error {
	return fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidSearchData, format, args...)
}

// ParseQuery validates the search parameters against the PDS contract.
func ParseQuery(v url.Values) (*Query, error) {
	if len(v) == 0 {
		return nil, fhir.NewError(http.StatusBadRequest, fhir.CodeUnsupportedService, "No search parameters were provided")
	}
	names := make([]string, 0, len(v))
	for k := range v {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !searchParams[k] {
			return nil, fhir.NewError(http.StatusBadRequest, CodeAdditionalProps, "Invalid request with error - additional property '%s'", k)
		}
		if len(v[k]) > 1 && k != "given" && k != "birthdate" && k != "death-date" {
			return nil, badSearch("Parameter '%s' may be given only once", k)
		}
		for _, val := range v[k] {
			if val == "" {
				return nil, fhir.NewError(http.StatusBadRequest, fhir.CodeMissingValue, "Missing value - '%s'", k)
			}
		}
	}
	if _, ok := v["address-postcode"]; ok {
		return nil, badSearch("Parameter 'address-postcode' is deprecated; use 'address-postalcode'")
	}
	q := &Query{MaxResults: DefaultMaxResults}
	boolParam := func(name string) (bool, error) {
		switch s := v.Get(name); s {
		case "", "false":
			return false, nil
		case "true":
			return true, nil
		default:
			return false, badValue(name, s)
		}
	}
	var err error
	if q.Fuzzy, err = boolParam("_fuzzy-match"); err != nil {
		return nil, err
	}
	if q.Exact, err = boolParam("_exact-match"); err != nil {
		return nil, err
	}
	if q.History, err = boolParam("_history"); err != nil {
		return nil, err
	}
	if m := v.Get("_max-results"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 || n > 50 {
			return nil, badValue("_max-results", m)
		}
		q.MaxResults = n
	}
	q.Family = strings.TrimSpace(v.Get("family"))
	if len([]rune(q.Family)) > maxFamilyLen {
		return nil, badValue("family", q.Family)
	}
	q.Given = v["given"]
	for _, g := range q.Given {
		if len([]rune(g)) > maxFamilyLen {
			return nil, badValue("given", g)
		}
	}
	if g := v.Get("gender"); g != "" {
		switch g {
		case "male", "female", "other", "unknown":
			q.Gender = g
		default:
			return nil, badValue("gender", g)
		}
	}
	for _, pair := range []struct {
		name string
		dst  *[]dateCond
	}{{"birthdate", &q.BirthDate}, {"death-date", &q.DeathDate}} {
		vals := v[pair.name]
		if len(vals) > 2 {
			return nil, badSearch("Parameter '%s' may be given at most twice (a range)", pair.name)
		}
		for _, d := range vals {
			m := pdsDate.FindStringSubmatch(d)
			if m == nil {
				return nil, badValue(pair.name, d)
			}
			if _, _, ok := search.DateRange(m[2]); !ok {
				return nil, badValue(pair.name, d)
			}
			prefix := m[1]
			if prefix == "" {
				prefix = "eq"
			}
			*pair.dst = append(*pair.dst, dateCond{prefix, m[2]})
		}
		if len(vals) == 2 && ((*pair.dst)[0].prefix == "eq" || (*pair.dst)[1].prefix == "eq" || (*pair.dst)[0].prefix == (*pair.dst)[1].prefix) {
			return nil, badSearch("A '%s' range needs one ge and one le value", pair.name)
		}
	}
	q.Postcode = strings.TrimSpace(v.Get("address-postalcode"))
	q.GP = v.Get("general-practitioner")
	if q.GP != "" && !odsPattern.MatchString(q.GP) {
		return nil, badValue("general-practitioner", q.GP)
	}
	q.Email = strings.ToLower(v.Get("email"))
	if q.Email != "" && !strings.Contains(q.Email, "@") {
		return nil, badValue("email", q.Email)
	}
	if p := v.Get("phone"); p != "" {
		if q.Phone = phoneKey(p); len(q.Phone) < 3 {
			return nil, badValue("phone", p)
		}
	}
	// wildcards
	for _, w := range []struct{ name, val string }{{"family", q.Family}, {"address-postalcode", q.Postcode}} {
		if i := strings.IndexByte(w.val, '*'); i >= 0 {
			if q.Fuzzy {
				return nil, badSearch("Wildcards are not allowed in a fuzzy search ('%s')", w.name)
			}
			if i < 2 || i != len(w.val)-1 {
				return nil, badSearch("A wildcard in '%s' must follow at least two characters and end the value", w.name)
			}
		}
	}
	for _, g := range q.Given {
		if strings.Contains(g, "*") && (q.Fuzzy || strings.IndexByte(g, '*') < 2) {
			return nil, badSearch("Invalid wildcard in 'given'")
		}
	}
	// minimum parameter sets
	has := func(s string) bool { return s != "" }
	birth := len(q.BirthDate) > 0
	if q.Fuzzy {
		ok := (len(q.Given) > 0 && has(q.Family) && birth) ||
			(has(q.Family) && birth && has(q.Gender) && has(q.Postcode)) ||
			(len(q.Given) > 0 && birth && has(q.Gender) && has(q.Postcode))
		if !ok {
			return nil, badSearch("Not enough search parameters were provided to be able to make a fuzzy search: give given+family+birthdate, family+birthdate+gender+postcode or given+birthdate+gender+postcode")
		}
	} else if !(has(q.Family) && birth) {
		return nil, badSearch("Not enough search parameters were provided to be able to make a search: family and birthdate are required")
	}
	return q, nil
}

// Match is one scored search result.
type Match struct {
	Record   store.Record
	Resource fhir.Resource
	Score    float64
	head     recordHead // what the audit passes on to the monitor
}

// Result of a search: matches, or too many.
type Result struct {
	Matches    []Match
	TooMany    bool
	Candidates int
}

func (q *Query) matchQuery() matching.Query {
	mq := matching.Query{Family: strings.TrimSuffix(q.Family, "*"), Given: q.Given, Gender: q.Gender, Postcode: strings.TrimSuffix(q.Postcode, "*")}
	for _, d := range q.BirthDate {
		if d.prefix == "eq" {
			mq.BirthDate = d.date
		}
	}
	return mq
}

func strClause(name string, typ search.Type, values ...search.Value) search.Clause {
	return search.Clause{Param: search.Param{Name: name, Type: typ}, Values: values}
}

func dateClauses(name string, conds []dateCond) []search.Clause {
	var out []search.Clause
	for _, d := range conds {
		lo, hi, _ := search.DateRange(d.date)
		out = append(out, strClause(name, search.Date, search.Value{Prefix: d.prefix, Lo: lo, Hi: hi, Raw: d.prefix + d.date}))
	}
	return out
}

// Search runs q: index lookup for candidates, then scoring and filtering.
func (s *Service) Search(ctx context.Context, q *Query) (*Result, error) {
	sq := &search.Query{Type: "Patient"}
	if q.Fuzzy {
		var vals []search.Value
		for _, k := range matching.QueryKeys(q.matchQuery()) {
			vals = append(vals, search.Value{Code: k, Raw: k})
		}
		if len(vals) > search.MaxValues {
			vals = vals[:search.MaxValues]
		}
		sq.Clauses = append(sq.Clauses, strClause("matchkey", search.Token, vals...))
	} else if len(q.BirthDate) == 1 && q.BirthDate[0].prefix == "eq" {
		if date := q.BirthDate[0].date; !strings.Contains(q.Family, "*") && fullDate(date) {
			// A family name and one birth date: one look-up of their exact
			// key finds the few records literalMatch may accept (indexPatient).
			k := exactKey(q.Family, date)
			sq.Clauses = append(sq.Clauses, strClause("matchkey", search.Token, search.Value{Code: k, Raw: k}))
		} else {
			// A wildcard family on one birth date: the date, the most
			// selective index by far (about 30 people per day in a million),
			// drives; the family prefix (any name's: a superset of what
			// literalMatch accepts) is checked in the index per candidate,
			// so that only those are fetched and decoded; names, gender and
			// postcode are checked by literalMatch.
			sq.Clauses = append(sq.Clauses, dateClauses("birthdate", q.BirthDate)...)
			if f := search.Fold(strings.TrimSuffix(q.Family, "*")); f != "" {
				sq.Clauses = append(sq.Clauses, strClause("family", search.String, search.Value{Str: f}))
			}
		}
	} else {
		sq.Clauses = append(sq.Clauses, strClause("family", search.String, search.Value{Str: search.Fold(strings.TrimSuffix(q.Family, "*"))}))
		for _, g := range q.Given {
			sq.Clauses = append(sq.Clauses, strClause("given", search.String, search.Value{Str: search.Fold(strings.TrimSuffix(g, "*"))}))
		}
		sq.Clauses = append(sq.Clauses, dateClauses("birthdate", q.BirthDate)...)
		if q.Postcode != "" {
			sq.Clauses = append(sq.Clauses, strClause("address-postalcode", search.String, search.Value{Str: postcodeKey(strings.TrimSuffix(q.Postcode, "*"))}))
		}
	}
	sq.Clauses = append(sq.Clauses, dateClauses("death-date", q.DeathDate)...)
	if q.Email != "" {
		sq.Clauses = append(sq.Clauses, strClause("email", search.Token, search.Value{Code: q.Email}))
	}
	if q.Phone != "" {
		sq.Clauses = append(sq.Clauses, strClause("phone", search.Token, search.Value{Code: q.Phone}))
	}
	refs, err := s.store.Search(ctx, sq, candidateCap+1)
	if err != nil {
		return nil, err
	}
	res := &Result{Candidates: len(refs)}
	if len(refs) > candidateCap {
		res.TooMany = true
		return res, nil
	}
	recs, err := s.store.Fetch(ctx, refs)
	if err != nil {
		return nil, err
	}
	mq := q.matchQuery()
	for _, rec := range recs {
		// candidates are judged on their typed view; matches decoded whole
		h, err := decodeHead(rec.Body)
		if err != nil {
			return nil, fmt.Errorf("stored Patient %s: %w", rec.ID, err)
		}
		if (q.Postcode != "" || q.GP != "") && h.security() == "R" {
			continue // restricted patients never match a location search
		}
		score := matching.Score(mq, h.person())
		if q.GP != "" && q.Fuzzy && !h.hasGP(q.GP) {
			score *= 0.9
		}
		if !q.Fuzzy {
			if !q.literalMatch(&h) || (q.GP != "" && !h.hasGP(q.GP)) || (q.Gender != "" && h.Gender != q.Gender) {
				continue
			}
			if strings.HasSuffix(q.Family, "*") || strings.HasSuffix(q.Postcode, "*") {
				score = math.Min(score, 0.99) // a wildcard is never an exact match
			}
		} else if score < matching.FuzzyThreshold {
			continue
		}
		if q.Exact && score < matching.ExactThreshold {
			continue
		}
		p, err := fhir.DecodeStored(rec.Body)
		if err != nil {
			return nil, err
		}
		res.Matches = append(res.Matches, Match{Record: rec, Resource: p, Score: math.Round(score*10000) / 10000, head: h})
	}
	sort.SliceStable(res.Matches, func(i, j int) bool {
		if res.Matches[i].Score != res.Matches[j].Score {
			return res.Matches[i].Score > res.Matches[j].Score
		}
		return res.Matches[i].Record.ID < res.Matches[j].Record.ID
	})
	if len(res.Matches) > q.MaxResults {
		res.TooMany = true
		res.Matches = nil
	}
	return res, nil
}

// literalMatch applies non-fuzzy semantics: family (and given) equal after
// folding, or starting with the wildcard's prefix, on a current name (or
// any name with _history); postcode likewise on the current home address.
func (q *Query) literalMatch(h *recordHead) bool {
	eq := func(pattern, value string) bool {
		if strings.HasSuffix(pattern, "*") {
			return strings.HasPrefix(search.Fold(value), search.Fold(strings.TrimSuffix(pattern, "*")))
		}
		return search.Fold(value) == search.Fold(pattern)
	}
	nameOK := false
	for _, n := range h.Name {
		current := !n.Period.ended() && (n.Use == "" || n.Use == "usual" || n.Use == "nickname" || n.Use == "temp" || n.Use == "official")
		if !current && !q.History {
			continue
		}
		if !eq(q.Family, n.Family) {
			continue
		}
		all := true
		for _, want := range q.Given {
			found := false
			for _, g := range n.Given {
				if eq(want, g) {
					found = true
				}
			}
			all = all && found
		}
		if all {
			nameOK = true
			break
		}
	}
	if !nameOK {
		return false
	}
	if q.Postcode == "" {
		return true
	}
	want := postcodeKey(q.Postcode)
	for _, a := range h.Address {
		if a.Period.ended() && !q.History {
			continue
		}
		pc := a.PostalCode
		if strings.HasSuffix(want, "*") && strings.HasPrefix(postcodeKey(pc), strings.TrimSuffix(want, "*")) || postcodeKey(pc) == want {
			return true
		}
	}
	return false
}

// reduce keeps the field set the contract returns from searches.
func reduce(p fhir.Resource) {
	var names []any
	for _, n := range search.Walk(p, "name") {
		m, _ := n.(map[string]any)
		switch m["use"] {
		case "usual", "nickname", "temp":
			if !ended(m) {
				names = append(names, n)
			}
		}
	}
	if len(names) > 0 {
		p["name"] = names
	}
	var addrs []any
	for _, a := range search.Walk(p, "address") {
		m, _ := a.(map[string]any)
		if (m["use"] == "home" || m["use"] == nil) && !ended(m) {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) > 0 {
		p["address"] = addrs
	} else {
		delete(p, "address")
	}
	delete(p, "communication")
	removeExtensions(p, ExtNominatedPharmacy, ExtBirthPlace,
		"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-ContactPreference",
		"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSCommunication")
}

func (s *Service) handleSearch(w http.ResponseWriter, r *http.Request) {
	if err := checkHeaders(r); err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	if pr := auth.From(r.Context()); pr != nil && pr.Mode == auth.ModeApplication && q.MaxResults != 1 {
		// Application-restricted access gets a single unique match only.
		fhir.WriteError(w, r, fhir.NewError(http.StatusForbidden, fhir.CodeInvalidValue, "Invalid value - '_max-results' must be 1 in application-restricted access mode"))
		return
	}
	res, err := s.Search(r.Context(), q)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	if res.TooMany {
		oo := &fhir.Error{Status: http.StatusOK, Code: fhir.CodeTooManyMatches, IssueType: "multiple-matches", Severity: "information",
			Diagnostics: "Too many matches were found: refine the search parameters"}
		fhir.WriteResource(w, http.StatusOK, oo.Outcome())
		return
	}
	base := s.eng.BaseURL(r)
	entries := make([]engine.Entry, 0, len(res.Matches))
	for _, m := range res.Matches {
		audit.Patients(r.Context(), m.Record.ID)
		audit.Describe(r.Context(), m.Record.ID, m.head.subject())
		reduce(m.Resource)
		redact(r.Context(), m.Resource)
		entries = append(entries, engine.Entry{FullURL: base + "/Patient/" + m.Record.ID, Resource: fhir.Marshal(m.Resource), Mode: "match", Score: m.Score})
	}
	fhir.Write(w, http.StatusOK, engine.BundleJSON("searchset", len(entries), nil, entries))
}
