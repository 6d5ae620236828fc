package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/openspine/openspine/internal/audit"
)

const (
	pdsBase = "/personal-demographics/FHIR/R4"
	epsBase = "/electronic-prescriptions/FHIR/R4"
)

// request kinds: service, action, method, route
type kind struct{ service, action, method, route string }

var (
	pdsRead      = kind{"pds", "read", "GET", "GET " + pdsBase + "/Patient/{id}"}
	pdsSearch    = kind{"pds", "search", "GET", "GET " + pdsBase + "/Patient"}
	epsTrack     = kind{"eps", "search", "GET", "GET " + epsBase + "/Task"}
	epsTrackOne  = kind{"eps", "read", "GET", "GET " + epsBase + "/Task/{id}"}
	epsPrescribe = kind{"eps", "prescribe", "POST", "POST " + epsBase + "/$process-message"}
	epsRelease   = kind{"eps", "release", "POST", "POST " + epsBase + "/Task/$release"}
	epsDispense  = kind{"eps", "dispense", "POST", "POST " + epsBase + "/$process-message"}
	token        = kind{"", "authenticate", "POST", "POST /oauth2/token"}
)

// event is one audit record to be, with its planted case ("" for normal).
type event struct {
	rec   audit.Record
	seq   int
	label string
}

// gen writes the day's events.
type gen struct {
	*world
	loc    *time.Location
	day    time.Time // local midnight
	events []event
}

// at converts minutes after local midnight into a time.
func (g *gen) at(min float64) time.Time {
	return g.day.Add(time.Duration(min * float64(time.Minute))).UTC()
}

func (g *gen) emit(label string, r audit.Record) {
	r.RequestID = fmt.Sprintf("%016x", g.rng.Uint64())
	g.events = append(g.events, event{rec: r, seq: len(g.events), label: label})
}

// userReq is a request by a healthcare worker through their
// organisation's clinical system.
func (g *gen) userReq(label string, u *user, t time.Time, k kind, status int, patients ...string) {
	o := &g.orgs[u.org]
	r := audit.Record{Time: t, Client: o.client, AppID: o.app, AppOrg: "X26", Mode: "user-restricted",
		UserID: u.id, RoleProfileID: "rp" + u.id, JobRole: u.jobRole, OrgODS: o.ods,
		Service: k.service, Action: k.action, Method: k.method, Route: k.route, Status: status, Patients: patients}
	if status == 401 {
		r.Action = "authenticate"
	}
	g.emit(label, r)
}

// appReq is application-restricted traffic.
func (g *gen) appReq(app, appOrg, client string, t time.Time, k kind, patients ...string) {
	g.emit("", audit.Record{Time: t, Client: client, AppID: app, AppOrg: appOrg, Mode: "application-restricted",
		Service: k.service, Action: k.action, Method: k.method, Route: k.route, Status: 200, Patients: patients})
}

// shiftTimes returns n sorted times (minutes) within the user's shift on
// this day (a night shift covers the morning and the evening).
func (g *gen) shiftTimes(u *user, n int) []float64 {
	type span struct{ a, b int }
	spans := []span{{u.start, min(u.end, 24*60)}}
	if u.end > 24*60 {
		spans = []span{{0, u.end - 24*60}, {u.start, 24 * 60}}
	}
	total := 0
	for _, s := range spans {
		total += s.b - s.a
	}
	out := make([]float64, n)
	for i := range out {
		x := g.rng.Float64() * float64(total)
		for _, s := range spans {
			if x < float64(s.b-s.a) {
				out[i] = float64(s.a) + x
				break
			}
			x -= float64(s.b - s.a)
		}
	}
	sort.Float64s(out)
	return out
}

func (g *gen) nhs(p int) string { return g.people[p].nhs }

func (g *gen) randomPatient() int { return g.rng.IntN(len(g.people)) }

func (g *gen) practicePatient(o int) int {
	pts := g.orgs[o].patients
	return pts[g.rng.IntN(len(pts))]
}

// searchResults is what a demographic search (name and birth date) for p
// returns: p, and now and then one or two others of the same surname.
func (g *gen) searchResults(p int) []string {
	out := []string{g.nhs(p)}
	same := g.bySurname[g.people[p].surname]
	extra := 0
	switch x := g.rng.IntN(10); {
	case x == 9:
		extra = 2
	case x >= 7:
		extra = 1
	}
	for i := 0; i < extra && len(same) > 1; i++ {
		if q := same[g.rng.IntN(len(same))]; q != p {
			out = append(out, g.nhs(q))
		}
	}
	return out
}

func sec(t time.Time, s float64) time.Time { return t.Add(time.Duration(s * float64(time.Second))) }

// normalDay writes the normal traffic of every user, patient and system.
func (g *gen) normalDay() {
	for i := range g.users {
		u := &g.users[i]
		switch u.role {
		case "gp", "nurse":
			n := 25 + g.rng.IntN(11)
			if u.role == "nurse" {
				n = 15 + g.rng.IntN(11)
			}
			for _, m := range g.shiftTimes(u, n) {
				t, p := g.at(m), g.practicePatient(u.org)
				g.userReq("", u, t, pdsRead, 200, g.nhs(p))
				g.userReq("", u, sec(t, 20+g.rng.Float64()*60), epsTrack, 200, g.nhs(p))
				if u.role == "gp" && g.rng.IntN(10) < 4 {
					g.userReq("", u, sec(t, 240+g.rng.Float64()*300), epsPrescribe, 200, g.nhs(p))
				}
				g.noise(u, t)
			}
		case "reception":
			for _, m := range g.shiftTimes(u, 50+g.rng.IntN(21)) {
				t, p := g.at(m), g.practicePatient(u.org)
				if g.rng.IntN(10) == 0 {
					p = g.randomPatient() // a temporary resident
				}
				g.userReq("", u, t, pdsSearch, 200, g.searchResults(p)...)
				g.userReq("", u, sec(t, 15+g.rng.Float64()*30), pdsRead, 200, g.nhs(p))
				g.noise(u, t)
			}
		case "manager":
			for _, m := range g.shiftTimes(u, 10+g.rng.IntN(11)) {
				g.userReq("", u, g.at(m), pdsRead, 200, g.nhs(g.practicePatient(u.org)))
			}
			// a registration list review in the afternoon
			var list []string
			for range 30 {
				list = append(list, g.nhs(g.practicePatient(u.org)))
			}
			g.userReq("", u, g.at(14*60+g.rng.Float64()*120), pdsSearch, 200, list...)
		case "clinician":
			for _, m := range g.shiftTimes(u, 12+g.rng.IntN(9)) {
				t, p := g.at(m), g.randomPatient()
				g.userReq("", u, t, pdsSearch, 200, g.searchResults(p)...)
				g.userReq("", u, sec(t, 20+g.rng.Float64()*40), pdsRead, 200, g.nhs(p))
				g.userReq("", u, sec(t, 90+g.rng.Float64()*120), epsTrack, 200, g.nhs(p))
				g.noise(u, t)
			}
		case "pharmacist":
			for _, m := range g.shiftTimes(u, 60+g.rng.IntN(31)) {
				t, p := g.at(m), g.randomPatient()
				g.userReq("", u, t, epsTrack, 200, g.nhs(p))
				g.userReq("", u, sec(t, 30+g.rng.Float64()*60), epsRelease, 200, g.nhs(p))
				if g.rng.IntN(2) == 0 {
					g.userReq("", u, sec(t, 300+g.rng.Float64()*600), epsDispense, 200, g.nhs(p))
				}
				g.noise(u, t)
			}
		}
	}
	g.patientsAndSystems()
}

// noise adds the usual refusals: an expired token now and then (401) and
// a prescription lookup without a legitimate relationship (403).
func (g *gen) noise(u *user, t time.Time) {
	switch x := g.rng.IntN(200); {
	case x == 0:
		g.userReq("", u, sec(t, 5), pdsRead, 401)
	case x < 3:
		g.userReq("", u, sec(t, 40), epsTrack, 403, g.nhs(g.randomPatient()))
	}
}

func (g *gen) patientsAndSystems() {
	// patients reading their own record through the NHS App, mostly by day
	for i := 0; i < len(g.people)/50; i++ {
		p := g.randomPatient()
		m := 7*60 + g.rng.Float64()*16*60
		if g.rng.IntN(10) == 0 {
			m = g.rng.Float64() * 24 * 60
		}
		g.emit("", audit.Record{Time: g.at(m), Client: fmt.Sprintf("100.64.%d.%d", g.rng.IntN(256), g.rng.IntN(256)),
			AppID: "nhs-app", AppOrg: "X09", Mode: "user-restricted", Patient: g.nhs(p),
			Service: "pds", Action: "read", Method: "GET", Route: pdsRead.route, Status: 200, Patients: []string{g.nhs(p)}})
	}
	// a pathology results feed, day and night
	for m := g.rng.Float64(); m < 24*60; m += 0.5 + g.rng.Float64() {
		g.appReq("pathology-feed", "RPATH", "10.90.0.5", g.at(m), pdsRead, g.nhs(g.randomPatient()))
	}
	// the nightly registration sync of a GP system supplier
	for i := 0; i < 60; i++ {
		var page []string
		for range 50 {
			page = append(page, g.nhs(g.randomPatient()))
		}
		g.appReq("gp-sync", "X26", "10.90.0.9", g.at(60+float64(i)/3), pdsSearch, page...)
	}
	// a misconfigured integration failing at the token endpoint all day
	for m := 0.0; m < 24*60; m += 4 {
		g.emit("", audit.Record{Time: g.at(m + g.rng.Float64()), Client: "192.0.2.50", Action: "authenticate",
			Method: "POST", Route: token.route, Status: 401})
	}
	// internet background: scattered failed token requests
	for i := 0; i < 40; i++ {
		g.emit("", audit.Record{Time: g.at(g.rng.Float64() * 24 * 60), Client: fmt.Sprintf("198.51.100.%d", g.rng.IntN(256)),
			Action: "authenticate", Method: "POST", Route: token.route, Status: 401})
	}
}

// sorted returns the records in time order with their log indexes, and
// the planted case of each index.
func (g *gen) sorted() ([]audit.Record, map[int64]string) {
	sort.SliceStable(g.events, func(i, j int) bool {
		a, b := g.events[i], g.events[j]
		if !a.rec.Time.Equal(b.rec.Time) {
			return a.rec.Time.Before(b.rec.Time)
		}
		return a.seq < b.seq
	})
	recs := make([]audit.Record, len(g.events))
	labels := map[int64]string{}
	for i, e := range g.events {
		e.rec.Index = int64(i)
		recs[i] = e.rec
		if e.label != "" {
			labels[int64(i)] = e.label
		}
	}
	return recs, labels
}
