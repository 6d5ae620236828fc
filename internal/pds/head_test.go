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
	restricted, historic, superseded, plain := 0, 0, 0, 0
	for i := 0; i < 3000; i++ {
		p := gen.Next()
		res := p.FHIR()
		if p.SupersededBy != "" {
			res["link"] = []any{map[string]any{"type": "replaced-by", "other": map[string]any{"reference": "Patient/" + p.SupersededBy}}}
		} else if i%100 == 0 { // merged records are rare in the population
			res["link"] = []any{map[string]any{"type": "replaced-by", "other": map[string]any{"reference": "Patient/9000000009"}}}
		}
		if i%97 == 0 {
			res["meta"] = map[string]any{"security": []any{map[string]any{"system": SystemConfidentiality, "code": "REDACTED"}}}
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
		// reads skip decoding the head of records plainRecord passes
		if plainRecord(body) {
			plain++
			if sec := fromBytes.security(); sec == "R" || sec == "REDACTED" || fromBytes.supersededBy() != "" {
				t.Fatalf("patient %d (%s, superseded by %q) passes as plain", i, sec, fromBytes.supersededBy())
			}
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
	if plain < 2000 {
		t.Fatalf("only %d of 3000 records pass as plain", plain)
	}
	if restricted == 0 || historic == 0 || superseded == 0 {
		t.Fatalf("the sample lacks cases: %d restricted, %d with a previous name, %d superseded", restricted, historic, superseded)
	}
	t.Logf("%d restricted, %d with a previous name, %d superseded", restricted, historic, superseded)
}
