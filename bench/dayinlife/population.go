package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/openspine/openspine/internal/monitor"
	"github.com/openspine/openspine/internal/nhsnumber"
)

// Options size the synthetic region.
type Options struct {
	Seed                uint64
	Date                string // the day, YYYY-MM-DD in Europe/London
	Practices           int    // GP practices
	PatientsPerPractice int
	Hospitals           int
	Pharmacies          int
}

// DefaultOptions is a region of about 100,000 people.
func DefaultOptions() Options {
	return Options{Seed: 1, Date: "2026-06-10", Practices: 40, PatientsPerPractice: 2500, Hospitals: 3, Pharmacies: 20}
}

// SmallOptions is a region of about 15,000 people, for tests.
func SmallOptions() Options {
	return Options{Seed: 1, Date: "2026-06-10", Practices: 8, PatientsPerPractice: 2000, Hospitals: 1, Pharmacies: 4}
}

type orgKind int

const (
	gpPractice orgKind = iota
	hospital
	pharmacy
)

type org struct {
	ods       string
	kind      orgKind
	client    string   // the organisation's network address (NAT)
	app       string   // the clinical system it uses
	postcodes []string // catchment (practices)
	patients  []int    // registered patients (practices)
}

type person struct {
	nhs                        string
	surname, postcode, address string
	gp                         int // registered practice (org index)
	household                  int
}

type user struct {
	id, role, jobRole string
	org               int
	self              int // the user's own patient record
	start, end        int // shift, minutes after local midnight (end may pass 24:00)
}

// world is the synthetic region: organisations, people, staff.
type world struct {
	opt        Options
	rng        *rand.Rand
	orgs       []org
	people     []person
	byNHS      map[string]int
	bySurname  map[string][]int
	byPostcode map[string][]int
	households [][]int
	users      []user
	userByID   map[string]int
	restricted map[string]bool
	flagged    []monitor.FlaggedPatient
	vips       []int
	nextNHS    uint64
}

// common surnames of England and Wales with their approximate share (per
// 10,000 people).
var commonSurnames = []struct {
	name string
	w    int
}{
	{"Smith", 115}, {"Jones", 85}, {"Williams", 60}, {"Taylor", 50}, {"Brown", 50}, {"Davies", 45}, {"Evans", 35},
	{"Wilson", 30}, {"Thomas", 30}, {"Johnson", 30}, {"Roberts", 30}, {"Robinson", 25}, {"Thompson", 25},
	{"Wright", 25}, {"Walker", 25}, {"White", 24}, {"Edwards", 24}, {"Hughes", 23}, {"Green", 23}, {"Hall", 23},
	{"Lewis", 22}, {"Harris", 22}, {"Clarke", 22}, {"Patel", 22}, {"Jackson", 20}, {"Wood", 20}, {"Turner", 20},
	{"Martin", 20}, {"Cooper", 19}, {"Hill", 19}, {"Ward", 19}, {"Morris", 18}, {"Moore", 18}, {"Clark", 18},
	{"Lee", 17}, {"King", 17}, {"Baker", 17}, {"Harrison", 17}, {"Morgan", 17}, {"Allen", 16}, {"James", 16},
	{"Scott", 16}, {"Phillips", 16}, {"Watson", 15}, {"Davis", 15}, {"Parker", 15}, {"Price", 15}, {"Bennett", 15},
	{"Young", 15}, {"Griffiths", 15}, {"Mitchell", 14}, {"Kelly", 14}, {"Cook", 14}, {"Carter", 14}, {"Khan", 13},
	{"Bailey", 14}, {"Collins", 14}, {"Bell", 14}, {"Shaw", 14}, {"Murphy", 14}, {"Miller", 14}, {"Singh", 13},
}

var (
	prefixes = strings.Fields("Ash Black Brad Brook Cald Craw Dal Fair Gold Hart Hol Kings Lang Mar Mid North Oak Pen Rad Red Ross Sand Stan Thorn Wake West Whit Wind Ald Bran")
	suffixes = strings.Fields("ford ley ton wood worth field by well more combe ham stead bridge dale hurst shaw wick gate land ridge")
	onsets   = strings.Fields("b br c ch d f g gr h j k l m n p r s sh st t th v w z")
	nuclei   = strings.Fields("a e i o u ai ea ou y")
	codas    = strings.Fields("n r l s k m nd rt ck ll ss x")
	streets  = strings.Fields("High Church Station Mill Park Victoria Green Manor Queen King Chapel School New Main Albert Grange Castle Bridge Spring Windsor")
	areas    = strings.Fields("LS BD HX WF HD YO HG DN S")
)

// surname draws a surname: 14% common, 30% from a middling tier, the rest
// rare (a long tail, as in the real population).
func (w *world) surname() string {
	r := w.rng.IntN(10000)
	if r < 1400 {
		for _, s := range commonSurnames {
			if r < s.w {
				return s.name
			}
			r -= s.w
		}
		return "Smith"
	}
	if r < 4400 {
		return prefixes[w.rng.IntN(len(prefixes))] + suffixes[w.rng.IntN(len(suffixes))]
	}
	s := onsets[w.rng.IntN(len(onsets))] + nuclei[w.rng.IntN(len(nuclei))] + codas[w.rng.IntN(len(codas))] +
		nuclei[w.rng.IntN(len(nuclei))] + codas[w.rng.IntN(len(codas))]
	return strings.ToUpper(s[:1]) + s[1:]
}

func (w *world) newNHS() string {
	for {
		w.nextNHS++
		if n, ok := nhsnumber.FromPrefix(w.nextNHS); ok {
			return n
		}
	}
}

// addHousehold adds people living at one address, registered at gp.
func (w *world) addHousehold(surname, postcode, address string, gp, size int) int {
	h := len(w.households)
	w.households = append(w.households, nil)
	for i := 0; i < size; i++ {
		s := surname
		if i == 1 && w.rng.IntN(10) == 0 {
			s = w.surname() // a partner who kept their name
		}
		reg := gp
		if w.rng.IntN(20) == 0 && len(w.orgs) > 0 {
			reg = w.practice(w.rng.IntN(w.opt.Practices)) // registered elsewhere
		}
		p := person{nhs: w.newNHS(), surname: s, postcode: postcode, address: address, gp: reg, household: h}
		id := len(w.people)
		w.people = append(w.people, p)
		w.byNHS[p.nhs] = id
		w.bySurname[s] = append(w.bySurname[s], id)
		w.byPostcode[postcode] = append(w.byPostcode[postcode], id)
		w.households[h] = append(w.households[h], id)
		w.orgs[reg].patients = append(w.orgs[reg].patients, id)
	}
	return h
}

// practice returns the org index of the i-th GP practice.
func (w *world) practice(i int) int { return i }

func householdSize(r *rand.Rand) int {
	switch x := r.IntN(100); {
	case x < 30:
		return 1
	case x < 65:
		return 2
	case x < 80:
		return 3
	default:
		return 4
	}
}

func newWorld(opt Options) *world {
	w := &world{opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, 0x5eed)), byNHS: map[string]int{},
		bySurname: map[string][]int{}, byPostcode: map[string][]int{}, userByID: map[string]int{},
		restricted: map[string]bool{}, nextNHS: 999000000}
	gpApps := []string{"gp-system-a", "gp-system-b"}
	for i := 0; i < opt.Practices; i++ {
		o := org{ods: fmt.Sprintf("Y%05d", 10000+i), kind: gpPractice, client: fmt.Sprintf("10.1.%d.1", i), app: gpApps[i%2]}
		area := areas[i%len(areas)]
		// about 40 people per postcode, as in England
		for j := 0; j < max(1, opt.PatientsPerPractice/40); j++ {
			o.postcodes = append(o.postcodes, fmt.Sprintf("%s%d %d%c%c", area, i/len(areas)+1, j%10, 'A'+rune(j/10%26), 'A'+rune(w.rng.IntN(26))))
		}
		w.orgs = append(w.orgs, o)
	}
	for i := 0; i < opt.Hospitals; i++ {
		w.orgs = append(w.orgs, org{ods: fmt.Sprintf("R%02dXX", 10+i), kind: hospital, client: fmt.Sprintf("10.200.%d.1", i), app: "epr"})
	}
	for i := 0; i < opt.Pharmacies; i++ {
		w.orgs = append(w.orgs, org{ods: fmt.Sprintf("F%04d", 1000+i), kind: pharmacy, client: fmt.Sprintf("10.50.%d.1", i), app: "pharmacy-system"})
	}
	for i := 0; i < opt.Practices; i++ {
		o := &w.orgs[i]
		for len(o.patients) < opt.PatientsPerPractice {
			pc := o.postcodes[w.rng.IntN(len(o.postcodes))]
			addr := fmt.Sprintf("%d %s Street", 1+w.rng.IntN(120), streets[w.rng.IntN(len(streets))])
			w.addHousehold(w.surname(), pc, addr, i, householdSize(w.rng))
		}
	}
	// restricted (S-flagged) patients: about 1 in 1,000
	for i := range w.people {
		if w.rng.IntN(1000) == 0 {
			w.restricted[w.people[i].nhs] = true
		}
	}
	// VIPs, flagged with their own practice allowed
	for len(w.vips) < 5 {
		v := w.rng.IntN(len(w.people))
		if !w.restricted[w.people[v].nhs] {
			w.vips = append(w.vips, v)
			w.flagged = append(w.flagged, monitor.FlaggedPatient{NHSNumber: w.people[v].nhs, Reason: "vip",
				AllowedOrgs: []string{w.orgs[w.people[v].gp].ods}})
		}
	}
	w.addStaff()
	return w
}

// addStaff creates the users of every organisation: each is one of the
// region's people (a quarter of practice staff live in their practice's
// catchment).
func (w *world) addStaff() {
	add := func(o int, role, job string, start, end int) {
		self := w.rng.IntN(len(w.people))
		if w.orgs[o].kind == gpPractice && w.rng.IntN(4) == 0 {
			pts := w.orgs[o].patients
			self = pts[w.rng.IntN(len(pts))]
		}
		u := user{id: fmt.Sprintf("%012d", 555000000000+len(w.users)), role: role, jobRole: job, org: o, self: self, start: start, end: end}
		w.userByID[u.id] = len(w.users)
		w.users = append(w.users, u)
	}
	day, night := [2]int{8 * 60, 20 * 60}, [2]int{20 * 60, 32 * 60}
	for o := range w.orgs {
		switch w.orgs[o].kind {
		case gpPractice:
			for i := 0; i < 3; i++ {
				add(o, "gp", "R8000", 8*60+w.rng.IntN(60), 17*60+w.rng.IntN(90))
			}
			for i := 0; i < 2; i++ {
				add(o, "nurse", "R8001", 8*60+w.rng.IntN(60), 16*60+w.rng.IntN(120))
			}
			for i := 0; i < 3; i++ {
				add(o, "reception", "R8003", 8*60, 18*60+30)
			}
			add(o, "manager", "R8008", 9*60, 17*60)
		case hospital:
			for i := 0; i < 60; i++ {
				add(o, "clinician", "R8000", day[0]+w.rng.IntN(30), day[1]+w.rng.IntN(30))
			}
			for i := 0; i < 20; i++ {
				add(o, "clinician", "R8000", night[0]+w.rng.IntN(30), night[1]+w.rng.IntN(30))
			}
		case pharmacy:
			for i := 0; i < 2; i++ {
				add(o, "pharmacist", "R8004", 9*60, 18*60)
			}
		}
	}
	// some staff asked for their own records to be flagged
	for i := 0; i < len(w.users); i += 30 {
		p := w.people[w.users[i].self]
		if !w.isFlagged(p.nhs) {
			w.flagged = append(w.flagged, monitor.FlaggedPatient{NHSNumber: p.nhs, Reason: "staff",
				AllowedOrgs: []string{w.orgs[p.gp].ods}})
		}
	}
}

func (w *world) isFlagged(nhs string) bool {
	for _, f := range w.flagged {
		if f.NHSNumber == nhs {
			return true
		}
	}
	return false
}

// Lookups: the monitor's view of the region.

func (w *world) Patient(_ context.Context, nhs string) (monitor.Person, bool, error) {
	i, ok := w.byNHS[nhs]
	if !ok {
		return monitor.Person{}, false, nil
	}
	p := w.people[i]
	return monitor.Person{Surname: p.surname, Postcode: p.postcode, Address: p.address, GP: w.orgs[p.gp].ods}, true, nil
}

func (w *world) User(_ context.Context, id string) (monitor.Person, bool, error) {
	i, ok := w.userByID[id]
	if !ok {
		return monitor.Person{}, false, nil
	}
	p := w.people[w.users[i].self]
	return monitor.Person{Surname: p.surname, Postcode: p.postcode, Address: p.address}, true, nil
}

func (w *world) Restricted(_ context.Context, nhs string) (bool, error) {
	return w.restricted[nhs], nil
}
