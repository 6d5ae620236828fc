package store

import (
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
		i := strings.Index(where, "r.rid IN (SELECT rid FROM ")
		if i < 0 || !strings.HasPrefix(where[i+len("r.rid IN (SELECT rid FROM "):], tc.drives+" ") {
			t.Errorf("%s: %s does not drive by %s", tc.name, where, tc.drives)
		}
	}
}
