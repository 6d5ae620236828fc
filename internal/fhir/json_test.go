package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeResourceRules(t *testing.T) {
	bad := map[string]string{
		`{"resourceType":"Organization","name":"a","name":"b"}`:     "duplicate",
		`{"resourceType":"Organization","name":null}`:               "null",
		`{"resourceType":"Organization","name":""}`:                 "empty string",
		`{"resourceType":"Organization","alias":[]}`:                "empty array",
		`{"resourceType":"Organization","meta":{}}`:                 "empty object",
		`{"resourceType":"Organization"} {}`:                        "after its JSON",
		`[1,2]`:                                                     "not a JSON object",
		`{"name":"x"}`:                                              "resourceType is missing",
		`{"resourceType":"Organization","id":"a b"}`:                "not a valid FHIR id",
		`{"resourceType":"Organization","meta":"x"}`:                "meta must be an object",
		`{"resourceType":"Organization"`:                            "ends too early",
		strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70): "deeper",
	}
	for in, want := range bad {
		_, err := DecodeResource([]byte(in), "")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40s: got %v, want error containing %q", in, err, want)
		}
		if fe := AsError(err); fe.Status != http.StatusBadRequest {
			t.Errorf("%.40s: status %d", in, fe.Status)
		}
	}
	if _, err := DecodeResource([]byte(`{"resourceType":"Patient"}`), "Organization"); err == nil {
		t.Error("wrong type accepted")
	}
	res, err := DecodeResource([]byte(`{"resourceType":"Observation","valueQuantity":{"value":1.50},"_given":[null,{"id":"x"}]}`), "Observation")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(Marshal(res)); got != `{"resourceType":"Observation","_given":[null,{"id":"x"}],"valueQuantity":{"value":1.50}}` {
		t.Errorf("canonical form %s", got)
	}
}

func TestMarshalEscaping(t *testing.T) {
	in := map[string]any{"a": "<tag> & \"q\" \\ \n \u2028 é \x01", "resourceType": "X", "id": "1"}
	out := Marshal(in)
	var back map[string]any
	if err := json.Unmarshal(out, &back); err != nil || back["a"] != in["a"] {
		t.Fatalf("round trip %s: %v", out, err)
	}
	if !bytes.HasPrefix(out, []byte(`{"resourceType":"X","id":"1",`)) || !bytes.Contains(out, []byte("<tag> &")) {
		t.Errorf("order or HTML escaping: %s", out)
	}
}

func TestOutcome(t *testing.T) {
	e := NewError(404, CodeResourceNotFound, "Patient/%s was not found", "1").At("Patient.id")
	oo := Marshal(e.Outcome())
	for _, want := range []string{`"code":"not-found"`, `"code":"RESOURCE_NOT_FOUND"`, SpineErrorSystem, `"expression":["Patient.id"]`} {
		if !bytes.Contains(oo, []byte(want)) {
			t.Errorf("outcome lacks %s: %s", want, oo)
		}
	}
	if fe := AsError(bytes.ErrTooLarge); fe.Status != 500 || strings.Contains(fe.Diagnostics, "too large") {
		t.Errorf("internal error leaked: %+v", fe)
	}
}

// FuzzDecodeResource: strict decoding never panics; what it accepts
// re-encodes to JSON that decodes to the same canonical bytes.
func FuzzDecodeResource(f *testing.F) {
	for _, s := range []string{
		`{"resourceType":"Organization","id":"RR8","name":"Leeds","identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"RR8"}]}`,
		`{"resourceType":"Patient","name":[{"given":["Zoë"],"family":"O'Brien"}],"birthDate":"2001-02-03","_birthDate":{"extension":[{"url":"x","valueBoolean":true}]}}`,
		`{"resourceType":"Observation","valueQuantity":{"value":1.50e3}}`,
		`{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Organization"}}]}`,
		`{"resourceType":"X","a":"\u0000\ud800"}`,
		`{"resourceType":"X","a":[null]}`,
		`[]`, `{}`, `"x"`, `{"resourceType":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := DecodeResource(data, "")
		if err != nil {
			if AsError(err).Status != http.StatusBadRequest {
				t.Fatalf("decode error is not a 400: %v", err)
			}
			return
		}
		out := Marshal(res)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON out: %s", out)
		}
		again, err := DecodeResource(out, "")
		if err != nil {
			t.Fatalf("re-decode of %s: %v", out, err)
		}
		if !bytes.Equal(Marshal(again), out) {
			t.Fatalf("not canonical: %s vs %s", Marshal(again), out)
		}
	})
}

func TestDecodeStoredKeepsNumbers(t *testing.T) {
	res, err := DecodeStored([]byte(`{"resourceType":"Observation","valueQuantity":{"value":1.50}}`))
	if err != nil || string(Marshal(res)) != `{"resourceType":"Observation","valueQuantity":{"value":1.50}}` {
		t.Fatalf("%s %v", Marshal(res), err)
	}
	// a body stored under looser rules (an empty value) still decodes
	if res, err := DecodeStored([]byte(`{"resourceType":"Patient","name":"","x":[1]} `)); err != nil || res["name"] != "" || len(res["x"].([]any)) != 1 {
		t.Fatalf("a body the scanner refuses: %v, %v", res, err)
	}
	if _, err := DecodeStored([]byte(`{"a":`)); err == nil {
		t.Fatal("broken body decoded")
	}
}

// A refusal names where the offending element sits, in the diagnostics and
// in the outcome's expression.
func TestDecodeErrorsNameThePath(t *testing.T) {
	for _, c := range []struct{ in, diagnostics, expression string }{
		{`{"resourceType":"X","a":[{"b":[1,{"c":""}]}]}`, "a[0].b[1].c is an empty string", "a[0].b[1].c"},
		{`{"resourceType":"X","a":{"b":null}}`, "a.b is null", "a.b"},
		{`{"resourceType":"X","a":[{"b":1,"b":2}]}`, `duplicate property "b" at a[0]`, "a[0].b"},
		{`{"resourceType":"X","a":[[],1]}`, "a[0] is an empty array", "a[0]"},
		{`{"resourceType":"X","given":["Anna",""]}`, "given[1] is an empty string", "given[1]"},
		{`{"resourceType":"X","a":[{"x":1},{"y":{}}]}`, "a[1].y is an empty object", "a[1].y"},
		{`{"resourceType":"X","contained":[{"id":[1,[]]}]}`, "contained[0].id[1] is an empty array", "contained[0].id[1]"},
	} {
		_, err := DecodeResource([]byte(c.in), "")
		if err == nil {
			t.Errorf("%s: accepted", c.in)
			continue
		}
		fe := AsError(err)
		if !strings.Contains(fe.Diagnostics, c.diagnostics) || !bytes.Contains(Marshal(fe.Outcome()), []byte(`"expression":["`+c.expression+`"]`)) {
			t.Errorf("%s: diagnostics %q, outcome %s; want %q at %s", c.in, fe.Diagnostics, Marshal(fe.Outcome()), c.diagnostics, c.expression)
		}
	}
	// null stays allowed as an array element (primitive extensions)
	if _, err := DecodeResource([]byte(`{"resourceType":"X","given":["a","b"],"_given":[null,{"id":"x"}]}`), ""); err != nil {
		t.Errorf("primitive extension array: %v", err)
	}
}

// BenchmarkDecodeResource decodes a 20-entry transaction Bundle of
// patient records (about 12 KB), as a create or a bundle arrives.
func BenchmarkDecodeResource(b *testing.B) {
	var entries []string
	for i := range 20 {
		entries = append(entries, fmt.Sprintf(`{"fullUrl":"urn:uuid:%d","resource":{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"99900%05d"}],`+
			`"name":[{"use":"usual","family":"Smith","given":["Anna","Marie"],"period":{"start":"2001-01-01"}},{"use":"old","family":"Jones","given":["Anna"]}],`+
			`"telecom":[{"system":"phone","value":"0113 496 %04d","use":"home"},{"system":"email","value":"anna%d@example.org"}],"gender":"female","birthDate":"1980-12-27",`+
			`"address":[{"use":"home","line":["%d High Street","Headingley"],"city":"Leeds","postalCode":"LS6 3AA"}],`+
			`"generalPractitioner":[{"type":"Organization","identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"Y12345"}}],`+
			`"extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NominatedPharmacy","valueReference":{"identifier":{"value":"FA565"}}}]},`+
			`"request":{"method":"POST","url":"Patient"}}`, i, i, i, i, i))
	}
	body := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Join(entries, ",") + `]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeResource(body, "Bundle"); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeWays: the whole-value decoding and its checks accept exactly
// what the token-by-token decoding accepts, with the same value.
func FuzzDecodeWays(f *testing.F) {
	for _, s := range []string{
		`{"resourceType":"Organization","id":"RR8","name":"Leeds","identifier":[{"system":"s","value":"RR8"}]}`,
		`{"resourceType":"X","a":"b","a":"c"}`,
		`{"resourceType":"X","a":{"b":1,"c":{"b":2,"b":3}}}`,
		`{"a:b":"c:d","e\\":"f\":g"}`,
		`{"a":[null,{"id":"x"}],"b":[""]}`,
		`{"a":{}}`, `{"a":[]}`, `{"a":null}`, `[[]]`, `{}`, `[]`, `""`, `null`, `1.50e3`,
		`{"a":1} x`, `{"a":1}  `, "\ufeff{}", `{"a":"\ud800"}`,
		strings.Repeat(`[`, 66) + strings.Repeat(`]`, 66),
		strings.Repeat(`[`, 64) + `1` + strings.Repeat(`]`, 64), strings.Repeat(`[`, 65) + `1` + strings.Repeat(`]`, 65),
		`{"a":"\ud83d\ude00","b":"\ud83d","c":"\ude00\ud83d","d":"\ud83d\u0041","e":"\u00e9\n\t\/\b\f\r\"\\"}`,
		"{\"a\":\"\xff\xfe ok \xc3\xa9\"}", "{\"\xed\xa0\x80\":\"x\"}", `{"a":-0.5e+10,"b":0,"c":-0,"d":1E-2}`,
		`[01]`, `[1.]`, `[-]`, `[.5]`, `[1e]`, `[+1]`, `[tru]`, `[nulll]`, `{"a":1,}`, `[1,]`, `{"a" 1}`, `{,}`, `{"a":"\x"}`,
		"{\"a\":\"tab\there\"}", ` {"a" : [ 1 , 2 ] } `, `{"":"x"}`, `[null]`, `[[null]]`, `{"a":[null]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, ok := decodeWhole(data)
		strict, err := decodeStrict(data)
		if ok != (err == nil) {
			t.Fatalf("whole decoding accepts: %v; token by token: %v", ok, err)
		}
		if ok && !reflect.DeepEqual(whole, strict) {
			t.Fatalf("different values: %#v and %#v", whole, strict)
		}
		std, stdOK := decodeWholeStd(data)
		if ok != stdOK {
			t.Fatalf("one-pass decoding accepts: %v; encoding/json and the checks: %v", ok, stdOK)
		}
		if ok && !reflect.DeepEqual(whole, std) {
			t.Fatalf("different values: %#v and %#v (encoding/json)", whole, std)
		}
		// stored bodies: the scanner where it accepts, encoding/json
		// otherwise, the same as encoding/json alone
		stored, serr := DecodeStored(data)
		var ref map[string]any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		rerr := dec.Decode(&ref)
		if (serr == nil) != (rerr == nil) || (serr == nil && !reflect.DeepEqual(stored, Resource(ref))) {
			t.Fatalf("DecodeStored: %#v, %v; encoding/json: %#v, %v", stored, serr, ref, rerr)
		}
	})
}

// decodeWholeStd is the earlier whole-value decoding, kept as an oracle:
// encoding/json decodes the value, and the rules are checked on the
// result (duplicate keys by counting the members in the text).
func decodeWholeStd(data []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	members, ok := conforming(v, 0)
	return v, ok && members == textMembers(data)
}

// conforming reports whether a decoded value follows the rules (depth,
// no null member, nothing empty below the top) and counts the members of
// its objects.
func conforming(v any, depth int) (members int, ok bool) {
	if depth > MaxDepth {
		return 0, false
	}
	switch t := v.(type) {
	case map[string]any:
		members = len(t)
		for _, child := range t {
			if child == nil || empty(child) {
				return 0, false
			}
			n, ok := conforming(child, depth+1)
			if !ok {
				return 0, false
			}
			members += n
		}
	case []any:
		for _, child := range t {
			if empty(child) {
				return 0, false
			}
			n, ok := conforming(child, depth+1)
			if !ok {
				return 0, false
			}
			members += n
		}
	}
	return members, true
}

// textMembers counts the object members of valid JSON text: the colons
// outside strings.
func textMembers(data []byte) int {
	n := 0
	in := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case in && c == '\\':
			i++ // the escaped character, a quote or a backslash among them
		case c == '"':
			in = !in
		case !in && c == ':':
			n++
		}
	}
	return n
}
