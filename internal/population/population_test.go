package population

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/openspine/openspine/internal/matching"
	"github.com/openspine/openspine/internal/nhsnumber"
)

func TestDeterminism(t *testing.T) {
	a, b := New(42, Options{}), New(42, Options{})
	for i := 0; i < 5000; i++ {
		pa, pb := a.Next(), b.Next()
		if !reflect.DeepEqual(pa, pb) {
			t.Fatalf("patient %d differs:\n%+v\n%+v", i, pa, pb)
		}
	}
	c := New(43, Options{})
	if reflect.DeepEqual(New(42, Options{}).Next(), c.Next()) {
		t.Error("different seeds gave the same first patient")
	}
	ja, _ := json.Marshal(New(7, Options{}).Next().FHIR())
	jb, _ := json.Marshal(New(7, Options{}).Next().FHIR())
	if string(ja) != string(jb) {
		t.Error("FHIR output not deterministic")
	}
}

// postcodeFormats are the six UK postcode formats.
var postcodeFormats = map[string]*regexp.Regexp{
	"A9 9AA":   regexp.MustCompile(`^[A-Z][0-9] [0-9][A-Z]{2}$`),
	"A99 9AA":  regexp.MustCompile(`^[A-Z][0-9]{2} [0-9][A-Z]{2}$`),
	"A9A 9AA":  regexp.MustCompile(`^[A-Z][0-9][A-Z] [0-9][A-Z]{2}$`),
	"AA9 9AA":  regexp.MustCompile(`^[A-Z]{2}[0-9] [0-9][A-Z]{2}$`),
	"AA99 9AA": regexp.MustCompile(`^[A-Z]{2}[0-9]{2} [0-9][A-Z]{2}$`),
	"AA9A 9AA": regexp.MustCompile(`^[A-Z]{2}[0-9][A-Z] [0-9][A-Z]{2}$`),
}

var inwardRE = regexp.MustCompile(` [0-9][ABD-HJLNP-UW-Z]{2}$`)

func TestPopulation(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	g := New(1, Options{Practices: []string{"A81001", "B82002"}, Pharmacies: []string{"FA565"}})
	seen := make(map[string]struct{}, n)
	formats := map[string]int{}
	var deceased, restricted, superseded, maiden, double, diacritic, apostrophe, pharmacy, phone, email, prevAddr int
	ages := make([]int, 11) // by decade, 100+ in the last
	today := daysFromCivil(2025, 1, 1)
	byNumber := make(map[string]Patient, 1024)
	for i := 0; i < n; i++ {
		p := g.Next()
		if !nhsnumber.Valid(p.NHSNumber) || !nhsnumber.IsTest(p.NHSNumber) {
			t.Fatalf("bad NHS number %q", p.NHSNumber)
		}
		if _, dup := seen[p.NHSNumber]; dup {
			t.Fatalf("duplicate NHS number %q at %d", p.NHSNumber, i)
		}
		seen[p.NHSNumber] = struct{}{}
		if i < 1024 || p.SupersededBy != "" {
			byNumber[p.NHSNumber] = p
		}
		for _, a := range p.Addresses {
			for _, l := range a.Lines {
				if strings.Contains(l, "_") || l == "" {
					t.Fatalf("bad address line %q", l)
				}
			}
			matched := false
			for name, re := range postcodeFormats {
				if re.MatchString(a.PostalCode) {
					formats[name]++
					matched = true
				}
			}
			if !matched || !inwardRE.MatchString(a.PostalCode) {
				t.Fatalf("bad postcode %q", a.PostalCode)
			}
		}
		if p.GP != "A81001" && p.GP != "B82002" {
			t.Fatalf("GP %q not from the options", p.GP)
		}
		if p.Pharmacy != "" {
			pharmacy++
			if p.Pharmacy != "FA565" {
				t.Fatalf("pharmacy %q not from the options", p.Pharmacy)
			}
		}
		y, m, d := atoi(p.BirthDate[:4]), atoi(p.BirthDate[5:7]), atoi(p.BirthDate[8:])
		bd := daysFromCivil(y, m, d)
		if bd >= today {
			t.Fatalf("birth date %s not before today", p.BirthDate)
		}
		age := (today - bd) / 365
		ages[min(age/10, 10)]++
		if p.DeceasedDateTime != "" {
			deceased++
			if p.DeceasedDateTime[:10] < p.BirthDate || p.DeceasedDateTime[:10] >= "2025-01-01" {
				t.Fatalf("deceased %s for birth %s", p.DeceasedDateTime, p.BirthDate)
			}
		}
		if p.Restricted {
			restricted++
		}
		if p.SupersededBy != "" {
			superseded++
			if !nhsnumber.Valid(p.SupersededBy) || p.SupersededBy == p.NHSNumber {
				t.Fatalf("bad survivor %q", p.SupersededBy)
			}
			if _, ok := seen[p.SupersededBy]; !ok {
				t.Fatalf("survivor %s was not generated before", p.SupersededBy)
			}
		}
		if len(p.Names) > 1 {
			if p.Names[1].End == "" || p.Names[1].End != p.Names[0].Start {
				t.Fatalf("previous name period: %+v", p.Names)
			}
			if p.Names[1].Use == "maiden" {
				maiden++
			}
		}
		fam := p.Names[0].Family
		if strings.Contains(fam, "_") {
			t.Fatalf("bad family name %q", fam)
		}
		if strings.Contains(fam, "-") {
			double++
		}
		if strings.Contains(fam, "'") {
			apostrophe++
		}
		if matching.Fold(p.Names[0].Given[0]+fam) != strings.ToLower(p.Names[0].Given[0]+fam) {
			diacritic++
		}
		if len(p.Addresses) > 1 {
			prevAddr++
		}
		for _, tc := range p.Telecom {
			if tc.System == "phone" {
				phone++
			} else {
				email++
			}
		}
	}
	frac := func(c int) float64 { return float64(c) / float64(n) }
	within := func(name string, got, lo, hi float64) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s = %.4f, want in [%.4f, %.4f]", name, got, lo, hi)
		}
	}
	t.Logf("deceased %.4f restricted %.4f superseded %.4f maiden %.3f double-barrelled %.4f apostrophe %.4f diacritics %.4f pharmacy %.3f phone %.3f email %.3f previous address %.3f",
		frac(deceased), frac(restricted), frac(superseded), frac(maiden), frac(double), frac(apostrophe), frac(diacritic), frac(pharmacy), frac(phone), frac(email), frac(prevAddr))
	t.Logf("ages by decade: %v", ages)
	t.Logf("postcode formats: %v", formats)
	within("deceased", frac(deceased), 0.007, 0.013)
	within("restricted", frac(restricted), 0.001, 0.0035)
	within("superseded", frac(superseded), 0.0004, 0.002)
	within("double-barrelled", frac(double), 0.004, 0.02)
	within("pharmacy", frac(pharmacy), 0.55, 0.65)
	if apostrophe == 0 || diacritic == 0 || maiden == 0 {
		t.Error("no apostrophes, diacritics or maiden names")
	}
	for name := range postcodeFormats {
		if formats[name] == 0 {
			t.Errorf("no postcodes of format %s", name)
		}
	}
	// Rough shape of the UK age pyramid: each of the decades 0–59 holds
	// 11–14%, the 80s about 4% and 100+ almost nobody.
	for dec := 0; dec < 6; dec++ {
		within("age decade "+string(rune('0'+dec)), frac(ages[dec]), 0.10, 0.15)
	}
	within("age 70s", frac(ages[7]), 0.07, 0.11)
	within("age 80s", frac(ages[8]), 0.025, 0.055)
	within("age 100+", frac(ages[10]), 0, 0.002)
}

func atoi(s string) int {
	v := 0
	for i := 0; i < len(s); i++ {
		v = v*10 + int(s[i]-'0')
	}
	return v
}

func TestSupersededMatchesSurvivor(t *testing.T) {
	g := New(3, Options{})
	recent := map[string]Patient{}
	found := 0
	for i := 0; i < 50_000 && found < 10; i++ {
		p := g.Next()
		if p.SupersededBy == "" {
			recent[p.NHSNumber] = p
			continue
		}
		s, ok := recent[p.SupersededBy]
		if !ok {
			t.Fatalf("survivor %s unknown", p.SupersededBy)
		}
		if s.SupersededBy != "" || s.Names[0].Family != p.Names[0].Family || s.BirthDate != p.BirthDate {
			t.Fatalf("superseded record does not repeat the survivor: %+v vs %+v", p, s)
		}
		if matching.Score(matching.Query{Family: p.Names[0].Family, Given: p.Names[0].Given, BirthDate: p.BirthDate}, s.Person()) != 1 {
			t.Fatal("survivor should match the duplicate exactly")
		}
		found++
	}
	if found == 0 {
		t.Fatal("no superseded records in 50,000")
	}
}

func TestSequentialAndOverflow(t *testing.T) {
	small := nhsnumber.Range{Low: 999999990, High: 999999999}
	g := New(1, Options{Sequential: true, Ranges: []nhsnumber.Range{small, OverflowRange}})
	prev := ""
	seen := map[string]bool{}
	for i := 0; i < 30; i++ {
		p := g.Next()
		if seen[p.NHSNumber] {
			t.Fatalf("duplicate %s", p.NHSNumber)
		}
		seen[p.NHSNumber] = true
		if i < 9 {
			if !small.Contains(p.NHSNumber) || p.NHSNumber <= prev {
				t.Fatalf("sequential allocation broken: %s after %s", p.NHSNumber, prev)
			}
		} else if !OverflowRange.Contains(p.NHSNumber) {
			t.Fatalf("%s should come from the overflow range", p.NHSNumber)
		}
		prev = p.NHSNumber
	}
	defer func() {
		if recover() == nil {
			t.Error("exhausting every range should panic")
		}
	}()
	g = New(1, Options{Ranges: []nhsnumber.Range{small}})
	for i := 0; i < 20; i++ {
		g.Next()
	}
}

func TestFHIR(t *testing.T) {
	g := New(11, Options{})
	var sawRestricted, sawDeceased, sawPharmacy bool
	for i := 0; i < 20_000; i++ {
		p := g.Next()
		if i > 200 && !(p.Restricted || p.Deceased()) {
			continue
		}
		raw, err := json.Marshal(p.FHIR())
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			Meta         struct {
				VersionID string `json:"versionId"`
				Security  []struct{ System, Code string }
			}
			Identifier []struct {
				System, Value string
				Extension     []struct{ URL string }
			}
			Name []struct {
				ID, Use, Family string
				Given, Prefix   []string
				Period          struct{ Start, End string }
			}
			Gender, BirthDate, DeceasedDateTime string
			Address                             []struct {
				ID, Use, PostalCode string
				Line                []string
				Period              struct{ Start, End string }
			}
			Telecom []struct{ ID, System, Value, Use string }
			GP      []struct {
				ID, Type   string
				Identifier struct{ System, Value string }
			} `json:"generalPractitioner"`
			Extension []struct {
				URL            string
				ValueReference struct {
					Identifier struct{ System, Value string }
				}
			}
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			t.Fatal(err)
		}
		if res.ResourceType != "Patient" || res.ID != p.NHSNumber || res.Meta.VersionID != "1" {
			t.Fatalf("header: %s", raw)
		}
		if len(res.Identifier) != 1 || res.Identifier[0].System != "https://fhir.nhs.uk/Id/nhs-number" ||
			res.Identifier[0].Value != p.NHSNumber || res.Identifier[0].Extension[0].URL != ExtNHSNumberVerificationStatus {
			t.Fatalf("identifier: %s", raw)
		}
		sec := res.Meta.Security
		if len(sec) != 1 || sec[0].System != "http://terminology.hl7.org/CodeSystem/v3-Confidentiality" || sec[0].Code != p.Security() {
			t.Fatalf("security: %s", raw)
		}
		sawRestricted = sawRestricted || sec[0].Code == "R"
		if len(res.Name) == 0 || res.Name[0].Use != "usual" || res.Name[0].ID == "" || res.Name[0].Family == "" || len(res.Name[0].Given) == 0 {
			t.Fatalf("name: %s", raw)
		}
		if res.Gender != p.Gender || res.BirthDate != p.BirthDate || res.DeceasedDateTime != p.DeceasedDateTime {
			t.Fatalf("gender/birth/death: %s", raw)
		}
		sawDeceased = sawDeceased || res.DeceasedDateTime != ""
		if len(res.Address) == 0 || res.Address[0].Use != "home" || res.Address[0].ID == "" || len(res.Address[0].Line) < 2 || res.Address[0].Period.Start == "" || res.Address[0].Period.End != "" {
			t.Fatalf("address: %s", raw)
		}
		for _, tc := range res.Telecom {
			if tc.ID == "" || tc.Value == "" {
				t.Fatalf("telecom: %s", raw)
			}
		}
		if len(res.GP) != 1 || res.GP[0].Identifier.System != "https://fhir.nhs.uk/Id/ods-organization-code" || res.GP[0].Identifier.Value != p.GP || res.GP[0].Type != "Organization" {
			t.Fatalf("generalPractitioner: %s", raw)
		}
		for _, e := range res.Extension {
			if e.URL == ExtNominatedPharmacy {
				sawPharmacy = true
				if e.ValueReference.Identifier.Value != p.Pharmacy || e.ValueReference.Identifier.System != SystemODSCode {
					t.Fatalf("pharmacy: %s", raw)
				}
			}
		}
	}
	if !sawRestricted || !sawDeceased || !sawPharmacy {
		t.Errorf("restricted %v deceased %v pharmacy %v", sawRestricted, sawDeceased, sawPharmacy)
	}
}

// TestBlockingOnPopulation measures the blocking keys on a generated
// population: how many candidates a query fetches and whether the true
// record is among them.
func TestBlockingOnPopulation(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	g := New(5, Options{})
	index := map[string][]int32{}
	people := make([]matching.Person, 0, n)
	for i := 0; i < n; i++ {
		p := g.Next()
		mp := p.Person()
		people = append(people, mp)
		for _, k := range matching.Keys(mp) {
			index[k] = append(index[k], int32(i))
		}
	}
	totalKeys, maxBlock := 0, 0
	for _, ids := range index {
		totalKeys += len(ids)
		maxBlock = max(maxBlock, len(ids))
	}
	// Queries: fuzzy searches by given+family+birthdate or by
	// family+birthdate+gender+postcode for a sample of patients, with the
	// day and month transposed where possible.
	var fetched, found, queries int
	perKind, kindQueries := map[string]int{}, map[string]int{}
	for i := 0; i < n; i += 97 {
		p := people[i]
		bd := p.BirthDate
		if d := bd[8:]; d <= "12" && d != bd[5:7] {
			bd = bd[:5] + d + "-" + bd[5:7]
		}
		q := matching.Query{Family: p.Name.Family, Given: p.Name.Given[:1], BirthDate: bd}
		if i%2 == 1 { // the other fuzzy minimum: family, birth date, gender, postcode
			q = matching.Query{Family: p.Name.Family, BirthDate: bd, Gender: p.Gender, Postcode: p.Postcode}
		}
		cands := map[int32]bool{}
		for _, k := range matching.QueryKeys(q) {
			kind := k[:strings.IndexByte(k, ':')]
			perKind[kind] += len(index[k])
			kindQueries[kind]++
			for _, id := range index[k] {
				cands[id] = true
			}
		}
		queries++
		fetched += len(cands)
		if cands[int32(i)] {
			found++
		}
	}
	t.Logf("%d patients, %.1f keys each, %d distinct keys, largest block %d", n, float64(totalKeys)/float64(n), len(index), maxBlock)
	t.Logf("%d queries: %.1f candidates fetched on average, true record found %.4f", queries, float64(fetched)/float64(queries), float64(found)/float64(queries))
	for _, kind := range []string{"fy", "fym", "fgy", "fgm", "gym", "fo", "go", "py"} {
		if kindQueries[kind] > 0 {
			t.Logf("  key kind %-3s: %.1f records per looked-up key", kind, float64(perKind[kind])/float64(kindQueries[kind]))
		}
	}
	if found != queries {
		t.Errorf("blocking missed %d of %d true records", queries-found, queries)
	}
}

func BenchmarkNext(b *testing.B) {
	g := New(1, Options{})
	for b.Loop() {
		g.Next()
	}
}

func BenchmarkFHIR(b *testing.B) {
	g := New(1, Options{})
	ps := make([]Patient, 1024)
	for i := range ps {
		ps[i] = g.Next()
	}
	i := 0
	for b.Loop() {
		ps[i&1023].FHIR()
		i++
	}
}
