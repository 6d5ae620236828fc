package pds

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/jsonpatch"
)

// FuzzParseQuery: the PDS search parser never panics and only refuses
// with a 400 carrying a contract code.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"family=Smith&birthdate=eq2010-10-22", "family=Sm*&given=Jane&given=Anne&birthdate=ge2010-01-01&birthdate=le2010-12-31",
		"family=Smith&given=Jane&birthdate=2010-10-22&_fuzzy-match=true&_max-results=10", "address-postalcode=LS1*&family=Sm*&birthdate=eq2000-01-01",
		"family=O%27Brien&birthdate=eq1980-02-29&gender=female&email=a@b.c&phone=%2B44%20113", "_exact-match=true&_history=true",
		"family=&birthdate=", "death-date=le2020-01-01&family=X&birthdate=eq1900-01-01", "general-practitioner=Y12345&family=Smith&birthdate=eq2010-10-22",
		"family=*&birthdate=eq2010-10-22", "family=Smith&birthdate=eq2010-13-40",
	} {
		f.Add(s)
	}
	codes := map[string]bool{fhir.CodeUnsupportedService: true, CodeAdditionalProps: true, fhir.CodeInvalidSearchData: true,
		fhir.CodeInvalidValue: true, fhir.CodeMissingValue: true}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v)
		if err != nil {
			fe := fhir.AsError(err)
			if fe.Status != 400 || !codes[fe.Code] {
				t.Fatalf("%q: refused with %d %s", raw, fe.Status, fe.Code)
			}
			return
		}
		if q.Family == "" && len(q.Given) == 0 {
			t.Fatalf("%q accepted without a name", raw)
		}
		if len(q.BirthDate) == 0 {
			t.Fatalf("%q accepted without a birth date", raw)
		}
		_ = q.matchQuery()
	})
}

func fuzzPatient() fhir.Resource {
	res, err := fhir.DecodeResource([]byte(`{"resourceType":"Patient","id":"9000000009",
 "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],
 "name":[{"id":"n1","use":"usual","family":"Smith","given":["Jane"]}],"gender":"female","birthDate":"2010-10-22",
 "address":[{"id":"a1","use":"home","line":["1 Street"],"postalCode":"LS1 6AE"}],
 "telecom":[{"id":"t1","system":"phone","value":"01632960587"}]}`), "Patient")
	if err != nil {
		panic(err)
	}
	return res
}

// FuzzPatch: a PATCH document either is refused by the contract's rules,
// or yields a Patient that passes validation and keeps its NHS number —
// never a panic, never a changed id.
func FuzzPatch(f *testing.F) {
	for _, s := range []string{
		`[{"op":"replace","path":"/gender","value":"male"}]`,
		`[{"op":"add","path":"/name/-","value":{"use":"nickname","family":"Smith","given":["Janey"]}}]`,
		`[{"op":"test","path":"/address/0/id","value":"a1"},{"op":"remove","path":"/address/0"}]`,
		`[{"op":"test","path":"/name/0/id","value":"n1"},{"op":"replace","path":"/name/0/family","value":"Jones"}]`,
		`[{"op":"replace","path":"/identifier/0/value","value":"1"}]`,
		`[{"op":"add","path":"/telecom/-","value":{"system":"email","value":"x@y.z"}}]`,
		`[{"op":"replace","path":"/birthDate","value":"2099-01-01"}]`,
		`[{"op":"move","from":"/name/0","path":"/name/1"}]`,
		`[{"op":"remove","path":"/name"}]`, `{}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, patch []byte) {
		ops, err := jsonpatch.Parse(patch)
		if err != nil {
			return
		}
		cur := fuzzPatient()
		if err := checkOps(ops, cur); err != nil {
			if s := fhir.AsError(err).Status; s != 400 && s != 403 {
				t.Fatalf("rule refusal with status %d", s)
			}
			return
		}
		out, err := jsonpatch.Apply(map[string]any(cur), ops)
		if err != nil {
			return
		}
		b, _ := json.Marshal(out)
		res, err := fhir.DecodeResource(b, "Patient")
		if err != nil {
			return
		}
		if re := validatePatient(res, "9000000009"); re != nil {
			return
		}
		if res["id"] != "9000000009" {
			t.Fatalf("patch changed the id: %v", res["id"])
		}
	})
}
