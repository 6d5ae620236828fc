package store

import (
	"hash/fnv"
	"strings"
	"testing"

	"github.com/openspine/openspine/internal/search"
)

func TestADayDrivesBeforeANamePrefix(t *testing.T) {
	family := search.Clause{Param: search.Param{Name: "family", Type: search.String}, Values: []search.Value{{Str: "smith"}}}
	day := search.Clause{Param: search.Param{Name: "birthdate", Type: search.Date}, Values: []search.Value{{Prefix: "eq", Lo: 0, Hi: 24*60*60*1000 - 1}}}
	year := search.Clause{Param: search.Param{Name: "birthdate", Type: search.Date}, Values: []search.Value{{Prefix: "eq", Lo: 0, Hi: 365 * 24 * 60 * 60 * 1000}}}
	sqlite := dialect{noIndex: "+"}
	for _, tc := range []struct {
		name    string
		clauses []search.Clause
		drives  string
	}{
		{"family and a birth date", []search.Clause{family, day}, "sp_date"},
		{"family and a birth year", []search.Clause{family, year}, "sp_string"},
	} {
		where, _ := buildWhere(sqlite, &search.Query{Type: "Patient", Clauses: tc.clauses})
		i := strings.Index(where, "r.rid IN (SELECT d.rid FROM ")
		if i < 0 || !strings.HasPrefix(where[i+len("r.rid IN (SELECT d.rid FROM "):], tc.drives+" ") {
			t.Errorf("%s: %s does not drive by %s", tc.name, where, tc.drives)
		}
	}
}

// The other index clauses are checked on the driving clause's rows, inside
// its subquery (before the resources row is read); clauses on the
// resources row itself stay outside it.
func TestIndexClausesAreCheckedInsideTheDrivingSubquery(t *testing.T) {
	family := search.Clause{Param: search.Param{Name: "family", Type: search.String}, Values: []search.Value{{Str: "smith"}}}
	day := search.Clause{Param: search.Param{Name: "birthdate", Type: search.Date}, Values: []search.Value{{Prefix: "eq", Lo: 0, Hi: 24*60*60*1000 - 1}}}
	missing := search.Clause{Param: search.Param{Name: "death-date", Type: search.Date}, Modifier: "missing", Values: []search.Value{{Missing: true}}}
	updated := search.Clause{Param: search.Param{Name: search.ParamLastUpdated, Type: search.Date}, Values: []search.Value{{Prefix: "ge", Lo: 5, Hi: 6}}}
	where, args := buildWhere(dialect{noIndex: "+"}, &search.Query{Type: "Patient", Clauses: []search.Clause{updated, family, missing, day}})
	want := "+r.type = ? AND r.deleted = 0 AND r.rid IN (SELECT d.rid FROM sp_date d WHERE d.pid = ? AND ((lo >= ? AND lo <= ? AND hi <= ?))" +
		" AND EXISTS (SELECT 1 FROM sp_string x WHERE x.rid = d.rid AND x.pid = ? AND ((norm >= ? AND norm < ?)))" +
		" AND NOT EXISTS (SELECT 1 FROM sp_date x WHERE x.rid = d.rid AND x.pid = ?))" +
		" AND (r.ts >= ?)"
	if where != want {
		t.Fatalf("where\n got %s\nwant %s", where, want)
	}
	if len(args) != strings.Count(where, "?") {
		t.Fatalf("%d arguments for %d placeholders", len(args), strings.Count(where, "?"))
	}
	if args[1] != ParamKey("Patient", "birthdate") || args[5] != ParamKey("Patient", "family") || args[8] != ParamKey("Patient", "death-date") {
		t.Fatalf("parameter keys in %v", args)
	}
}

// ParamKey is FNV-1a (as hash/fnv computes it) of "type.param", 31 bits.
func TestParamKeyIsFNV1a(t *testing.T) {
	for _, tc := range [][2]string{{"Patient", "family"}, {"Organization", "identifier"}, {"", ""}, {"MedicationRequest", "group-identifier"}} {
		h := fnv.New32a()
		h.Write([]byte(tc[0] + "." + tc[1]))
		if got, want := ParamKey(tc[0], tc[1]), int64(h.Sum32()&0x7fffffff); got != want {
			t.Errorf("ParamKey(%q, %q) = %d, want %d", tc[0], tc[1], got, want)
		}
	}
	if ParamKey("Patient", "family") == ParamKey("Patient", "given") {
		t.Fatal("two parameters share a key")
	}
}
