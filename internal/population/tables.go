package population

import (
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/openspine/openspine/internal/matching"
)

// givenTable is a cumulative weight table of given names for one birth
// decade.
type givenTable struct {
	names []string
	cum   []float64
}

type tableSet struct {
	male, female []givenTable // by decade of birth from 1900
	surnames     []float64
	towns        []float64
	ages         []float64
}

// surnames are the listed surnames, in order of frequency.
var surnames = surnameList

var (
	tablesOnce sync.Once
	tables     tableSet
)

// firstDecade and lastDecade bound the birth decades with their own
// given-name tables; earlier and later births use the nearest.
const (
	firstDecade = 1900
	lastDecade  = 2020
)

func getTables() *tableSet {
	tablesOnce.Do(func() {
		tables.surnames = make([]float64, len(surnames))
		total := 0.0
		for i := range surnames {
			// Zipf-like: Smith is about 25 times as common as the 200th name.
			total += 1 / math.Pow(float64(i+6), 0.9)
			tables.surnames[i] = total
		}
		total = 0
		tables.towns = make([]float64, len(towns))
		for i, t := range towns {
			total += float64(t.weight)
			tables.towns[i] = total
		}
		total = 0
		tables.ages = make([]float64, len(ageBands))
		for i, w := range ageBands {
			total += w
			tables.ages[i] = total
		}
		tables.male = buildGiven(maleGiven)
		tables.female = buildGiven(femaleGiven)
	})
	return &tables
}

func buildGiven(list []string) []givenTable {
	type entry struct {
		name         string
		peak, weight int
	}
	entries := make([]entry, 0, len(list))
	for _, f := range list {
		parts := strings.Split(f, ":")
		if len(parts) != 3 {
			panic("population: bad given-name entry " + f)
		}
		peak, err1 := strconv.Atoi(parts[1])
		w, err2 := strconv.Atoi(parts[2])
		if err1 != nil || err2 != nil {
			panic("population: bad given-name entry " + f)
		}
		entries = append(entries, entry{parts[0], peak, w})
	}
	var out []givenTable
	for dec := firstDecade; dec <= lastDecade; dec += 10 {
		var t givenTable
		total := 0.0
		for _, e := range entries {
			total += float64(e.weight) * eraWeight(dec+5, e.peak)
			t.names = append(t.names, e.name)
			t.cum = append(t.cum, total)
		}
		out = append(out, t)
	}
	return out
}

// asciiLower folds a name for an e-mail address: "Ó Briain" → "obriain".
func asciiLower(s string) string {
	n := matching.NormalizeName(s)
	for i := 0; i < len(n); i++ {
		if n[i] < 'a' || n[i] > 'z' {
			return "patient"
		}
	}
	if n == "" {
		return "patient"
	}
	return n
}
