package matching

import (
	"fmt"
	"testing"
)

func TestExplore2(t *testing.T) {
	pairs := GenerateLabelled(1, 20000)
	n := 0
	for _, p := range pairs {
		if p.Match {
			continue
		}
		b := Explain(p.Query, p.Person)
		if b.Score >= FuzzyThreshold && n < 40 {
			n++
			fmt.Printf("%s %.3f q=%+v\n   p=%+v\n   fam=%.2f giv=%.2f dob=%.2f g=%.2f pc=%.2f\n", p.Kind, b.Score, p.Query, p.Person, b.Family.Similarity, b.Given.Similarity, b.BirthDate.Similarity, b.Gender.Similarity, b.Postcode.Similarity)
		}
	}
}
