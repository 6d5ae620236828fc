package search

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openspine/openspine/internal/fhir"
)

type reg map[string][]Param

func (r reg) Params(typ string) (map[string]Param, bool) {
	ps, ok := r[typ]
	if !ok {
		return nil, false
	}
	m := map[string]Param{}
	for _, p := range ps {
		m[p.Name] = p
	}
	return m, true
}

var testReg = reg{"Organization": {
	{Name: "name", Type: String, Paths: []string{"name"}},
	{Name: "identifier", Type: Token, Paths: []string{"identifier"}},
	{Name: "date", Type: Date, Paths: []string{"period"}},
	{Name: "beds", Type: Number, Paths: []string{"beds"}},
	{Name: "partof", Type: Reference, Paths: []string{"partOf"}, Targets: []string{"Organization"}},
}}

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func TestDateRange(t *testing.T) {
	cases := []struct{ in, lo, hi string }{
		{"2024", "2024-01-01T00:00:00Z", "2024-12-31T23:59:59.999Z"},
		{"2024-02", "2024-02-01T00:00:00Z", "2024-02-29T23:59:59.999Z"},
		{"2023-02-28", "2023-02-28T00:00:00Z", "2023-02-28T23:59:59.999Z"},
		{"2024-03-01T10:00:00+01:00", "2024-03-01T09:00:00Z", "2024-03-01T09:00:00.999Z"},
		{"2024-03-01T10:00:00.123Z", "2024-03-01T10:00:00.123Z", "2024-03-01T10:00:00.123Z"},
	}
	for _, c := range cases {
		lo, hi, ok := DateRange(c.in)
		if !ok || lo != ms(c.lo) || hi != ms(c.hi) {
			t.Errorf("%s: %v %v %v", c.in, time.UnixMilli(lo).UTC(), time.UnixMilli(hi).UTC(), ok)
		}
	}
	for _, bad := range []string{"2023-02-29", "2024-13", "24", "2024-01-01T25:00:00Z", "2024-1-1", "2024-01-01T10:00:00+15:00", "tomorrow"} {
		if _, _, ok := DateRange(bad); ok {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{"Zoë": "zoe", "  Ó  Súilleabháin ": "o suilleabhain", "STRAßE": "strasse", "plain": "plain", "Renée": "renee"} {
		if got := Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExtract(t *testing.T) {
	var res map[string]any
	json.Unmarshal([]byte(`{"name":"Zoë's Surgery","identifier":[{"system":"s","value":"A1"},{"value":"B2"}],
		"period":{"start":"2020-01-01"},"partOf":{"reference":"http://x/fhir/Organization/p1"}}`), &res)
	es := Extract(res, testReg["Organization"])
	got := map[string]int{}
	for _, e := range es {
		got[e.Param]++
		if e.Param == "name" && e.Norm != "zoe's surgery" {
			t.Errorf("norm %q", e.Norm)
		}
		if e.Param == "date" && (e.Lo != ms("2020-01-01T00:00:00Z") || e.Hi != MaxTime) {
			t.Errorf("open period %v %v", e.Lo, e.Hi)
		}
		if e.Param == "partof" && (e.RefType != "Organization" || e.RefID != "p1") {
			t.Errorf("absolute reference %+v", e)
		}
	}
	if got["name"] != 1 || got["identifier"] != 2 || got["date"] != 1 || got["partof"] != 1 {
		t.Errorf("entries %v", got)
	}
}

func TestParse(t *testing.T) {
	parse := func(raw string) (*Query, error) {
		v, _ := url.ParseQuery(raw)
		return Parse(testReg, "Organization", v, false)
	}
	q, err := parse("name=Zoë,Bob&identifier=s|A1&date=ge2020&beds=1.5&_sort=-name&_count=5000&partof=p1")
	if err != nil {
		t.Fatal(err)
	}
	if q.Count != MaxCount || len(q.Sort) != 1 || !q.Sort[0].Desc || len(q.Clauses) != 5 {
		t.Fatalf("query %+v", q)
	}
	for _, c := range q.Clauses {
		switch c.Param.Name {
		case "name":
			if len(c.Values) != 2 || c.Values[0].Str != "zoe" {
				t.Errorf("name values %+v", c.Values)
			}
		case "identifier":
			if !c.Values[0].HasSystem || c.Values[0].System != "s" || c.Values[0].Code != "A1" {
				t.Errorf("token %+v", c.Values[0])
			}
		case "beds":
			if c.Values[0].NumLo != 1.45 || c.Values[0].NumHi != 1.55 {
				t.Errorf("number precision %+v", c.Values[0])
			}
		case "partof":
			if c.Values[0].RefType != "Organization" {
				t.Errorf("reference type %+v", c.Values[0])
			}
		}
	}
	for raw, want := range map[string]string{
		"nope=1": "unknown search parameter", "name:below=x": "not supported", "date=2020-02-30": "not a valid date",
		"beds=abc": "not a number", "_count=-1": "non-negative", "_sort=nope": "unknown parameter", "identifier=|": "neither",
		"_include=Organization:name": "no reference parameter", "name=": "empty value", "partof=a b": "not a valid reference",
		"name:missing=maybe": "true or false", "_total=all": "_total",
	} {
		_, err := parse(raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", raw, err, want)
		}
		if err != nil && fhir.AsError(err).Code != fhir.CodeInvalidSearchData {
			t.Errorf("%s: code %s", raw, fhir.AsError(err).Code)
		}
	}
	q, err = Parse(testReg, "Organization", url.Values{"nope": {"1"}}, true)
	if err != nil || len(q.Clauses) != 0 {
		t.Errorf("lenient: %v", err)
	}
}

// FuzzParse: the search parser never panics, only returns 400 errors, and
// what it accepts renders to a query string that parses to the same clauses.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"name=leeds", "name:exact=Zo%C3%AB&identifier=s|A1", "date=ge2020-01-01&date=lt2021", "beds=ap1.5",
		"partof=Organization/x,y&_sort=-name,_id", "name=a\\,b", "_include=Organization:partof&_count=10", "name:missing=true&identifier:not=x",
		"_lastUpdated=gt2024-01-01T10:00:00Z", "_id=a,b,c&_total=accurate&_summary=count", "%zz", "date=eq2024-02-30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := Parse(testReg, "Organization", v, false)
		if err != nil {
			if fhir.AsError(err).Status != 400 {
				t.Fatalf("error status %d: %v", fhir.AsError(err).Status, err)
			}
			return
		}
		v2, err := url.ParseQuery(q.String())
		if err != nil {
			t.Fatalf("rendered query %q does not parse: %v", q.String(), err)
		}
		q2, err := Parse(testReg, "Organization", v2, false)
		if err != nil {
			t.Fatalf("rendered query %q refused: %v", q.String(), err)
		}
		if len(q2.Clauses) != len(q.Clauses) {
			t.Fatalf("round trip changed clauses: %q -> %q", raw, q.String())
		}
	})
}
