package matching

import (
	"fmt"
	"sort"
	"testing"
)

func TestExplore(t *testing.T) {
	pairs := GenerateLabelled(1, 20000)
	type st struct {
		n, hit, exact, block int
		min                  float64
		scores               []float64
	}
	m := map[string]*st{}
	for _, p := range pairs {
		k := fmt.Sprintf("%v/%s", p.Match, p.Kind)
		s := m[k]
		if s == nil {
			s = &st{min: 2}
			m[k] = s
		}
		sc := Score(p.Query, p.Person)
		s.n++
		s.scores = append(s.scores, sc)
		if sc >= FuzzyThreshold {
			s.hit++
		}
		if sc == 1 {
			s.exact++
		}
		qk := QueryKeys(p.Query)
		pk := Keys(p.Person)
		for _, a := range qk {
			for _, b := range pk {
				if a == b {
					s.block++
					goto done
				}
			}
		}
	done:
	}
	keys := []string{}
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := m[k]
		sort.Float64s(s.scores)
		q := func(f float64) float64 { return s.scores[int(f*float64(len(s.scores)-1))] }
		fmt.Printf("%-45s n=%4d fuzzy=%.3f exact=%.3f block=%.3f  p05=%.3f p50=%.3f p95=%.3f\n", k, s.n, float64(s.hit)/float64(s.n), float64(s.exact)/float64(s.n), float64(s.block)/float64(s.n), q(0.05), q(0.5), q(0.95))
	}
}
