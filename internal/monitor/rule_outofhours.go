package monitor

import (
	"fmt"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/audit"
)

// outOfHours alerts on wide searches and bulk reads outside working hours
// (in the configured timezone, Europe/London by default): one request
// concerning MinPatients or more patients, a bulk action (export), or
// WindowPatients accessed by one actor within Window. Users only, unless
// Applications is set.
type outOfHours struct {
	cfg        OutOfHoursConfig
	loc        *time.Location
	start, end int // minutes after midnight
	days       map[time.Weekday]bool
	holidays   map[string]bool
	bulk       map[string]bool
	exempt     map[string]bool
	actors     map[string]*oohState
}

type oohState struct {
	events     []oohEvent // out-of-hours accesses within the window
	sum        int
	firedUntil time.Time
}

type oohEvent struct {
	t     time.Time
	n     int
	index int64
}

func newOutOfHours(cfg OutOfHoursConfig, loc *time.Location) *outOfHours {
	o := &outOfHours{cfg: cfg, loc: loc, days: map[time.Weekday]bool{}, holidays: set(cfg.Holidays),
		bulk: set(cfg.BulkActions), exempt: set(cfg.ExemptApps), actors: map[string]*oohState{}}
	o.start, _ = clock(cfg.Start)
	o.end, _ = clock(cfg.End)
	for _, d := range cfg.WorkingDays {
		o.days[weekdays[strings.ToLower(d)]] = true
	}
	return o
}

func (*outOfHours) Name() string { return RuleOutOfHours }

// outside reports whether t is outside working hours.
func (o *outOfHours) outside(t time.Time) bool {
	lt := t.In(o.loc)
	if o.holidays[lt.Format(time.DateOnly)] || !o.days[lt.Weekday()] {
		return true
	}
	m := lt.Hour()*60 + lt.Minute()
	return m < o.start || m >= o.end
}

func (o *outOfHours) Evaluate(env *Env, r *audit.Record) []Finding {
	ak, isApp := actor(r)
	if ak == "" || r.Patient != "" && r.UserID == "" || isApp && (!o.cfg.Applications || o.exempt[r.AppID]) {
		return nil
	}
	if r.Status >= 400 || !o.outside(r.Time) {
		return nil
	}
	n := len(r.Patients)
	reason := ""
	switch {
	case o.bulk[r.Action] || strings.Contains(r.Route, "$export"):
		reason = "bulk-export"
	case n >= o.cfg.MinPatients:
		reason = "wide-search"
	}
	s := o.actors[ak]
	if n > 0 {
		if s == nil {
			s = &oohState{}
			o.actors[ak] = s
		}
		s.events = append(s.events, oohEvent{t: r.Time, n: n, index: r.Index})
		s.sum += n
		cut := r.Time.Add(-o.cfg.Window.D())
		i := 0
		for i < len(s.events) && !s.events[i].t.After(cut) {
			s.sum -= s.events[i].n
			i++
		}
		s.events = s.events[i:]
		if reason == "" && s.sum >= o.cfg.WindowPatients && !r.Time.Before(s.firedUntil) {
			reason = "bulk-read"
		}
	}
	if reason == "" {
		return nil
	}
	f := base(RuleOutOfHours, r)
	if reason == "bulk-read" {
		s.firedUntil = r.Time.Add(o.cfg.Window.D())
		f.Records = f.Records[:0]
		for _, e := range s.events {
			f.Records = append(f.Records, e.index)
		}
	}
	f.Severity, f.Reason = SeverityMedium, reason
	if reason == "bulk-export" {
		f.Severity = SeverityHigh
	}
	f.Patients = env.capPatients(r.Patients)
	lt := r.Time.In(o.loc)
	f.Key = ak + "|" + lt.Format(time.DateOnly)
	f.Summary = fmt.Sprintf("%s: %s out of hours at %s (%d patients in this request, %d within %s)",
		who(r), reason, lt.Format("2006-01-02 15:04 MST"), n, sumOr(s), o.cfg.Window.D())
	return []Finding{f}
}

func sumOr(s *oohState) int {
	if s == nil {
		return 0
	}
	return s.sum
}

func (o *outOfHours) prune(t time.Time) {
	cut := t.Add(-o.cfg.Window.D())
	for k, s := range o.actors {
		if len(s.events) == 0 || !s.events[len(s.events)-1].t.After(cut) {
			if !t.Before(s.firedUntil) {
				delete(o.actors, k)
			}
		}
	}
}
