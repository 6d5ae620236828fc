package pds

import (
	"reflect"
	"testing"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/population"
)

// headOf (from a decoded resource, on the write path) and decodeHead (from
// stored bytes, on reads and searches) must see a patient alike: matching
// keys are computed from one and candidates judged on the other.
func TestHeadOfAgreesWithDecodingTheStoredBody(t *testing.T) {
	gen := population.New(7, population.Options{})
	restricted, historic, superseded := 0, 0, 0
	for i := 0; i < 3000; i++ {
		p := gen.Next()
		res := p.FHIR()
		if p.SupersededBy != "" {
			res["link"] = []any{map[string]any{"type": "replaced-by", "other": map[string]any{"reference": "Patient/" + p.SupersededBy}}}
		} else if i%100 == 0 { // merged records are rare in the population
			res["link"] = []any{map[string]any{"type": "replaced-by", "other": map[string]any{"reference": "Patient/9000000009"}}}
		}
		body := fhir.Marshal(res)
		stored, err := fhir.DecodeStored(body) // as reads see it: numbers and all
		if err != nil {
			t.Fatal(err)
		}
		fromMap := headOf(stored)
		fromBytes, err := decodeHead(body)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromMap, fromBytes) {
			t.Fatalf("patient %d differs:\nheadOf     %+v\ndecodeHead %+v", i, fromMap, fromBytes)
		}
		if !reflect.DeepEqual(fromMap.person(), person(stored)) {
			t.Fatalf("patient %d: person differs", i)
		}
		if fromBytes.security() == "R" {
			restricted++
		}
		if fromBytes.supersededBy() != "" {
			superseded++
		}
		for _, n := range fromBytes.Name {
			if n.Period.ended() {
				historic++
				break
			}
		}
	}
	if restricted == 0 || historic == 0 || superseded == 0 {
		t.Fatalf("the sample lacks cases: %d restricted, %d with a previous name, %d superseded", restricted, historic, superseded)
	}
	t.Logf("%d restricted, %d with a previous name, %d superseded", restricted, historic, superseded)
}
