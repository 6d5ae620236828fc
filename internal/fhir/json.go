package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Resource is a decoded FHIR resource: JSON objects are map[string]any,
// arrays []any, numbers json.Number (so decimals keep their precision).
type Resource = map[string]any

// MaxDepth bounds the nesting of decoded JSON.
const MaxDepth = 64

var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// ValidID reports whether s is a legal FHIR logical id.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// DecodeValue strictly decodes one JSON value: duplicate object keys, null
// object members, empty strings, objects and arrays (as members or as
// array elements), nesting deeper than MaxDepth and trailing data are
// refused, as FHIR JSON requires; null is allowed as an array element
// only (a primitive array's extensions: "_given": [null, {...}]).
//
// A one-pass scanner (decodeWhole, scan.go) first decodes the value and
// checks the rules as it goes, giving the value encoding/json would give;
// it was 2.2 times as fast as encoding/json's own decoding followed by
// the checks (BenchmarkDecodeResource: 343 → 155 µs for 18 KB). What it
// refuses is decoded again token by token with encoding/json
// (decodeStrict), which finds the same refusal and names the element. A
// fuzz test (FuzzDecodeWays) holds the three to the same answers: the
// scanner, the token-by-token decoding, and encoding/json's whole-value
// decoding with the checks applied after (kept in the test as an oracle).
func DecodeValue(data []byte) (any, error) {
	if v, ok := decodeWhole(data); ok {
		return v, nil
	}
	return decodeStrict(data)
}

func empty(v any) bool {
	switch t := v.(type) {
	case string:
		return t == ""
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// decodeStrict decodes data token by token, refusing what DecodeValue
// refuses with the path of the first offending element.
func decodeStrict(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, nil, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Invalid("the body has data after its JSON value")
	}
	return v, nil
}

// DecodeResource decodes a FHIR resource and checks its resourceType (and,
// when wantType is not empty, that it is wantType).
func DecodeResource(data []byte, wantType string) (Resource, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, Missing("the request body is empty; a FHIR resource was expected")
	}
	v, err := DecodeValue(data)
	if err != nil {
		return nil, err
	}
	res, ok := v.(map[string]any)
	if !ok {
		return nil, Invalid("the body is not a JSON object")
	}
	rt, ok := res["resourceType"].(string)
	if !ok {
		return nil, Missing("resourceType is missing").At("resourceType")
	}
	if wantType != "" && rt != wantType {
		return nil, Invalid("resourceType is %q but %q was expected", rt, wantType).At("resourceType")
	}
	if id, present := res["id"]; present {
		s, ok := id.(string)
		if !ok || !ValidID(s) {
			return nil, NewError(http.StatusBadRequest, CodeInvalidResourceID, "id is not a valid FHIR id").At(rt + ".id")
		}
	}
	if m, present := res["meta"]; present {
		if _, ok := m.(map[string]any); !ok {
			return nil, Invalid("meta must be an object").At(rt + ".meta")
		}
	}
	return res, nil
}

// jsonPath is where a value sits in a document (a[0].b): a chain built
// as the decoder descends, spelled out only for an error (building the
// text of every member's path cost more than the rest of the decoding).
type jsonPath struct {
	parent *jsonPath
	key    string // a member's name
	index  int    // an array element's index
	elem   bool   // an array element, not a member
}

func (p *jsonPath) String() string {
	if p == nil {
		return ""
	}
	if p.elem {
		return p.parent.String() + "[" + strconv.Itoa(p.index) + "]"
	}
	return join(p.parent.String(), p.key)
}

func decodeValue(dec *json.Decoder, path *jsonPath, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, Invalid("JSON nesting is deeper than %d levels", MaxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, syntaxError(err)
				}
				key, ok := kt.(string)
				if !ok {
					return nil, Invalid("malformed JSON object at %s", where(path.String()))
				}
				member := &jsonPath{parent: path, key: key}
				if _, dup := obj[key]; dup {
					return nil, Invalid("duplicate property %q at %s", key, where(path.String())).At(member.String())
				}
				child, err := decodeValue(dec, member, depth+1)
				if err != nil {
					return nil, err
				}
				if child == nil {
					return nil, Invalid("%s is null; FHIR JSON leaves absent elements out", member).At(member.String())
				}
				if err := checkNotEmpty(child, member); err != nil {
					return nil, err
				}
				obj[key] = child
			}
			if _, err := dec.Token(); err != nil {
				return nil, syntaxError(err)
			}
			return obj, nil
		case '[':
			arr := []any{}
			for dec.More() {
				elem := &jsonPath{parent: path, index: len(arr), elem: true}
				child, err := decodeValue(dec, elem, depth+1)
				if err != nil {
					return nil, err
				}
				// null stands in an array for an absent element (the
				// "_given": [null, {...}] of primitive extensions)
				if err := checkNotEmpty(child, elem); err != nil {
					return nil, err
				}
				arr = append(arr, child)
			}
			if _, err := dec.Token(); err != nil {
				return nil, syntaxError(err)
			}
			return arr, nil
		}
		return nil, Invalid("malformed JSON at %s", where(path.String()))
	default:
		return t, nil
	}
}

// checkNotEmpty refuses the empty strings, objects and arrays that FHIR
// JSON leaves out.
func checkNotEmpty(v any, path *jsonPath) error {
	if !empty(v) {
		return nil
	}
	switch v.(type) {
	case string:
		return Invalid("%s is an empty string; FHIR JSON leaves absent elements out", path).At(path.String())
	case map[string]any:
		return Invalid("%s is an empty object", path).At(path.String())
	default:
		return Invalid("%s is an empty array", path).At(path.String())
	}
}

func syntaxError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return Invalid("the body is not valid JSON (at byte %d: %s)", se.Offset, se.Error())
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return Invalid("the body is not valid JSON: it ends too early")
	}
	return Invalid("the body is not valid JSON: %s", err.Error())
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func where(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// Marshal encodes v as compact canonical JSON: object keys sorted, except
// that resourceType, id and meta come first; no HTML escaping.
func Marshal(v any) []byte { return AppendJSON(make([]byte, 0, 512), v) }

var leadingKeys = []string{"resourceType", "id", "meta"}

// AppendJSON appends the canonical JSON encoding of v to buf.
func AppendJSON(buf []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(buf, "null"...)
	case string:
		return appendString(buf, t)
	case json.Number:
		return append(buf, t...)
	case bool:
		return strconv.AppendBool(buf, t)
	case int:
		return strconv.AppendInt(buf, int64(t), 10)
	case int64:
		return strconv.AppendInt(buf, t, 10)
	case float64:
		return strconv.AppendFloat(buf, t, 'f', -1, 64)
	case map[string]any:
		buf = append(buf, '{')
		first := true
		for _, k := range leadingKeys {
			if val, ok := t[k]; ok {
				if !first {
					buf = append(buf, ',')
				}
				first = false
				buf = appendString(buf, k)
				buf = append(buf, ':')
				buf = AppendJSON(buf, val)
			}
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			if k != "resourceType" && k != "id" && k != "meta" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = appendString(buf, k)
			buf = append(buf, ':')
			buf = AppendJSON(buf, t[k])
		}
		return append(buf, '}')
	case []any:
		buf = append(buf, '[')
		for i, e := range t {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = AppendJSON(buf, e)
		}
		return append(buf, ']')
	case []string:
		buf = append(buf, '[')
		for i, e := range t {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, e)
		}
		return append(buf, ']')
	case json.RawMessage:
		return append(buf, t...)
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return append(buf, "null"...)
		}
		return append(buf, b...)
	}
}

const hexDigits = "0123456789abcdef"

func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// Clone deep-copies a decoded JSON value.
func Clone(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = Clone(e)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, e := range t {
			a[i] = Clone(e)
		}
		return a
	default:
		return v
	}
}

// DecodeStored decodes a resource the store wrote (already strictly
// checked when it was written), numbers kept as json.Number: with the
// one-pass scanner, or, for a body it refuses (one stored under looser
// rules), with encoding/json, which gives the same value for every body
// the scanner accepts.
func DecodeStored(body []byte) (Resource, error) {
	if v, ok := decodeWhole(body); ok {
		if res, ok := v.(map[string]any); ok {
			return res, nil
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var res map[string]any
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("stored resource does not decode: %w", err)
	}
	return res, nil
}
