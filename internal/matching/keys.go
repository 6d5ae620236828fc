package matching

import (
	"slices"
	"strconv"
	"strings"
)

// KeyVersion names the blocking-key scheme. Storage that persists keys
// should record it and re-index when it changes.
const KeyVersion = "k1"

// Blocking keys. Each key is "<kind>:<field>:<field>..." where names are
// Soundex codes (given names through the variant table first, so Bill and
// William share a key), Y is the birth year, MD the birth month and day in
// either order (the smaller first, "0312" for 12 March or 3 December, so a
// day/month transposition keeps the key) and postcodes are normalised.
const (
	keyFamilyYear      = "fy"  // family, Y (for partial-date queries only)
	keyFamilyYearMD    = "fym" // family, Y, MD
	keyFamilyGivenYear = "fgy" // family, given, Y (survives a mistyped day or month)
	keyFamilyGivenMD   = "fgm" // family, given, MD (survives a mistyped year)
	keyGivenYearMD     = "gym" // given, Y, MD (survives a changed family name)
	keyFamilyOutward   = "fo"  // family, outward code
	keyGivenOutward    = "go"  // given, outward code
	keyPostcodeYear    = "py"  // full postcode, Y
	maxKeyPartsPerName = 4
)

// keyFields are the normalised inputs of the keys of one record or query.
type keyFields struct {
	families  []string // Soundex codes of family names and their parts
	givens    []string // Soundex codes of first given names (canonical)
	year      string
	md        string
	postcodes []string
}

func (k *keyFields) addFamily(s string) {
	n := normName(s)
	if n.joined == "" {
		return
	}
	k.families = appendUnique(k.families, soundex(n.joined))
	for i, p := range n.parts {
		if i >= maxKeyPartsPerName {
			break
		}
		k.families = appendUnique(k.families, soundex(p))
	}
}

func (k *keyFields) addGiven(s string) {
	n := normName(s)
	if len(n.joined) < 2 {
		return // initials make useless blocks
	}
	for _, c := range canonicalGiven(n.joined) {
		k.givens = appendUnique(k.givens, soundex(c))
	}
}

func (k *keyFields) setDate(s string) {
	d, ok := parseDate(s)
	if !ok {
		return
	}
	k.year = strconv.Itoa(d.y)
	if d.prec == 3 {
		a, b := d.m, d.d
		if b < a {
			a, b = b, a
		}
		k.md = pad2(a) + pad2(b)
	}
}

func (k *keyFields) addPostcode(s string) {
	if pc := NormalizePostcode(s); Outward(pc) != "" {
		k.postcodes = appendUnique(k.postcodes, pc)
	}
}

func pad2(v int) string {
	if v < 10 {
		return "0" + strconv.Itoa(v)
	}
	return strconv.Itoa(v)
}

func appendUnique(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func key(parts ...string) string {
	return strings.Join(parts, ":")
}

// build returns the sorted, de-duplicated keys for the fields present.
// Records (forQuery false) get every kind; a query with a full birth date
// skips the broad family-and-year key, whose blocks grow with the
// population, because fym and fgy cover the same errors more selectively.
func (k *keyFields) build(forQuery bool) []string {
	var out []string
	var outwards []string
	for _, pc := range k.postcodes {
		outwards = appendUnique(outwards, Outward(pc))
	}
	full := k.md != ""
	for _, f := range k.families {
		if k.year != "" && (!forQuery || !full) {
			out = append(out, key(keyFamilyYear, f, k.year))
		}
		if full {
			out = append(out, key(keyFamilyYearMD, f, k.year, k.md))
			for _, g := range k.givens {
				out = append(out, key(keyFamilyGivenYear, f, g, k.year), key(keyFamilyGivenMD, f, g, k.md))
			}
		}
		for _, o := range outwards {
			out = append(out, key(keyFamilyOutward, f, o))
		}
	}
	for _, g := range k.givens {
		if full {
			out = append(out, key(keyGivenYearMD, g, k.year, k.md))
		}
		for _, o := range outwards {
			out = append(out, key(keyGivenOutward, g, o))
		}
	}
	if k.year != "" {
		for _, pc := range k.postcodes {
			out = append(out, key(keyPostcodeYear, pc, k.year))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Keys returns the blocking keys under which storage should index p:
// built from its current and historic names and postcodes and its birth
// date. A person sharing at least one key with QueryKeys(q) is a
// candidate for Score(q, ·). Keys are sorted and unique.
func Keys(p Person) []string {
	var k keyFields
	for _, n := range append([]Name{p.Name}, p.HistoricNames...) {
		k.addFamily(n.Family)
		if len(n.Given) > 0 {
			k.addGiven(n.Given[0])
		}
	}
	k.setDate(p.BirthDate)
	k.addPostcode(p.Postcode)
	for _, h := range p.HistoricPostcodes {
		k.addPostcode(h)
	}
	return k.build(false)
}

// QueryKeys returns the blocking keys to look up for q. Every key kind
// that the query's fields allow is produced, so a true match with a single
// error in one field (a typo in a name, a nickname, a changed family name,
// a transposed or mistyped birth date, a missing gender) still shares a
// key with the query. Names containing the wildcard "*" are left out. A
// query with a partial birth date yields only keys that do not need the
// day and month; a query with a full one does not use the broad
// family-and-year key.
func QueryKeys(q Query) []string {
	var k keyFields
	if !strings.Contains(q.Family, "*") {
		k.addFamily(q.Family)
	}
	if len(q.Given) > 0 && !strings.Contains(q.Given[0], "*") {
		k.addGiven(q.Given[0])
	}
	k.setDate(q.BirthDate)
	k.addPostcode(q.Postcode)
	return k.build(true)
}
