// Package matching scores how well a Personal Demographics Service search
// query matches a stored person, and produces the blocking keys that let
// storage fetch likely candidates without scanning every record.
//
// Score compares five fields (family name, given names, birth date, gender
// and postcode) with field-specific comparators, each giving a similarity
// in [0, 1]: names are folded (case, diacritics, apostrophes, hyphens)
// and compared with Damerau–Levenshtein distance, Jaro–Winkler similarity,
// Soundex and NYSIIS phonetic codes, a table of given-name variants and
// the parts of double-barrelled names; birth dates tolerate transposed day
// and month and single-digit typos; postcodes ignore spaces and case and
// give partial credit for a shared outward code. Historic names and
// postcodes are searched too, at a small discount. The field similarities
// are combined as a weighted mean over the fields the query supplies, with
// a penalty for each field that clearly disagrees. A query whose fields
// all equal the person's current details after normalisation scores
// exactly 1.0 and nothing else does.
//
// The algorithm, its weights and its measured precision and recall are
// described in docs/pds-matching.md. Everything here is a pure function:
// deterministic and safe for concurrent use.
package matching

import "math"

// Default thresholds on Score.
const (
	// ExactThreshold is the score of an exact match: every field of the
	// query equals the person's current value after normalisation.
	ExactThreshold = 1.0
	// FuzzyThreshold is the lowest score a fuzzy search returns.
	FuzzyThreshold = 0.80
)

// Field weights in the weighted mean (see docs/pds-matching.md).
const (
	WeightFamily    = 0.30
	WeightGiven     = 0.22
	WeightBirthDate = 0.30
	WeightGender    = 0.06
	WeightPostcode  = 0.12
)

// Tuning constants.
const (
	historicFactor    = 0.97 // a historic name or postcode is slightly weaker evidence
	disagreePenalty   = 0.80 // per name or birth-date field scoring below disagreeBelow
	disagreeBelow     = 0.30
	genderPenalty     = 0.80 // when the genders differ
	maxNonExact       = 0.99 // ceiling for anything that is not an exact match
	swappedNameFactor = 0.90 // family and given names entered the wrong way round
	maxGivenNames     = 5    // given names compared per name
)

// Name is one name of a person.
type Name struct {
	Family string
	Given  []string // first given name first, then middle names
}

// Person is a candidate record: its current details and its history.
type Person struct {
	Name              Name   // current (usual) name
	HistoricNames     []Name // previous names: maiden, old, alias
	Gender            string // male | female | other | unknown
	BirthDate         string // YYYY-MM-DD (YYYY or YYYY-MM accepted)
	Postcode          string // current home postcode
	HistoricPostcodes []string
}

// Query is what a PDS search supplies. Empty fields are not compared.
type Query struct {
	Family    string
	Given     []string
	Gender    string
	BirthDate string // YYYY, YYYY-MM or YYYY-MM-DD
	Postcode  string
}

// Breakdown is the per-field detail of a Score. A field the query did not
// supply (or could not be compared) has Present false.
type Breakdown struct {
	Family, Given, BirthDate, Gender, Postcode Field
	Exact                                      bool
	Score                                      float64
}

// Field is one compared field.
type Field struct {
	Present    bool
	Similarity float64
}

// Score returns how well p matches q, in [0, 1]. 1.0 means an exact match
// (see ExactThreshold); scores at or above FuzzyThreshold are likely
// matches. Score is deterministic.
func Score(q Query, p Person) float64 {
	return Explain(q, p).Score
}

// Explain is Score with the per-field similarities.
func Explain(q Query, p Person) Breakdown {
	var b Breakdown
	exact := true

	qFam := normName(q.Family)
	var qGiven []nameForm
	for _, g := range q.Given {
		if len(qGiven) == maxGivenNames {
			break
		}
		if n := normName(g); n.joined != "" {
			qGiven = append(qGiven, n)
		}
	}
	cur := prepName(p.Name)
	var hist []preparedName
	for _, h := range p.HistoricNames {
		hist = append(hist, prepName(h))
	}

	// Names: current name at full weight, historic at a discount.
	if qFam.joined != "" || len(qGiven) > 0 {
		fam, giv, ex := compareNames(qFam, qGiven, cur)
		for _, h := range hist {
			f, g, _ := compareNames(qFam, qGiven, h)
			if combineNames(f, g, qFam, qGiven)*historicFactor > combineNames(fam, giv, qFam, qGiven) {
				fam, giv, ex = f*historicFactor, g*historicFactor, false
			}
		}
		// Family and given names the wrong way round.
		if qFam.joined != "" && len(qGiven) > 0 {
			for _, c := range append([]preparedName{cur}, hist...) {
				if len(c.given) == 0 {
					continue
				}
				f := nameSim(qFam, c.given[0]) * swappedNameFactor
				g := nameSim(qGiven[0], c.family) * swappedNameFactor
				if combineNames(f, g, qFam, qGiven) > combineNames(fam, giv, qFam, qGiven) {
					fam, giv, ex = f, g, false
				}
			}
		}
		if qFam.joined != "" {
			b.Family = Field{true, fam}
		}
		if len(qGiven) > 0 {
			b.Given = Field{true, giv}
		}
		exact = exact && ex
	}

	if q.BirthDate != "" {
		s := 0.0
		pd, pok := parseDate(p.BirthDate)
		if qd, ok := parseDate(q.BirthDate); ok && pok {
			s = compareDates(qd, pd)
		} else if qd, ok := parseSwappedDate(q.BirthDate); ok && pok {
			// YYYY-DD-MM: the day and month were entered the wrong way
			// round, which the transposition rule already discounts.
			s = compareDates(qd, pd)
		}
		b.BirthDate = Field{true, s}
		exact = exact && s == 1
	}

	if g := normGender(q.Gender); g != "" {
		pg := normGender(p.Gender)
		s := 0.0
		switch {
		case g == pg:
			s = 1
		case pg == "" || pg == "unknown" || g == "unknown":
			s = 0.5
		}
		b.Gender = Field{true, s}
		exact = exact && s == 1
	}

	if qpc := NormalizePostcode(q.Postcode); qpc != "" {
		s := comparePostcode(qpc, NormalizePostcode(p.Postcode))
		exact = exact && s == 1
		for _, h := range p.HistoricPostcodes {
			if hs := comparePostcode(qpc, NormalizePostcode(h)) * historicFactor; hs > s {
				s = hs
			}
		}
		b.Postcode = Field{true, s}
	}

	var sum, wsum float64
	penalty := 1.0
	add := func(f Field, w float64, strong bool) {
		if !f.Present {
			return
		}
		sum += w * f.Similarity
		wsum += w
		if strong && f.Similarity < disagreeBelow {
			penalty *= disagreePenalty
		}
	}
	add(b.Family, WeightFamily, true)
	add(b.Given, WeightGiven, true)
	add(b.BirthDate, WeightBirthDate, true)
	add(b.Gender, WeightGender, false)
	add(b.Postcode, WeightPostcode, false)
	if b.Gender.Present && b.Gender.Similarity == 0 {
		penalty *= genderPenalty
	}
	if wsum == 0 {
		return b
	}
	if exact {
		b.Exact = true
		b.Score = 1
		return b
	}
	s := sum / wsum * penalty
	if s > maxNonExact {
		s = maxNonExact
	}
	if s < 0 || math.IsNaN(s) {
		s = 0
	}
	b.Score = math.Round(s*10000) / 10000
	return b
}

// combineNames weighs a family and a given similarity the way Explain
// does, to choose between current, historic and swapped names.
func combineNames(fam, giv float64, qFam nameForm, qGiven []nameForm) float64 {
	s := 0.0
	if qFam.joined != "" {
		s += WeightFamily * fam
	}
	if len(qGiven) > 0 {
		s += WeightGiven * giv
	}
	return s
}

// preparedName is a normalised Name.
type preparedName struct {
	family nameForm
	given  []nameForm
}

func prepName(n Name) preparedName {
	p := preparedName{family: normName(n.Family)}
	for _, g := range n.Given {
		if len(p.given) == maxGivenNames {
			break
		}
		if f := normName(g); f.joined != "" {
			p.given = append(p.given, f)
		}
	}
	return p
}

// compareNames returns the family and given similarities of a query
// against one name, and whether both are exact.
func compareNames(qFam nameForm, qGiven []nameForm, c preparedName) (fam, giv float64, exact bool) {
	exact = true
	if qFam.joined != "" {
		fam = nameSim(qFam, c.family)
		exact = qFam.joined == c.family.joined
	}
	if len(qGiven) > 0 {
		giv = givenSim(qGiven, c.given)
		exact = exact && len(c.given) > 0 && qGiven[0].joined == c.given[0].joined
	}
	return fam, giv, exact
}

// givenSim compares the query's given names with a candidate's: first
// against first at full value, against a middle name at a discount, and
// an initial against the first letter.
func givenSim(q []nameForm, c []nameForm) float64 {
	if len(c) == 0 {
		return 0
	}
	best := 0.0
	consider := func(s float64) {
		if s > best {
			best = s
		}
	}
	q0 := q[0]
	if len(q0.joined) == 1 {
		if c[0].joined[0] == q0.joined[0] {
			consider(0.6)
		}
	} else {
		consider(givenPairSim(q0.joined, c[0].joined))
		for _, m := range c[1:] {
			consider(0.85 * givenPairSim(q0.joined, m.joined))
		}
	}
	for _, qm := range q[1:] {
		if len(qm.joined) > 1 {
			consider(0.85 * givenPairSim(qm.joined, c[0].joined))
		}
	}
	return best
}

func givenPairSim(a, b string) float64 {
	if a == b {
		return 1
	}
	s := stringSim(a, b)
	if variants(a, b) && s < 0.92 {
		s = 0.92
	}
	return s
}

// nameSim compares two normalised family names, including the parts of
// double-barrelled and multi-part names.
func nameSim(a, b nameForm) float64 {
	if a.joined == "" || b.joined == "" {
		return 0
	}
	if a.joined == b.joined {
		return 1
	}
	best := stringSim(a.joined, b.joined)
	if len(a.parts) == 0 && len(b.parts) == 0 {
		return best
	}
	as, bs := a.parts, b.parts
	if len(as) == 0 {
		as = []string{a.joined}
	}
	if len(bs) == 0 {
		bs = []string{b.joined}
	}
	for _, x := range as {
		for _, y := range bs {
			s := 0.88
			if x != y {
				s = 0.88 * stringSim(x, y)
			}
			if s > best {
				best = s
			}
		}
	}
	return best
}

// stringSim grades two different normalised name strings.
func stringSim(a, b string) float64 {
	if a == b {
		return 1
	}
	jw := JaroWinkler(a, b)
	n := len(a)
	if len(b) > n {
		n = len(b)
	}
	best := 0.0
	switch {
	case jw >= 0.9:
		best = 0.6 + (jw-0.9)*2 // 0.6 .. 0.8
	case jw > 0.7:
		best = (jw - 0.7) * 3 // 0 .. 0.6
	}
	if d := DamerauLevenshtein(a, b); d == 1 && n >= 4 {
		best = math.Max(best, 0.85)
	} else if d == 1 {
		best = math.Max(best, 0.6)
	} else if d == 2 && n >= 7 {
		best = math.Max(best, 0.75)
	}
	if jw >= 0.8 {
		sx := soundex(a) == soundex(b)
		ny := nysiis(a) == nysiis(b)
		switch {
		case sx && ny:
			best = math.Max(best, 0.85)
		case sx || ny:
			best = math.Max(best, 0.7)
		}
	}
	return best
}
