// Package search holds FHIR search: the declaration of search parameters
// per resource type, the extraction of index entries from a resource (done
// in the same transaction as the write), and the parsing of a search URL
// into a Query that the store turns into SQL.
package search

import (
	"encoding/json"
	"strings"
)

// Type is a FHIR search parameter type.
type Type string

// The supported search parameter types.
const (
	String    Type = "string"
	Token     Type = "token"
	Date      Type = "date"
	Reference Type = "reference"
	Number    Type = "number"
)

// Param declares one search parameter of a resource type.
type Param struct {
	Name    string
	Type    Type
	Paths   []string // dotted element paths from the resource root; arrays are flattened
	Targets []string // reference: the resource types it may point at
	Doc     string   // one line for the CapabilityStatement
}

// Entry is one index row extracted from a resource.
type Entry struct {
	Param string
	Type  Type
	// string
	Norm, Exact string
	// token
	System, Code string
	// date: inclusive range in Unix milliseconds
	Lo, Hi int64
	// number
	Num float64
	// reference
	RefType, RefID string
}

// Extract returns the index entries of res for params. Duplicate entries
// of one parameter are removed.
func Extract(res map[string]any, params []Param) []Entry {
	var out []Entry
	for i := range params {
		p := &params[i]
		start := len(out)
		for _, path := range p.Paths {
			for _, v := range Walk(res, path) {
				out = appendEntries(out, p, v)
			}
		}
		out = dedupe(out, start)
	}
	return out
}

func dedupe(out []Entry, start int) []Entry {
	if len(out)-start < 2 {
		return out
	}
	seen := make(map[Entry]bool, len(out)-start)
	j := start
	for _, e := range out[start:] {
		if !seen[e] {
			seen[e] = true
			out[j] = e
			j++
		}
	}
	return out[:j]
}

// Walk returns the values at a dotted path, flattening arrays on the way.
func Walk(v any, path string) []any {
	cur := []any{v}
	for _, seg := range strings.Split(path, ".") {
		var next []any
		for _, c := range cur {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			switch x := m[seg].(type) {
			case nil:
			case []any:
				next = append(next, x...)
			default:
				next = append(next, x)
			}
		}
		cur = next
		if len(cur) == 0 {
			return nil
		}
	}
	return cur
}

var stringKeys = []string{"text", "family", "given", "prefix", "suffix", "line", "city", "district", "state", "postalCode", "country", "value", "display", "name"}

func appendEntries(out []Entry, p *Param, v any) []Entry {
	switch p.Type {
	case String:
		for _, s := range stringsOf(v) {
			out = append(out, Entry{Param: p.Name, Type: String, Norm: Fold(s), Exact: s})
		}
	case Token:
		switch t := v.(type) {
		case string:
			out = append(out, Entry{Param: p.Name, Type: Token, Code: t})
		case bool:
			out = append(out, Entry{Param: p.Name, Type: Token, Code: boolString(t)})
		case map[string]any:
			if codings, ok := t["coding"].([]any); ok { // CodeableConcept
				for _, c := range codings {
					if cm, ok := c.(map[string]any); ok {
						out = appendCoding(out, p.Name, cm, "code")
					}
				}
			} else if _, ok := t["code"]; ok { // Coding
				out = appendCoding(out, p.Name, t, "code")
			} else if _, ok := t["value"]; ok { // Identifier, ContactPoint
				out = appendCoding(out, p.Name, t, "value")
			}
		}
	case Date:
		var lo, hi int64
		var ok bool
		switch t := v.(type) {
		case string:
			lo, hi, ok = DateRange(t)
		case map[string]any: // Period
			lo, hi, ok = MinTime, MaxTime, true
			if s, isStr := t["start"].(string); isStr {
				if l, _, good := DateRange(s); good {
					lo = l
				}
			}
			if s, isStr := t["end"].(string); isStr {
				if _, h, good := DateRange(s); good {
					hi = h
				}
			}
			if t["start"] == nil && t["end"] == nil {
				ok = false
			}
		}
		if ok {
			out = append(out, Entry{Param: p.Name, Type: Date, Lo: lo, Hi: hi})
		}
	case Number:
		if n, ok := v.(json.Number); ok {
			if f, err := n.Float64(); err == nil {
				out = append(out, Entry{Param: p.Name, Type: Number, Num: f})
			}
		}
	case Reference:
		if m, ok := v.(map[string]any); ok {
			if ref, ok := m["reference"].(string); ok {
				if typ, id, ok := SplitReference(ref); ok {
					out = append(out, Entry{Param: p.Name, Type: Reference, RefType: typ, RefID: id})
				}
			}
		}
	}
	return out
}

func appendCoding(out []Entry, name string, m map[string]any, codeKey string) []Entry {
	code, _ := m[codeKey].(string)
	if code == "" {
		return out
	}
	sys, _ := m["system"].(string)
	return append(out, Entry{Param: name, Type: Token, System: sys, Code: code})
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func stringsOf(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case map[string]any:
		var out []string
		for _, k := range stringKeys {
			switch x := t[k].(type) {
			case string:
				out = append(out, x)
			case []any:
				for _, e := range x {
					if s, ok := e.(string); ok {
						out = append(out, s)
					}
				}
			}
		}
		return out
	}
	return nil
}

// SplitReference splits "Type/id" (or an absolute URL ending in Type/id,
// or "Type/id/_history/n") into its type and id.
func SplitReference(ref string) (typ, id string, ok bool) {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	parts := strings.Split(ref, "/")
	if len(parts) < 2 {
		return "", "", false
	}
	typ, id = parts[len(parts)-2], parts[len(parts)-1]
	if typ == "" || id == "" || typ[0] < 'A' || typ[0] > 'Z' {
		return "", "", false
	}
	return typ, id, true
}
