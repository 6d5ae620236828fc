// Package population generates a deterministic synthetic population of
// Personal Demographics Service patients, for `spine seed --patients N
// --seed S`, benchmarks and tests.
//
// A Generator made with the same seed and Options yields the same patients
// in the same order. Patients have NHS numbers with valid check digits
// from the test-data range 999 000 0000–999 999 9999 (each used once,
// scattered through the range unless Options.Sequential), names drawn from
// weighted UK name tables (given names following the fashions of the
// patient's birth year, some with diacritics, apostrophes and
// double-barrelled surnames), previous (maiden) names, birth dates
// following the UK age pyramid, home addresses with valid-format UK
// postcodes and previous addresses, telephone numbers and e-mail addresses
// from ranges reserved for fiction (Ofcom drama numbers, example.com), a
// registered GP practice and often a nominated pharmacy, and small shares
// of deceased (about 1%), restricted (about 0.2%) and superseded (about
// 0.1%, merged into an earlier patient) records, and their related people
// (parents of children, next of kin, carers). Patient.FHIR renders a
// PDS-shaped FHIR R4 Patient resource, Related.FHIR a RelatedPerson.
package population

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/openspine/openspine/internal/nhsnumber"
)

// Rates of special records.
const (
	RestrictedRate = 0.002 // security label R
	SupersededRate = 0.001 // merged into another generated patient
	// Deceased patients are about 1% overall, more among the old (see
	// deceasedRate).
)

// OverflowRange is used after the test range's 909,091 valid numbers are
// exhausted: prefixes 990 000 000–998 999 999, outside every range from
// which NHS numbers are issued (England and Wales issue 400–499 and
// 600–799, Northern Ireland 320–399) but not in the reserved test block.
var OverflowRange = nhsnumber.Range{Low: 990000000, High: 998999999}

// DefaultToday is the reference date for ages when Options.Today is zero,
// fixed so that generated data does not depend on when it is generated.
var DefaultToday = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)

// Options configure a Generator. The zero value is usable.
type Options struct {
	// Practices are the ODS codes of GP practices patients register with,
	// chosen uniformly. Empty means DefaultPractices.
	Practices []string
	// Pharmacies are the ODS codes of community pharmacies that about 60%
	// of patients nominate. Empty means DefaultPharmacies.
	Pharmacies []string
	// Today is the reference date for ages, registrations and deaths.
	// Zero means DefaultToday.
	Today time.Time
	// Sequential allocates NHS numbers in ascending order instead of
	// scattering them through the range.
	Sequential bool
	// Ranges are the 9-digit NHS number prefix ranges to allocate from,
	// in order. Empty means nhsnumber.TestRange then OverflowRange.
	Ranges []nhsnumber.Range
}

// DefaultPractices and DefaultPharmacies are synthetic ODS codes used when
// Options leave them empty.
var (
	DefaultPractices  = syntheticCodes("Y9", 4, 50)
	DefaultPharmacies = syntheticCodes("FX", 3, 30)
)

func syntheticCodes(prefix string, digits, n int) []string {
	out := make([]string, n)
	for i := range out {
		s := strconv.Itoa(i + 1)
		for len(s) < digits {
			s = "0" + s
		}
		out[i] = prefix + s
	}
	return out
}

// Patient is one generated PDS record.
type Patient struct {
	NHSNumber string
	// Names[0] is the usual name; any others are previous names (use
	// "maiden" or "old") whose period has ended.
	Names     []Name
	Gender    string // male | female | other | unknown
	BirthDate string // YYYY-MM-DD
	// DeceasedDateTime is set (RFC 3339, "2023-04-05T10:21:00+00:00") for
	// deceased patients and empty otherwise.
	DeceasedDateTime string
	// Addresses[0] is the current home address; any others are previous
	// home addresses whose period has ended.
	Addresses []Address
	Telecom   []Telecom
	// GP is the ODS code of the registered GP practice; GPID is the id of
	// the generalPractitioner entry and GPStart the registration date.
	GP, GPID, GPStart string
	// Pharmacy is the ODS code of the nominated pharmacy, or "".
	Pharmacy string
	// Restricted patients carry security label R: PDS removes their
	// address, telecom and GP before returning the record.
	Restricted bool
	// SupersededBy is the NHS number of the patient this record was
	// merged into, or "". A superseded record repeats the survivor's
	// demographics (it is the duplicate that was merged away).
	SupersededBy string
	// Related are the people PDS holds as related to the patient (their
	// RelatedPerson resources): parents of children, next of kin, carers.
	Related []Related
}

// Related is a person related to a patient: given by their own details
// (name, address, telecom) or, when they are a patient too, only by a
// reference to their record (Patient set, the details left out), as the
// PDS FHIR API has them.
type Related struct {
	ID        string
	Patient   string // the related person's own NHS number when given by reference, else ""
	Name      Name
	Address   Address
	Telecom   []Telecom
	Role      string // Personal | Guardian | Agent (UK Core additional role)
	Type      string // MTH, FTH, SPS, DOMPART, CHILD, SIS, BRO (v3 RoleCode) or Carer (UK Core)
	NextOfKin bool
	Rank      int // contact rank, 1 first
	// CopyCorrespondence: copies of letters about the patient go to them.
	CopyCorrespondence bool
	Start              string // period start, YYYY-MM-DD
}

// Name is a HumanName.
type Name struct {
	ID         string
	Use        string // usual | maiden | old
	Prefix     []string
	Given      []string
	Family     string
	Start, End string // period, YYYY-MM-DD; End empty while current
}

// Address is a home address.
type Address struct {
	ID         string
	Use        string // home
	Lines      []string
	PostalCode string
	Start, End string
}

// Telecom is a ContactPoint.
type Telecom struct {
	ID     string
	System string // phone | email
	Value  string
	Use    string // home | mobile
}

// Generator produces patients. It is not safe for concurrent use; make one
// per goroutine with different seeds.
type Generator struct {
	r          *rand.Rand
	seed       uint64 // New's, for the related people's own generators
	opts       Options
	today      int // days since 1970-01-01
	todayYear  int
	ranges     []nhsnumber.Range
	rangeIdx   int
	index      uint64 // position within the current range
	mul, add   uint64 // affine permutation of the current range
	count      int
	recent     [64]Patient // recent non-superseded patients, for merges
	nRecent    int
	maleTab    []givenTable
	femaleTab  []givenTable
	surnameCum []float64
	townCum    []float64
	ageCum     []float64
}

// New returns a Generator for seed and opts.
func New(seed int64, opts Options) *Generator {
	if len(opts.Practices) == 0 {
		opts.Practices = DefaultPractices
	}
	if len(opts.Pharmacies) == 0 {
		opts.Pharmacies = DefaultPharmacies
	}
	if opts.Today.IsZero() {
		opts.Today = DefaultToday
	}
	g := &Generator{
		r:     rand.New(rand.NewPCG(uint64(seed), 0x706f70756c617465)),
		seed:  uint64(seed),
		opts:  opts,
		today: daysFromCivil(opts.Today.Year(), int(opts.Today.Month()), opts.Today.Day()),
	}
	g.todayYear = opts.Today.Year()
	g.ranges = opts.Ranges
	if len(g.ranges) == 0 {
		g.ranges = []nhsnumber.Range{nhsnumber.TestRange, OverflowRange}
	}
	g.startRange()
	tables := getTables()
	g.maleTab, g.femaleTab = tables.male, tables.female
	g.surnameCum, g.townCum, g.ageCum = tables.surnames, tables.towns, tables.ages
	return g
}

// Count is the number of patients generated so far.
func (g *Generator) Count() int { return g.count }

// startRange chooses the permutation for the current range: i ↦ (mul·i +
// add) mod size visits every prefix once when mul is coprime with size.
func (g *Generator) startRange() {
	g.index = 0
	if g.rangeIdx >= len(g.ranges) {
		return
	}
	size := g.ranges[g.rangeIdx].Size()
	if g.opts.Sequential || size < 3 {
		g.mul, g.add = 1, 0
		return
	}
	g.add = g.r.Uint64N(size)
	for {
		g.mul = size/3 + g.r.Uint64N(size/3+1)
		if gcd(g.mul, size) == 1 {
			break
		}
	}
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// nextNHSNumber returns the next unused valid NHS number. It panics when
// every range is exhausted.
func (g *Generator) nextNHSNumber() string {
	for g.rangeIdx < len(g.ranges) {
		rg := g.ranges[g.rangeIdx]
		size := rg.Size()
		for g.index < size {
			off := (g.mul*g.index + g.add) % size
			g.index++
			if n, ok := nhsnumber.FromPrefix(rg.Low + off); ok {
				return n
			}
		}
		g.rangeIdx++
		g.startRange()
	}
	panic("population: NHS number ranges exhausted")
}

// Next returns the next patient.
func (g *Generator) Next() Patient {
	g.count++
	if g.nRecent > 0 && g.r.Float64() < SupersededRate {
		return g.superseded()
	}
	p := g.patient()
	g.recent[g.nRecent%len(g.recent)] = p
	g.nRecent++
	return p
}

// superseded makes a duplicate record of a recent patient that has been
// merged into it.
func (g *Generator) superseded() Patient {
	n := g.nRecent
	if n > len(g.recent) {
		n = len(g.recent)
	}
	src := g.recent[g.r.IntN(n)]
	p := src.clone()
	p.NHSNumber = g.nextNHSNumber()
	p.SupersededBy = src.NHSNumber
	return p
}

func (p Patient) clone() Patient {
	c := p
	c.Names = make([]Name, len(p.Names))
	for i, n := range p.Names {
		n.Prefix = append([]string(nil), n.Prefix...)
		n.Given = append([]string(nil), n.Given...)
		c.Names[i] = n
	}
	c.Addresses = make([]Address, len(p.Addresses))
	for i, a := range p.Addresses {
		a.Lines = append([]string(nil), a.Lines...)
		c.Addresses[i] = a
	}
	c.Telecom = append([]Telecom(nil), p.Telecom...)
	c.Related = append([]Related(nil), p.Related...)
	return c
}

// ageBands are the shares (per mille) of the UK population in five-year
// age bands 0–4 ... 85–89 and 90+ (ONS mid-year estimates, rounded).
var ageBands = []float64{54, 59, 60, 57, 60, 65, 68, 67, 63, 64, 69, 68, 59, 51, 50, 36, 25, 15, 8}

// deceasedRate is the chance that a patient of a given age is recorded as
// deceased; it averages about 1% over the age pyramid.
func deceasedRate(age int) float64 {
	switch {
	case age < 60:
		return 0.003
	case age < 80:
		return 0.02
	}
	return 0.08
}

func (g *Generator) patient() Patient {
	r := g.r
	var p Patient
	p.NHSNumber = g.nextNHSNumber()

	switch x := r.IntN(2000); {
	case x < 1:
		p.Gender = "other"
	case x < 2:
		p.Gender = "unknown"
	case x < 987:
		p.Gender = "male"
	default:
		p.Gender = "female"
	}

	// Age from the pyramid, then a birth date.
	band := pickCum(g.ageCum, r.Float64())
	years := 5
	if band == len(ageBands)-1 {
		years = 11
	}
	ageDays := band*5*365 + band*5/4 + r.IntN(years*365)
	birth := g.today - 1 - ageDays
	by, bm, bd := civilFromDays(birth)
	p.BirthDate = fmtDate(by, bm, bd)
	age := ageDays / 365

	// Names.
	female := p.Gender == "female" || (p.Gender != "male" && r.IntN(2) == 0)
	decade := (by - 1900) / 10
	tabs := g.maleTab
	if female {
		tabs = g.femaleTab
	}
	if decade < 0 {
		decade = 0
	}
	if decade >= len(tabs) {
		decade = len(tabs) - 1
	}
	tab := &tabs[decade]
	given := []string{tab.names[pickCum(tab.cum, r.Float64())]}
	if r.IntN(100) < 45 {
		m := tab.names[pickCum(tab.cum, r.Float64())]
		if m != given[0] {
			given = append(given, m)
		}
	}
	family := g.surname()
	usual := Name{ID: g.id(), Use: "usual", Given: given, Family: family, Start: p.BirthDate}
	switch {
	case female && age >= 20 && r.Float64() < marriedShare(age):
		// Married: the birth family name becomes the maiden name.
		marriedAt := birth + (21+r.IntN(min(age-19, 20)))*365 + r.IntN(365)
		if marriedAt >= g.today {
			marriedAt = g.today - 1 - r.IntN(365)
		}
		md := fmtDays(marriedAt)
		maiden := Name{ID: g.id(), Use: "maiden", Given: given, Family: family, Start: p.BirthDate, End: md}
		usual.Family = g.surname()
		for usual.Family == family {
			usual.Family = g.surname()
		}
		usual.Start = md
		p.Names = []Name{usual, maiden}
	case age >= 18 && r.IntN(200) == 0:
		// A change of name by deed poll.
		changed := birth + (18+r.IntN(age-17))*365
		if changed >= g.today {
			changed = g.today - 1
		}
		cd := fmtDays(changed)
		old := Name{ID: g.id(), Use: "old", Given: given, Family: family, Start: p.BirthDate, End: cd}
		usual.Family = g.surname()
		usual.Start = cd
		p.Names = []Name{usual, old}
	default:
		p.Names = []Name{usual}
	}
	p.Names[0].Prefix = g.prefix(age, female, len(p.Names) > 1 && p.Names[1].Use == "maiden")

	// Deceased.
	if r.Float64() < deceasedRate(age) {
		lo := birth + 1
		if t := g.today - 10*365; t > lo {
			lo = t
		}
		dd := lo + r.IntN(max(g.today-lo, 1))
		y, m, d := civilFromDays(dd)
		p.DeceasedDateTime = fmtDate(y, m, d) + "T" + pad2(r.IntN(24)) + ":" + pad2(r.IntN(60)) + ":00+00:00"
	}

	// Addresses: current home, sometimes a previous one.
	tw := &towns[pickCum(g.townCum, r.Float64())]
	movedIn := birth
	if age > 0 {
		movedIn = g.today - 1 - r.IntN(min(age, 20)*365+1)
		if movedIn < birth {
			movedIn = birth
		}
	}
	home := g.address(tw, fmtDays(movedIn), "")
	p.Addresses = []Address{home}
	if age >= 2 && r.IntN(100) < 25 && movedIn > birth+365 {
		prevTown := tw
		if r.IntN(3) == 0 {
			prevTown = &towns[pickCum(g.townCum, r.Float64())]
		}
		start := movedIn - 365 - r.IntN(min(movedIn-birth-365, 15*365)+1)
		if start < birth {
			start = birth
		}
		p.Addresses = append(p.Addresses, g.address(prevTown, fmtDays(start), fmtDays(movedIn)))
	}

	// Telecom.
	if r.IntN(100) < 70 && age >= 12 {
		p.Telecom = append(p.Telecom, g.phone())
	}
	if r.IntN(100) < 35 && age >= 14 {
		p.Telecom = append(p.Telecom, Telecom{ID: g.id(), System: "email", Value: g.email(p.Names[0]), Use: "home"})
	}

	// GP registration and nominated pharmacy.
	p.GP = g.opts.Practices[r.IntN(len(g.opts.Practices))]
	p.GPID = g.id()
	reg := movedIn
	if reg < birth+14 {
		reg = birth + 14
	}
	if reg >= g.today {
		reg = g.today - 1
	}
	p.GPStart = fmtDays(reg)
	if r.IntN(100) < 60 {
		p.Pharmacy = g.opts.Pharmacies[r.IntN(len(g.opts.Pharmacies))]
	}

	p.Restricted = r.Float64() < RestrictedRate
	g.related(&p, age)
	return p
}

// related gives p the people PDS holds as related to them: one or two
// parents with parental responsibility for a child, a next of kin for a
// fifth of adults (a spouse or partner at the same address, a child, a
// sibling; a quarter of them patients of their own, given by reference),
// a carer for a quarter of the very old. It draws from a
// generator of its own, seeded by the NHS number, so that the patients
// themselves are the same as before related people were generated (a
// folder seeded then still matches the population benchmarks regenerate).
func (g *Generator) related(p *Patient, age int) {
	main := g.r
	nhs, _ := strconv.ParseUint(p.NHSNumber, 10, 64)
	g.r = rand.New(rand.NewPCG(nhs, g.seed^0x72656c61746564))
	defer func() { g.r = main }()
	r := g.r
	home := p.Addresses[0]
	family := p.Names[0].Family
	since := home.Start
	switch {
	case age < 16:
		since = p.BirthDate
		p.Related = append(p.Related, g.relative(Related{Address: home, Start: since, Role: "Guardian", Type: "MTH", NextOfKin: true, Rank: 1}, family, true, age+20+r.IntN(20)))
		if r.IntN(100) < 50 {
			p.Related = append(p.Related, g.relative(Related{Address: home, Start: since, Role: "Guardian", Type: "FTH", Rank: 2}, family, false, age+22+r.IntN(20)))
		}
	case age >= 18 && r.IntN(100) < 20:
		kind := r.IntN(100)
		partner := ""
		if kind < 25 {
			partner = g.recentAdult()
		}
		switch {
		case partner != "":
			// a partner who is a patient too: by reference to their record
			p.Related = append(p.Related, Related{ID: g.id(), Patient: partner, Role: "Personal",
				Type: "SPS", NextOfKin: true, Rank: 1, CopyCorrespondence: r.IntN(2) == 0, Start: since})
		case kind < 70:
			typ := "SPS"
			if r.IntN(3) == 0 {
				typ = "DOMPART"
			}
			rel := g.relative(Related{Address: home, Start: since, Role: "Personal", Type: typ, NextOfKin: true, Rank: 1}, family, p.Gender != "female", age-3+r.IntN(7))
			if typ == "DOMPART" {
				rel.Name.Family = g.surname()
			}
			p.Related = append(p.Related, rel)
		default:
			typ, female := "CHILD", r.IntN(2) == 0
			relAge := max(age-20-r.IntN(15), 18)
			if age < 45 {
				typ, relAge = "BRO", max(age-6+r.IntN(13), 16)
				if female {
					typ = "SIS"
				}
			}
			tw := &towns[pickCum(g.townCum, r.Float64())]
			rel := g.relative(Related{Address: g.address(tw, since, ""), Start: since, Role: "Personal", Type: typ, NextOfKin: true, Rank: 1}, family, female, relAge)
			if female && typ == "CHILD" && r.IntN(2) == 0 {
				rel.Name.Family = g.surname() // a married name
			}
			p.Related = append(p.Related, rel)
		}
	}
	if age >= 75 && r.IntN(100) < 25 {
		tw := &towns[pickCum(g.townCum, r.Float64())]
		family, female, age := g.surname(), r.IntN(4) != 0, 25+r.IntN(40)
		carer := g.relative(Related{Address: g.address(tw, since, ""), Start: since, Role: "Agent", Type: "Carer", Rank: len(p.Related) + 1}, family, female, age)
		p.Related = append(p.Related, carer)
	}
}

// recentAdult is the NHS number of a recent patient over 18 (a few
// draws), or "".
func (g *Generator) recentAdult() string {
	for range 8 {
		if g.nRecent == 0 {
			return ""
		}
		other := g.recent[g.r.IntN(min(g.nRecent, len(g.recent)))]
		if y, err := strconv.Atoi(other.BirthDate[:4]); err == nil && g.todayYear-y > 18 {
			return other.NHSNumber
		}
	}
	return ""
}

// relative completes rel (address, role, type, next of kin, rank and
// start set) as a related person given by their own details: a name of
// family for someone of that sex and age, a phone number.
func (g *Generator) relative(rel Related, family string, female bool, age int) Related {
	r := g.r
	tabs := g.maleTab
	if female {
		tabs = g.femaleTab
	}
	decade := min(max((g.todayYear-age-1900)/10, 0), len(tabs)-1)
	tab := &tabs[decade]
	rel.Name = Name{ID: g.id(), Use: "usual", Given: []string{tab.names[pickCum(tab.cum, r.Float64())]}, Family: family,
		Prefix: g.prefix(age, female, female && r.IntN(2) == 0)}
	rel.ID = g.id()
	rel.CopyCorrespondence = rel.Role == "Guardian" || r.IntN(4) == 0
	rel.Address.ID = g.id()
	rel.Telecom = []Telecom{g.phone()}
	return rel
}

// phone is a telephone number from the ranges reserved for fiction: a
// mobile (65 %) or a home line.
func (g *Generator) phone() Telecom {
	if g.r.IntN(100) < 65 {
		return Telecom{ID: g.id(), System: "phone", Value: "07700900" + pad3(g.r.IntN(1000)), Use: "mobile"}
	}
	return Telecom{ID: g.id(), System: "phone", Value: "01632960" + pad3(g.r.IntN(1000)), Use: "home"}
}

// marriedShare is the chance that a woman of a given age has taken a
// married name.
func marriedShare(age int) float64 {
	switch {
	case age < 25:
		return 0.08
	case age < 30:
		return 0.25
	case age < 40:
		return 0.45
	}
	return 0.55
}

func (g *Generator) prefix(age int, female, married bool) []string {
	r := g.r
	switch {
	case age < 16:
		if r.IntN(2) == 0 {
			return nil
		}
		if female {
			return []string{"Miss"}
		}
		return []string{"Master"}
	case age >= 28 && r.IntN(100) == 0:
		return []string{"Dr"}
	case !female:
		return []string{"Mr"}
	case married:
		return []string{"Mrs"}
	case r.IntN(3) == 0:
		return []string{"Ms"}
	}
	return []string{"Miss"}
}

func (g *Generator) surname() string {
	r := g.r
	x := r.IntN(1000)
	switch {
	case x < 10: // double-barrelled
		return g.listSurname() + "-" + g.listSurname()
	case x < 300: // the long tail
		return tailPrefixes[r.IntN(len(tailPrefixes))] + tailSuffixes[r.IntN(len(tailSuffixes))]
	}
	return g.listSurname()
}

func (g *Generator) listSurname() string {
	return surnames[pickCum(g.surnameCum, g.r.Float64())]
}

const hexDigits = "0123456789ABCDEF"

// id returns an 8-hex-digit object identifier, like PDS's "254406A3".
func (g *Generator) id() string {
	v := g.r.Uint32()
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = hexDigits[v&15]
		v >>= 4
	}
	return string(b[:])
}

func (g *Generator) address(tw *town, start, end string) Address {
	r := g.r
	var line1 string
	street := streetNames[r.IntN(len(streetNames))] + " " + streetSuffixes[r.IntN(len(streetSuffixes))]
	if r.IntN(100) < 12 {
		line1 = "Flat " + strconv.Itoa(1+r.IntN(40)) + ", " + buildingNames[r.IntN(len(buildingNames))]
	}
	num := strconv.Itoa(1+r.IntN(180)) + " " + street
	lines := make([]string, 0, 5)
	if line1 != "" {
		lines = append(lines, line1)
	}
	lines = append(lines, num)
	if r.IntN(100) < 30 {
		lines = append(lines, localities[r.IntN(len(localities))])
	}
	lines = append(lines, tw.name)
	if tw.county != "" {
		lines = append(lines, tw.county)
	}
	return Address{ID: g.id(), Use: "home", Lines: lines, PostalCode: g.postcode(tw), Start: start, End: end}
}

// postcode makes a postcode in the town's area: outward code (area,
// district, optional sub-district letter), a space, inward code (sector
// digit and two unit letters).
func (g *Generator) postcode(tw *town) string {
	r := g.r
	var b [8]byte
	n := copy(b[:], tw.area)
	d := 1 + r.IntN(tw.maxDistrict)
	sub := false
	if tw.subDistricts {
		switch tw.area {
		case "EC", "WC":
			sub = true
		default:
			sub = d == 1 && r.IntN(2) == 0
		}
	}
	if d >= 10 {
		b[n] = byte('0' + d/10)
		n++
	}
	b[n] = byte('0' + d%10)
	n++
	if sub {
		b[n] = subDistrictLetters[r.IntN(len(subDistrictLetters))]
		n++
	}
	s := string(b[:n]) + " "
	return s + string([]byte{byte('0' + r.IntN(10)), inwardLetters[r.IntN(len(inwardLetters))], inwardLetters[r.IntN(len(inwardLetters))]})
}

var emailDomains = []string{"example.com", "example.org", "example.net"}

func (g *Generator) email(n Name) string {
	r := g.r
	given := asciiLower(n.Given[0])
	fam := asciiLower(n.Family)
	s := given + "." + fam
	switch r.IntN(3) {
	case 0:
		s = given[:1] + fam
	case 1:
		s += strconv.Itoa(r.IntN(100))
	}
	return s + "@" + emailDomains[r.IntN(len(emailDomains))]
}

func pad2(v int) string {
	if v < 10 {
		return "0" + strconv.Itoa(v)
	}
	return strconv.Itoa(v)
}

func pad3(v int) string {
	switch {
	case v < 10:
		return "00" + strconv.Itoa(v)
	case v < 100:
		return "0" + strconv.Itoa(v)
	}
	return strconv.Itoa(v)
}

// pickCum returns the index i with cum[i-1] <= x*total < cum[i].
func pickCum(cum []float64, x float64) int {
	t := x * cum[len(cum)-1]
	lo, hi := 0, len(cum)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if cum[mid] > t {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// Dates as days since 1970-01-01 (proleptic Gregorian; H. Hinnant's
// civil-from-days algorithms).
func daysFromCivil(y, m, d int) int {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func civilFromDays(z int) (y, m, d int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func fmtDate(y, m, d int) string {
	var b [10]byte
	b[0], b[1], b[2], b[3] = byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10)
	b[4], b[7] = '-', '-'
	b[5], b[6] = byte('0'+m/10), byte('0'+m%10)
	b[8], b[9] = byte('0'+d/10), byte('0'+d%10)
	return string(b[:])
}

func fmtDays(days int) string { return fmtDate(civilFromDays(days)) }

// eraWeight scales a given name's weight by the distance of the birth
// year from its peak year.
func eraWeight(year, peak int) float64 {
	x := float64(year-peak) / 18
	return math.Exp(-x*x) + 0.01
}
