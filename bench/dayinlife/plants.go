package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/monitor"
)

// plant is a planted case of misuse and the rules expected to find it.
type plant struct {
	id    string
	rules []string
	what  string
}

var plants = []plant{
	{"snoop-family", []string{monitor.RuleSameNameAddress}, "a receptionist looks up relatives, household and neighbours"},
	{"snoop-vip", []string{monitor.RuleFlagged}, "the same receptionist opens a VIP's record"},
	{"break-glass", []string{monitor.RuleBreakGlass, monitor.RuleRelationshipOverride}, "emergency access at night without a relationship"},
	{"credential-stuffing", []string{monitor.RuleAuthFailures}, "400 failed token requests from one address in 8 minutes"},
	{"bulk-export-3am", []string{monitor.RuleOutOfHours, monitor.RuleVolume}, "a practice manager pages through 2,500 patients at 3 a.m."},
}

func (g *gen) firstUser(role string, org int) *user {
	for i := range g.users {
		if g.users[i].role == role && (org < 0 || g.users[i].org == org) {
			return &g.users[i]
		}
	}
	panic("no " + role)
}

// freshSurname returns a surname nobody in the region has.
func (g *gen) freshSurname() string {
	for {
		if s := g.surname(); len(g.bySurname[s]) == 0 {
			return s
		}
	}
}

// plantMisuse adds the planted cases to the day.
func (g *gen) plantMisuse() {
	g.snooper()
	g.breakGlass()
	g.credentialStuffing()
	g.bulkExport()
}

// snooper: a receptionist of the second practice who lives in the first
// practice's catchment, with a household and three related households
// elsewhere, looks them up (and two neighbours) during the working day,
// then opens a VIP's record.
func (g *gen) snooper() {
	u := g.firstUser("reception", min(1, g.opt.Practices-1))
	s := g.freshSurname()
	home := g.orgs[0].postcodes[0]
	h := g.addHousehold(s, home, "7 Mill Street", 0, 3)
	u.self = g.households[h][0]
	var relatives []int
	for i := 0; i < 3; i++ {
		pr := 2 + i%max(1, g.opt.Practices-2)
		pr %= g.opt.Practices
		rh := g.addHousehold(s, g.orgs[pr].postcodes[i+1], fmt.Sprintf("%d Park Street", 10+i), pr, 1+i%2)
		relatives = append(relatives, g.households[rh]...)
	}
	var neighbours []int
	for _, p := range g.byPostcode[home] {
		if g.people[p].household != h && len(neighbours) < 2 {
			neighbours = append(neighbours, p)
		}
	}
	times := g.shiftTimes(u, 12)
	next := func() time.Time {
		t := g.at(times[0])
		times = times[1:]
		return t
	}
	// a demographic search by the family name, then the records
	var found []string
	for _, p := range relatives[:min(4, len(relatives))] {
		found = append(found, g.nhs(p))
	}
	g.userReq("snoop-family", u, next(), pdsSearch, 200, found...)
	for _, p := range relatives[:min(5, len(relatives))] {
		g.userReq("snoop-family", u, next(), pdsRead, 200, g.nhs(p))
	}
	g.userReq("snoop-family", u, next(), pdsRead, 200, g.nhs(g.households[h][1]))
	for _, p := range neighbours {
		g.userReq("snoop-family", u, next(), pdsRead, 200, g.nhs(p))
	}
	// a VIP registered elsewhere
	for _, v := range g.vips {
		if g.people[v].gp != u.org {
			t := next()
			g.userReq("snoop-vip", u, t, pdsRead, 200, g.nhs(v))
			g.userReq("snoop-vip", u, sec(t, 30), epsTrack, 403, g.nhs(v))
			break
		}
	}
}

// breakGlass: a night clinician at the first hospital declares emergency
// access at 02:10 to see the prescriptions of an unconscious patient.
func (g *gen) breakGlass() {
	var u *user
	for i := range g.users {
		if g.orgs[g.users[i].org].kind == hospital && g.users[i].end > 24*60 {
			u = &g.users[i]
			break
		}
	}
	p := g.randomPatient()
	t := g.at(2*60 + 10)
	g.userReq("", u, t, pdsSearch, 200, g.nhs(p))
	for i, k := range []kind{epsTrack, epsTrackOne} {
		g.userReq("break-glass", u, sec(t, 60+float64(i)*45), k, 200, g.nhs(p))
		r := &g.events[len(g.events)-1].rec
		r.Emergency, r.RelationshipOverridden = true, true
		r.EmergencyReason = "unconscious in resus, no GP record available"
	}
}

// credentialStuffing: 400 failed token requests from one address at 14:05.
func (g *gen) credentialStuffing() {
	t := g.at(14*60 + 5)
	for i := 0; i < 400; i++ {
		g.emit("credential-stuffing", audit.Record{Time: sec(t, float64(i)*1.2+g.rng.Float64()), Client: "185.220.101.7",
			Action: "authenticate", Method: "POST", Route: token.route, Status: 401})
	}
}

// bulkExport: the manager of the third practice pages through 2,500
// patients of the whole region at 03:00 local time.
func (g *gen) bulkExport() {
	u := g.firstUser("manager", min(2, g.opt.Practices-1))
	t := g.at(3 * 60)
	for page := 0; page < 25; page++ {
		var ps []string
		for range 100 {
			ps = append(ps, g.nhs(g.randomPatient()))
		}
		slices.Sort(ps)
		g.userReq("bulk-export-3am", u, sec(t, float64(page)*35), pdsSearch, 200, ps...)
	}
}
