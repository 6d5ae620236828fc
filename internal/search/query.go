package search

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/fhir"
)

// Limits of a search.
const (
	DefaultCount = 50
	MaxCount     = 1000
	MaxValues    = 100 // values in one OR list
	MaxClauses   = 30
)

// Special parameter names handled on the resource row itself.
const (
	ParamID          = "_id"
	ParamLastUpdated = "_lastUpdated"
)

// Query is a parsed search on one resource type.
type Query struct {
	Type       string
	Clauses    []Clause // AND of clauses
	Sort       []SortKey
	Count      int
	Total      string // "", none, estimate, accurate
	Summary    string // "", count, true, false, data, text
	Elements   []string
	Include    []Include
	RevInclude []Include
}

// Clause is one search parameter with its OR list of values.
type Clause struct {
	Param    Param
	Modifier string // exact, contains, not, missing, or a reference target type
	Values   []Value
}

// Value is one parsed search value.
type Value struct {
	Prefix       string // date and number: eq ne lt gt le ge sa eb ap
	Str          string // string: folded (or exact text for :exact, :contains)
	System, Code string // token
	HasSystem    bool   // token: a "|" was present
	Lo, Hi       int64  // date range, ms
	Num          float64
	NumLo, NumHi float64 // number: implicit precision range
	RefType      string
	RefID        string
	Missing      bool   // :missing=true
	Raw          string // the value as given
}

// SortKey orders results by a parameter (or _id, _lastUpdated).
type SortKey struct {
	Param Param
	Desc  bool
}

// Include is an _include (source type, parameter, optional target type)
// or _revinclude request.
type Include struct {
	SourceType string
	Param      Param
	TargetType string
}

// Registry gives the search parameters declared for each resource type.
type Registry interface {
	Params(typ string) (map[string]Param, bool)
}

var controlParams = map[string]bool{"_count": true, "_sort": true, "_total": true, "_summary": true, "_elements": true,
	"_include": true, "_revinclude": true, "_format": true, "_pretty": true}

// Parse parses the search parameters in values for resource type typ.
// Unknown parameters are refused unless lenient (Prefer: handling=lenient).
func Parse(reg Registry, typ string, values url.Values, lenient bool) (*Query, error) {
	params, ok := reg.Params(typ)
	if !ok {
		return nil, fhir.NewError(http.StatusNotFound, fhir.CodeUnsupportedService, "resource type %s is not supported here", typ)
	}
	q := &Query{Type: typ, Count: DefaultCount}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names) // deterministic clause order and errors
	for _, raw := range names {
		vals := values[raw]
		name, modifier, _ := strings.Cut(raw, ":")
		if controlParams[name] {
			if modifier != "" {
				return nil, fhir.InvalidSearch("%s takes no modifier", name)
			}
			if err := q.parseControl(reg, name, vals); err != nil {
				return nil, err
			}
			continue
		}
		p, known := params[name]
		if !known {
			switch name {
			case ParamID:
				p = Param{Name: ParamID, Type: Token}
			case ParamLastUpdated:
				p = Param{Name: ParamLastUpdated, Type: Date}
			default:
				if lenient {
					continue
				}
				return nil, fhir.InvalidSearch("unknown search parameter %q for %s", raw, typ)
			}
		}
		for _, v := range vals {
			if len(q.Clauses) >= MaxClauses {
				return nil, fhir.InvalidSearch("more than %d search parameters", MaxClauses)
			}
			c, err := parseClause(p, modifier, v)
			if err != nil {
				return nil, err
			}
			q.Clauses = append(q.Clauses, c)
		}
	}
	return q, nil
}

func (q *Query) parseControl(reg Registry, name string, vals []string) error {
	if len(vals) > 1 && name != "_include" && name != "_revinclude" {
		return fhir.InvalidSearch("%s may be given only once", name)
	}
	v := vals[0]
	switch name {
	case "_count":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fhir.InvalidSearch("_count must be a non-negative integer, not %q", v)
		}
		if n > MaxCount {
			n = MaxCount
		}
		q.Count = n
	case "_total":
		switch v {
		case "none", "estimate", "accurate":
			q.Total = v
		default:
			return fhir.InvalidSearch("_total must be none, estimate or accurate")
		}
	case "_summary":
		switch v {
		case "count", "true", "false", "data", "text":
			q.Summary = v
		default:
			return fhir.InvalidSearch("_summary must be one of count, true, false, data, text")
		}
	case "_elements":
		for _, e := range strings.Split(v, ",") {
			e = strings.TrimSpace(e)
			if e == "" || strings.ContainsAny(e, ".[]") {
				return fhir.InvalidSearch("_elements takes top-level element names, not %q", e)
			}
			q.Elements = append(q.Elements, e)
		}
	case "_sort":
		params, _ := reg.Params(q.Type)
		for _, s := range strings.Split(v, ",") {
			desc := strings.HasPrefix(s, "-")
			s = strings.TrimPrefix(s, "-")
			var p Param
			switch s {
			case ParamID:
				p = Param{Name: ParamID, Type: Token}
			case ParamLastUpdated:
				p = Param{Name: ParamLastUpdated, Type: Date}
			default:
				var ok bool
				if p, ok = params[s]; !ok {
					return fhir.InvalidSearch("cannot sort by unknown parameter %q", s)
				}
				if p.Type == Reference {
					return fhir.InvalidSearch("cannot sort by reference parameter %q", s)
				}
			}
			q.Sort = append(q.Sort, SortKey{Param: p, Desc: desc})
		}
	case "_include", "_revinclude":
		for _, v := range vals {
			if v == "*" {
				return fhir.InvalidSearch("%s=* is not supported; name the parameter", name)
			}
			parts := strings.Split(v, ":")
			if len(parts) < 2 || len(parts) > 3 {
				return fhir.InvalidSearch("%s must be SourceType:parameter[:TargetType], not %q", name, v)
			}
			params, ok := reg.Params(parts[0])
			if !ok {
				return fhir.InvalidSearch("%s names unknown resource type %q", name, parts[0])
			}
			p, ok := params[parts[1]]
			if !ok || p.Type != Reference {
				return fhir.InvalidSearch("%s: %s has no reference parameter %q", name, parts[0], parts[1])
			}
			inc := Include{SourceType: parts[0], Param: p}
			if len(parts) == 3 {
				inc.TargetType = parts[2]
			}
			if name == "_include" {
				if inc.SourceType != q.Type {
					return fhir.InvalidSearch("_include must start with the searched type %s", q.Type)
				}
				q.Include = append(q.Include, inc)
			} else {
				q.RevInclude = append(q.RevInclude, inc)
			}
		}
	}
	return nil
}

func parseClause(p Param, modifier, raw string) (Clause, error) {
	c := Clause{Param: p, Modifier: modifier}
	if modifier == "missing" {
		switch raw {
		case "true", "false":
			return Clause{Param: p, Modifier: "missing", Values: []Value{{Missing: raw == "true"}}}, nil
		}
		return c, fhir.InvalidSearch("%s:missing must be true or false", p.Name)
	}
	switch p.Type {
	case String:
		if modifier != "" && modifier != "exact" && modifier != "contains" {
			return c, fhir.InvalidSearch("modifier :%s is not supported on string parameter %s", modifier, p.Name)
		}
	case Token:
		if modifier != "" && modifier != "not" {
			return c, fhir.InvalidSearch("modifier :%s is not supported on token parameter %s", modifier, p.Name)
		}
	case Reference:
		if modifier != "" && !validTypeName(modifier) {
			return c, fhir.InvalidSearch("modifier :%s is not supported on reference parameter %s", modifier, p.Name)
		}
	default:
		if modifier != "" {
			return c, fhir.InvalidSearch("modifier :%s is not supported on %s parameter %s", modifier, p.Type, p.Name)
		}
	}
	parts := splitOr(raw)
	if len(parts) > MaxValues {
		return c, fhir.InvalidSearch("%s has more than %d values", p.Name, MaxValues)
	}
	for _, s := range parts {
		if s == "" {
			return c, fhir.InvalidSearch("%s has an empty value", p.Name)
		}
		v, err := parseValue(p, modifier, s)
		if err != nil {
			return c, err
		}
		v.Raw = s
		c.Values = append(c.Values, v)
	}
	return c, nil
}

// splitOr splits on commas not escaped with a backslash, and unescapes \, \| \$ \\.
func splitOr(raw string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\\' && i+1 < len(raw) && strings.IndexByte(`,$\`, raw[i+1]) >= 0 {
			b.WriteByte(raw[i+1])
			i++
			continue
		}
		if c == ',' {
			out = append(out, b.String())
			b.Reset()
			continue
		}
		b.WriteByte(c)
	}
	return append(out, b.String())
}

var prefixes = []string{"eq", "ne", "lt", "gt", "le", "ge", "sa", "eb", "ap"}

func cutPrefix(s string) (string, string) {
	if len(s) > 2 {
		for _, p := range prefixes {
			if s[:2] == p {
				return p, s[2:]
			}
		}
	}
	return "eq", s
}

func parseValue(p Param, modifier, s string) (Value, error) {
	var v Value
	switch p.Type {
	case String:
		if modifier == "exact" {
			v.Str = s
		} else {
			v.Str = Fold(s)
		}
	case Token:
		if sys, code, found := strings.Cut(s, "|"); found {
			v.HasSystem, v.System, v.Code = true, sys, code
			if sys == "" && code == "" {
				return v, fhir.InvalidSearch("%s: %q has neither system nor code", p.Name, s)
			}
		} else {
			v.Code = s
		}
		if p.Name == ParamID && (v.HasSystem || !fhir.ValidID(v.Code)) {
			return v, fhir.InvalidSearch("_id %q is not a valid id", s)
		}
	case Date:
		prefix, rest := cutPrefix(s)
		lo, hi, ok := DateRange(rest)
		if !ok {
			return v, fhir.InvalidSearch("%s: %q is not a valid date (use YYYY, YYYY-MM, YYYY-MM-DD or a dateTime, with an optional prefix eq ne lt gt le ge sa eb ap)", p.Name, s)
		}
		v.Prefix, v.Lo, v.Hi = prefix, lo, hi
		if prefix == "ap" {
			widen := (time.Now().UnixMilli() - lo) / 10
			if widen < 0 {
				widen = -widen
			}
			if widen < 86400000 {
				widen = 86400000
			}
			v.Lo, v.Hi = lo-widen, hi+widen
		}
	case Number:
		prefix, rest := cutPrefix(s)
		f, err := strconv.ParseFloat(rest, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return v, fhir.InvalidSearch("%s: %q is not a number", p.Name, s)
		}
		half := 0.5
		if dot := strings.IndexByte(rest, '.'); dot >= 0 {
			digits := len(rest) - dot - 1
			half = 0.5 * math.Pow10(-digits)
		}
		v.Prefix, v.Num, v.NumLo, v.NumHi = prefix, f, f-half, f+half
	case Reference:
		if typ, id, ok := SplitReference(s); ok {
			v.RefType, v.RefID = typ, id
		} else {
			v.RefID = s
			if modifier != "" {
				v.RefType = modifier
			} else if len(p.Targets) == 1 {
				v.RefType = p.Targets[0]
			}
		}
		if modifier != "" && v.RefType != modifier {
			return v, fhir.InvalidSearch("%s:%s does not match reference %q", p.Name, modifier, s)
		}
		if !fhir.ValidID(v.RefID) {
			return v, fhir.InvalidSearch("%s: %q is not a valid reference", p.Name, s)
		}
	default:
		return v, fhir.InvalidSearch("parameter %s has unsupported type %s", p.Name, p.Type)
	}
	return v, nil
}

func validTypeName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// String renders the query's clauses back as URL parameters (for Bundle
// self links), in a stable order.
func (q *Query) String() string {
	var parts []string
	for _, c := range q.Clauses {
		name := c.Param.Name
		if c.Modifier != "" {
			name += ":" + c.Modifier
		}
		vals := make([]string, len(c.Values))
		for i, v := range c.Values {
			vals[i] = v.String(c)
		}
		parts = append(parts, url.QueryEscape(name)+"="+url.QueryEscape(strings.Join(vals, ",")))
	}
	if len(q.Sort) > 0 {
		var keys []string
		for _, k := range q.Sort {
			if k.Desc {
				keys = append(keys, "-"+k.Param.Name)
			} else {
				keys = append(keys, k.Param.Name)
			}
		}
		parts = append(parts, "_sort="+url.QueryEscape(strings.Join(keys, ",")))
	}
	for _, inc := range q.Include {
		parts = append(parts, "_include="+url.QueryEscape(inc.String()))
	}
	for _, inc := range q.RevInclude {
		parts = append(parts, "_revinclude="+url.QueryEscape(inc.String()))
	}
	if len(q.Elements) > 0 {
		parts = append(parts, "_elements="+url.QueryEscape(strings.Join(q.Elements, ",")))
	}
	if q.Summary != "" {
		parts = append(parts, "_summary="+q.Summary)
	}
	if q.Total != "" {
		parts = append(parts, "_total="+q.Total)
	}
	parts = append(parts, "_count="+strconv.Itoa(q.Count))
	return strings.Join(parts, "&")
}

// String renders one value as it was given, commas escaped.
func (v Value) String(c Clause) string {
	if c.Modifier == "missing" {
		return strconv.FormatBool(v.Missing)
	}
	return strings.NewReplacer(`\`, `\\`, ",", `\,`).Replace(v.Raw)
}

// String renders an include as Source:param[:Target].
func (i Include) String() string {
	s := i.SourceType + ":" + i.Param.Name
	if i.TargetType != "" {
		s += ":" + i.TargetType
	}
	return s
}

// Describe is a short text of the clause for logs and errors.
func (c Clause) Describe() string {
	return fmt.Sprintf("%s:%s(%d values)", c.Param.Name, c.Modifier, len(c.Values))
}
