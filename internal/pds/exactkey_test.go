package pds

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/population"
	"github.com/openspine/openspine/internal/store/storetest"
)

// A non-fuzzy search for a family name and one birth date looks up one
// exact key: over a generated population (and names that differ from the
// query only in case, accents or ß), it returns exactly the live records
// that literalMatch accepts with that birth date, with and without
// _history, as a scan of every record does; so does a wildcard family,
// searched by the date and the family prefix instead.
func TestExactKeyFindsWhatLiteralMatchAccepts(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _, _ := b.Open(t)
		s := New(st)
		gen := population.New(11, population.Options{})
		var all []fhir.Resource
		for i := 0; i < 1500; i++ {
			all = append(all, SeedResource(gen.Next()))
		}
		for i, fam := range []string{"Strauß", "STRAUSS", "Zoë", "zoe", "Ó Briain", "o briain", "Nuñez"} {
			p := SeedResource(gen.Next())
			p["birthDate"] = "1971-03-04"
			p["name"] = []any{map[string]any{"use": "usual", "family": fam, "given": []any{fmt.Sprintf("Test%d", i)}}}
			all = append(all, p)
		}
		if err := s.Load(ctx, all); err != nil {
			t.Fatal(err)
		}
		heads := map[string]recordHead{}
		for _, p := range all {
			h, err := decodeHead(fhir.Marshal(p))
			if err != nil {
				t.Fatal(err)
			}
			if h.supersededBy() == "" && h.security() != "REDACTED" {
				heads[p["id"].(string)] = h
			}
		}
		queries, found := 0, 0
		for i, p := range all {
			if i%5 != 0 && i < 1500 {
				continue
			}
			h := heads[p["id"].(string)]
			for _, n := range h.Name {
				families := []string{n.Family, strings.ToUpper(n.Family), "Strauss", "Zoe", "O Briain", "Nunez"}
				if r := []rune(n.Family); len(r) >= 3 {
					families = append(families, string(r[:3])+"*") // a wildcard: the date drives instead
				}
				for _, family := range families {
					for _, history := range []bool{false, true} {
						v := url.Values{"family": {family}, "birthdate": {"eq" + h.BirthDate}}
						if history {
							v.Set("_history", "true")
						}
						q, err := ParseQuery(v)
						if err != nil {
							t.Fatalf("%v: %v", v, err)
						}
						res, err := s.Search(ctx, q)
						if err != nil {
							t.Fatal(err)
						}
						var got, want []string
						for _, m := range res.Matches {
							got = append(got, m.Record.ID)
						}
						for id, c := range heads {
							if c.BirthDate == h.BirthDate && q.literalMatch(&c) {
								want = append(want, id)
							}
						}
						slices.Sort(got)
						slices.Sort(want)
						if !slices.Equal(got, want) {
							t.Fatalf("%v: found %v, literalMatch accepts %v", v, got, want)
						}
						queries++
						found += len(got)
					}
				}
			}
		}
		if queries < 1000 || found < queries/4 {
			t.Fatalf("%d queries found %d records: too few to test anything", queries, found)
		}
		t.Logf("%d queries, %d records found", queries, found)
	})
}
