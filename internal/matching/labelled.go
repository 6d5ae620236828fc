package matching

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Labelled is a query paired with a candidate person and whether they are
// truly the same person. Kind names how the pair was made.
type Labelled struct {
	Query  Query
	Person Person
	Match  bool
	Kind   string
}

// Kinds of labelled pairs made by GenerateLabelled.
var (
	MatchKinds = []string{
		"exact", "case-accents", "typo-family", "typo-given", "transposed-letters",
		"hyphen-dropped", "apostrophe", "nickname", "married-name",
		"dob-transposed", "dob-digit", "postcode-space", "moved-house",
		"partial-dob", "middle-as-first", "moved-no-history", "two-errors",
	}
	NonMatchKinds = []string{
		"random", "sibling", "similar-family-same-dob", "namesake-other-dob",
		"namesake-same-year", "same-dob-same-area", "same-dob-family-different-given",
	}
)

// Name lists for the labelled generator: common British names plus the
// awkward cases (confusable spellings, diacritics, apostrophes, particles).
var (
	labSurnames = strings.Fields(`Smith Smyth Jones Williams Taylor Brown Browne Davies Davis Evans Wilson
		Thomas Johnson Johnston Jonson Roberts Robinson Thompson Thomson Wright Walker White Edwards
		Hughes Green Greene Hall Lewis Harris Clarke Clark Patel Jackson Wood Turner Martin Cooper
		Hill Ward Morris Moore King Baker Harrison Morgan Allen James Scott Phillips Philips
		Watson Parker Price Bennett Young Griffiths Mitchell Kelly Kelley Cook Cooke Carter
		Stephens Stevens Reid Reed Read Matthews Mathews Khan Singh Begum Ali Hussain Ahmed Kaur
		Shah Murphy McDonald MacDonald Nguyen Kowalski Nowak Müller García Brontë Wiśniewski`)
	labSpecialSurnames = []string{"O'Brien", "O'Connor", "O'Neill", "D'Arcy", "Ó Briain", "Ó Súilleabháin",
		"Ní Bhriain", "Mac Giolla", "Van der Berg", "De Souza", "St John"}
	labMale = strings.Fields(`William John James Robert Michael David Richard Thomas Christopher Daniel
		Matthew Andrew Joseph Edward Peter Stephen Anthony Samuel Benjamin Alexander Nicholas Patrick
		Charles Henry Jack Oliver Harry George Noah Leo Arthur Oscar Muhammad Mohammed Ahmed Ravi
		Seán Eóin Siôn Rhys Dylan Callum Liam Connor Kieran Declan Jamie Owen Lewis Ryan Kyle Ian Iain
		Lawrence Frederick Leonard Kenneth Raymond Gregory Jonathan Philip Francis Albert Alfred`)
	labFemale = strings.Fields(`Elizabeth Margaret Mary Sarah Jennifer Catherine Susan Deborah Rebecca
		Victoria Abigail Amanda Barbara Dorothy Eleanor Helen Frances Gillian Jacqueline Josephine
		Judith Louise Theresa Valerie Christine Anne Caroline Isabella Olivia Florence Harriet Matilda
		Penelope Pamela Jessica Natalie Angela Zoë Chloé Renée Siân Siobhán Niamh Aoife Róisín Amélie
		Emily Sophie Grace Amelia Ava Mia Priya Aisha Fatima Lily Ella Ruby Megan Lauren Hannah Laura`)
	labOutwards = strings.Fields(`LS1 LS6 LS17 M1 M14 M60 B1 B15 B90 E1 E1W EC1A N1C NW1 SE1 SW1A W1A WC2H
		CR2 DN55 BS1 BS8 CF10 EH1 G1 L1 NE1 S1 S10 NG7 LE1 CB2 OX1 PL4 EX1 TR1 YO1 HU1 BT1 AB10 IV1 PO1`)
)

const inwardLetters = "ABDEFGHJLNPQRSTUWXYZ"

type labGen struct {
	r *rand.Rand
}

func (g *labGen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *labGen) surname() string {
	switch x := g.r.IntN(100); {
	case x < 6:
		return g.pick(labSpecialSurnames)
	case x < 11:
		a, b := g.pick(labSurnames), g.pick(labSurnames)
		for b == a {
			b = g.pick(labSurnames)
		}
		return a + "-" + b
	}
	return g.pick(labSurnames)
}

func (g *labGen) given(gender string) string {
	if gender == "female" {
		return g.pick(labFemale)
	}
	return g.pick(labMale)
}

func (g *labGen) postcode() string {
	return g.pick(labOutwards) + " " + strconv.Itoa(g.r.IntN(10)) +
		string(inwardLetters[g.r.IntN(len(inwardLetters))]) + string(inwardLetters[g.r.IntN(len(inwardLetters))])
}

func (g *labGen) date() (y, m, d int) {
	y = 1925 + g.r.IntN(100)
	m = 1 + g.r.IntN(12)
	d = 1 + g.r.IntN(daysIn(y, m))
	return
}

func fmtDate(y, m, d int) string {
	return strconv.Itoa(y) + "-" + pad2(m) + "-" + pad2(d)
}

func (g *labGen) person() Person {
	gender := "male"
	if g.r.IntN(2) == 0 {
		gender = "female"
	}
	p := Person{
		Name:      Name{Family: g.surname(), Given: []string{g.given(gender)}},
		Gender:    gender,
		BirthDate: fmtDate(g.date()),
		Postcode:  g.postcode(),
	}
	if g.r.IntN(100) < 40 {
		p.Name.Given = append(p.Name.Given, g.given(gender))
	}
	if g.r.IntN(100) < 20 {
		p.HistoricPostcodes = []string{g.postcode()}
	}
	return p
}

// query shapes: which fields the query supplies (PDS fuzzy-search minimum
// combinations, and the full set).
const (
	shapeGivenFamilyDOB = iota
	shapeFamilyDOBGenderPostcode
	shapeGivenDOBGenderPostcode
	shapeAll
)

func (g *labGen) queryFrom(p Person, shape int) Query {
	q := Query{BirthDate: p.BirthDate}
	if shape != shapeGivenDOBGenderPostcode {
		q.Family = p.Name.Family
	}
	if shape != shapeFamilyDOBGenderPostcode {
		q.Given = []string{p.Name.Given[0]}
	}
	if shape != shapeGivenFamilyDOB || g.r.IntN(2) == 0 {
		q.Gender = p.Gender
	}
	if shape != shapeGivenFamilyDOB {
		q.Postcode = p.Postcode
	}
	return q
}

const letters = "abcdefghijklmnopqrstuvwxyz"

// typo makes one random edit (substitution, insertion or deletion of a
// letter) well inside a name.
func (g *labGen) typo(s string) string {
	rs := []rune(s)
	if len(rs) < 3 {
		return s + "e"
	}
	i := 1 + g.r.IntN(len(rs)-1)
	c := rune(letters[g.r.IntN(26)])
	switch g.r.IntN(3) {
	case 0:
		if rs[i] == c {
			c = 'x'
		}
		rs[i] = c
	case 1:
		rs = append(rs[:i], append([]rune{c}, rs[i:]...)...)
	default:
		rs = append(rs[:i], rs[i+1:]...)
	}
	return string(rs)
}

// transpose swaps two adjacent different letters.
func (g *labGen) transpose(s string) string {
	rs := []rune(s)
	for tries := 0; tries < 10 && len(rs) >= 3; tries++ {
		i := 1 + g.r.IntN(len(rs)-2)
		if rs[i] != rs[i+1] && rs[i] != '-' && rs[i+1] != '-' && rs[i] != ' ' && rs[i+1] != ' ' {
			rs[i], rs[i+1] = rs[i+1], rs[i]
			return string(rs)
		}
	}
	return g.typo(s)
}

func stripAccents(s string) string {
	var b strings.Builder
	for _, r := range s {
		if f, ok := foldRune(r); ok {
			if r >= 'À' && r <= 'Þ' || (r >= 0x100 && r <= 0x17F && r%2 == 0) {
				f = strings.ToUpper(f[:1]) + f[1:]
			}
			b.WriteString(f)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// nicknameOf returns a nickname of a formal given name, or "" if none.
func nicknameOf(given string) string {
	n := normName(given).joined
	for _, line := range nicknameGroups {
		words := strings.Fields(line)
		if words[0] == n && len(words) > 1 {
			w := words[1]
			return strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return ""
}

// GenerateLabelled makes n deterministic labelled pairs from seed: about
// half true matches, each with one realistic error or change applied to
// the query (MatchKinds), and half true non-matches, many of them hard
// (siblings at one address, namesakes, the same birth date; NonMatchKinds).
func GenerateLabelled(seed int64, n int) []Labelled {
	g := &labGen{r: rand.New(rand.NewPCG(uint64(seed), 0x6d61746368696e67))}
	out := make([]Labelled, 0, n)
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			out = append(out, g.match(MatchKinds[g.r.IntN(len(MatchKinds))]))
		} else {
			out = append(out, g.nonMatch(NonMatchKinds[g.r.IntN(len(NonMatchKinds))]))
		}
	}
	return out
}

// requiredShapes lists the query shapes in which a kind's change is
// visible (a given-name typo needs a query with a given name).
func requiredShapes(kind string) []int {
	switch kind {
	case "typo-given", "nickname", "middle-as-first":
		return []int{shapeGivenFamilyDOB, shapeGivenDOBGenderPostcode, shapeAll}
	case "typo-family", "transposed-letters", "hyphen-dropped", "apostrophe", "married-name":
		return []int{shapeGivenFamilyDOB, shapeFamilyDOBGenderPostcode, shapeAll}
	case "postcode-space", "moved-house", "moved-no-history":
		return []int{shapeFamilyDOBGenderPostcode, shapeGivenDOBGenderPostcode, shapeAll}
	}
	return []int{shapeGivenFamilyDOB, shapeFamilyDOBGenderPostcode, shapeGivenDOBGenderPostcode, shapeAll}
}

// twoErrorKinds are combined in pairs by the "two-errors" kind.
var twoErrorKinds = []string{"typo-family", "typo-given", "nickname", "dob-transposed", "dob-digit",
	"moved-no-history", "transposed-letters", "married-name", "partial-dob"}

func (g *labGen) match(kind string) Labelled {
	p := g.person()
	kinds := []string{kind}
	if kind == "two-errors" {
		for {
			a, b := g.pick(twoErrorKinds), g.pick(twoErrorKinds)
			if a != b && !(a == "dob-transposed" && b == "dob-digit") && !(a == "dob-digit" && b == "dob-transposed") &&
				a != "partial-dob" && !(a == "transposed-letters" && b == "typo-family") && !(a == "typo-family" && b == "transposed-letters") {
				kinds = []string{a, b}
				break
			}
		}
	}
	// Choose a query shape in which every change is visible.
	allowed := requiredShapes(kinds[0])
	for _, k := range kinds[1:] {
		allowed = slices.DeleteFunc(slices.Clone(allowed), func(s int) bool { return !slices.Contains(requiredShapes(k), s) })
	}
	shape := allowed[g.r.IntN(len(allowed))]
	for _, k := range kinds {
		g.prepare(k, &p)
	}
	q := g.queryFrom(p, shape)
	for _, k := range kinds {
		g.perturb(k, &q, &p)
	}
	return Labelled{Query: q, Person: p, Match: true, Kind: kind}
}

// prepare gives the person the feature a kind needs (a double-barrelled
// name, a nickname-able given name, a day and month that can be swapped).
func (g *labGen) prepare(kind string, p *Person) {
	switch kind {
	case "hyphen-dropped":
		a, b := g.pick(labSurnames), g.pick(labSurnames)
		p.Name.Family = a + "-" + b
	case "apostrophe":
		p.Name.Family = g.pick(labSpecialSurnames[:4])
	case "nickname":
		for nicknameOf(p.Name.Given[0]) == "" {
			p.Name.Given[0] = g.given(p.Gender)
		}
	case "middle-as-first":
		if len(p.Name.Given) < 2 {
			p.Name.Given = append(p.Name.Given, g.given(p.Gender))
		}
	case "moved-house":
		p.HistoricPostcodes = append(p.HistoricPostcodes, g.postcode())
	case "dob-transposed":
		y, m, _ := g.date()
		d := 1 + g.r.IntN(12)
		for d == m {
			d = 1 + g.r.IntN(12)
		}
		p.BirthDate = fmtDate(y, m, d)
	}
}

// perturb applies a kind's change to the query (or, for a change of
// name, to the person's record).
func (g *labGen) perturb(kind string, q *Query, p *Person) {
	switch kind {
	case "case-accents":
		if q.Family != "" {
			q.Family = strings.ToUpper(stripAccents(q.Family))
		}
		for i := range q.Given {
			q.Given[i] = strings.ToLower(stripAccents(q.Given[i]))
		}
	case "typo-family":
		q.Family = g.typo(q.Family)
	case "typo-given":
		q.Given[0] = g.typo(q.Given[0])
	case "transposed-letters":
		q.Family = g.transpose(q.Family)
	case "hyphen-dropped":
		parts := strings.Split(q.Family, "-")
		switch g.r.IntN(4) {
		case 0:
			q.Family = parts[0] + " " + parts[1]
		case 1:
			q.Family = parts[0] + parts[1]
		case 2:
			q.Family = parts[0]
		default:
			q.Family = parts[1]
		}
	case "apostrophe":
		if g.r.IntN(2) == 0 {
			q.Family = strings.ReplaceAll(q.Family, "'", "")
		} else {
			q.Family = strings.ReplaceAll(q.Family, "'", " ")
		}
	case "nickname":
		if n := nicknameOf(q.Given[0]); n != "" {
			q.Given[0] = n
		}
	case "middle-as-first":
		q.Given[0] = p.Name.Given[1]
	case "married-name":
		old := p.Name
		p.HistoricNames = append(p.HistoricNames, old)
		newFamily := g.surname()
		for newFamily == old.Family {
			newFamily = g.surname()
		}
		p.Name = Name{Family: newFamily, Given: old.Given}
	case "dob-transposed":
		d, _ := parseDate(q.BirthDate)
		if d.prec == 3 && d.d <= 12 {
			q.BirthDate = fmtDate(d.y, d.d, d.m)
		}
	case "dob-digit":
		if len(q.BirthDate) == 10 {
			q.BirthDate = g.dateDigitTypo(q.BirthDate)
		}
	case "postcode-space":
		q.Postcode = strings.ReplaceAll(q.Postcode, " ", "")
		if g.r.IntN(2) == 0 {
			q.Postcode = strings.ToLower(q.Postcode)
		}
	case "moved-house":
		q.Postcode = p.HistoricPostcodes[len(p.HistoricPostcodes)-1]
	case "moved-no-history":
		q.Postcode = g.postcode() // an old address the record never had
	case "partial-dob":
		q.BirthDate = q.BirthDate[:4]
	}
}

// dateDigitTypo changes one digit of a full date, keeping it a valid date
// in the past century.
func (g *labGen) dateDigitTypo(s string) string {
	for {
		b := []byte(s)
		pos := []int{2, 3, 5, 6, 8, 9}[g.r.IntN(6)]
		c := byte('0' + g.r.IntN(10))
		if b[pos] == c {
			continue
		}
		b[pos] = c
		if d, ok := parseDate(string(b)); ok && d.y >= 1900 && d.y <= 2025 {
			return string(b)
		}
	}
}

func (g *labGen) nonMatch(kind string) Labelled {
	a := g.person()
	b := g.person()
	shape := g.r.IntN(4)
	switch kind {
	case "sibling": // same family, birth date and address; another given name
		b.Name.Family, b.BirthDate, b.Postcode = a.Name.Family, a.BirthDate, a.Postcode
		for normName(b.Name.Given[0]).joined == normName(a.Name.Given[0]).joined ||
			variants(normName(b.Name.Given[0]).joined, normName(a.Name.Given[0]).joined) {
			b.Name.Given[0] = g.given(b.Gender)
		}
	case "similar-family-same-dob": // Smith/Smyth born the same day
		b.BirthDate = a.BirthDate
		b.Name.Family = g.typo(a.Name.Family)
		for normName(b.Name.Given[0]).joined == normName(a.Name.Given[0]).joined {
			b.Name.Given[0] = g.given(b.Gender)
		}
	case "namesake-other-dob": // same name, another birth date and address
		b.Name, b.Gender = a.Name, a.Gender
	case "namesake-same-year":
		b.Name, b.Gender = a.Name, a.Gender
		d, _ := parseDate(a.BirthDate)
		for {
			m := 1 + g.r.IntN(12)
			day := 1 + g.r.IntN(daysIn(d.y, m))
			if (m != d.m || day != d.d) && (m != d.d || day != d.m) {
				b.BirthDate = fmtDate(d.y, m, day)
				break
			}
		}
	case "same-dob-same-area": // strangers born the same day, same outward code
		b.BirthDate = a.BirthDate
		for normName(b.Name.Family).joined == normName(a.Name.Family).joined {
			b.Name.Family = g.surname()
		}
		for normName(b.Name.Given[0]).joined == normName(a.Name.Given[0]).joined ||
			variants(normName(b.Name.Given[0]).joined, normName(a.Name.Given[0]).joined) {
			b.Name.Given[0] = g.given(b.Gender)
		}
		b.Postcode = Outward(NormalizePostcode(a.Postcode)) + " " + strconv.Itoa(g.r.IntN(10)) + "ZZ"
	case "same-dob-family-different-given":
		b.BirthDate = a.BirthDate
		b.Name.Family = a.Name.Family
		for normName(b.Name.Given[0]).joined == normName(a.Name.Given[0]).joined ||
			variants(normName(b.Name.Given[0]).joined, normName(a.Name.Given[0]).joined) {
			b.Name.Given[0] = g.given(b.Gender)
		}
		if shape == shapeFamilyDOBGenderPostcode {
			shape = shapeGivenFamilyDOB
		}
	}
	if kind == "sibling" && shape == shapeFamilyDOBGenderPostcode && b.Gender == a.Gender {
		// Same-sex twins at one address are indistinguishable without a
		// given name; PDS returns both. Ask with the given name instead.
		shape = shapeAll
	}
	return Labelled{Query: g.queryFrom(a, shape), Person: b, Match: false, Kind: kind}
}
