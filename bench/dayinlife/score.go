package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/monitor"
	"github.com/openspine/openspine/internal/store"
)

// Generate builds the region and its day: the records in log order and
// the planted case of each planted record.
func Generate(opt Options) (*world, []audit.Record, map[int64]string, error) {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		return nil, nil, nil, err
	}
	d, err := time.ParseInLocation(time.DateOnly, opt.Date, loc)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("date: %w", err)
	}
	w := newWorld(opt)
	g := &gen{world: w, loc: loc, day: d}
	g.plantMisuse() // before the normal day, so the planted people exist
	g.normalDay()
	recs, labels := g.sorted()
	return w, recs, labels, nil
}

// RuleScore is one rule's precision and recall against the planted cases.
type RuleScore struct {
	Rule         string
	Alerts, True int // alerts; those containing a planted record
	Cases, Found int // planted cases expecting the rule; found by it
	FalseReasons map[string]int
}

func (s RuleScore) Precision() float64 { return ratio(s.True, s.Alerts) }
func (s RuleScore) Recall() float64    { return ratio(s.Found, s.Cases) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// CaseScore says how a planted case was found.
type CaseScore struct {
	ID, What       string
	Records        int      // planted records
	Covered        int      // of which in some alert
	ByRules        []string // rules with an alert containing them
	Expected       []string
	MissedExpected []string
}

// Result is a scored run.
type Result struct {
	Records, Users, People int
	Alerts                 int
	Dropped                int64
	Elapsed                time.Duration
	Rules                  []RuleScore
	Cases                  []CaseScore
}

// AllFound reports whether every planted case was found by every rule
// expected to find it.
func (r Result) AllFound() bool {
	for _, c := range r.Cases {
		if len(c.MissedExpected) > 0 || len(c.ByRules) == 0 {
			return false
		}
	}
	return true
}

// Run generates the day, feeds it to a monitor over st and scores the alerts.
func Run(ctx context.Context, opt Options, cfg monitor.Config, st store.Store) (Result, error) {
	w, recs, labels, err := Generate(opt)
	if err != nil {
		return Result{}, err
	}
	cfg.Rules.Flagged.Patients = append(cfg.Rules.Flagged.Patients, w.flagged...)
	m, err := monitor.New(cfg, st, w)
	if err != nil {
		return Result{}, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	defer func() {
		cancel()
		<-done
	}()
	start := time.Now()
	for _, r := range recs {
		if err := m.ObserveWait(ctx, r); err != nil {
			return Result{}, err
		}
	}
	if err := m.Drain(ctx); err != nil {
		return Result{}, err
	}
	elapsed := time.Since(start)
	alerts, err := m.Alerts(ctx, monitor.Filter{})
	if err != nil {
		return Result{}, err
	}
	res := Result{Records: len(recs), Users: len(w.users), People: len(w.people), Alerts: len(alerts),
		Dropped: m.Dropped(), Elapsed: elapsed}
	res.score(alerts, labels)
	return res, nil
}

func (res *Result) score(alerts []monitor.Alert, labels map[int64]string) {
	perRule := map[string]*RuleScore{}
	for _, name := range monitor.AllRules() {
		perRule[name] = &RuleScore{Rule: name, FalseReasons: map[string]int{}}
	}
	// which cases each alert touches
	found := map[string]map[string]bool{} // case -> rules
	covered := map[int64]bool{}
	for _, a := range alerts {
		s := perRule[a.Rule]
		s.Alerts++
		hit := false
		for _, i := range a.Records {
			if c, ok := labels[i]; ok {
				hit = true
				covered[i] = true
				if found[c] == nil {
					found[c] = map[string]bool{}
				}
				found[c][a.Rule] = true
			}
		}
		if hit {
			s.True++
		} else {
			s.FalseReasons[strings.Join(a.Reasons, "+")]++
		}
	}
	count := map[string]int{}
	cov := map[string]int{}
	for i, c := range labels {
		count[c]++
		if covered[i] {
			cov[c]++
		}
	}
	for _, p := range plants {
		cs := CaseScore{ID: p.id, What: p.what, Records: count[p.id], Covered: cov[p.id], Expected: p.rules}
		for r := range found[p.id] {
			cs.ByRules = append(cs.ByRules, r)
		}
		sort.Strings(cs.ByRules)
		for _, r := range p.rules {
			perRule[r].Cases++
			if found[p.id][r] {
				perRule[r].Found++
			} else {
				cs.MissedExpected = append(cs.MissedExpected, r)
			}
		}
		res.Cases = append(res.Cases, cs)
	}
	for _, name := range monitor.AllRules() {
		res.Rules = append(res.Rules, *perRule[name])
	}
}

// Print writes the tables.
func (res Result) Print(out io.Writer) {
	fmt.Fprintf(out, "day in the life: %d records, %d users, %d people; evaluated and stored in %s (%.0f records/s), %d dropped, %d alerts\n\n",
		res.Records, res.Users, res.People, res.Elapsed.Round(time.Millisecond),
		float64(res.Records)/res.Elapsed.Seconds(), res.Dropped, res.Alerts)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rule\talerts\ttrue\tprecision\tcases\tfound\trecall\tfalse alerts by reason\t")
	for _, s := range res.Rules {
		var fr []string
		for k, v := range s.FalseReasons {
			fr = append(fr, fmt.Sprintf("%s %d", k, v))
		}
		slices.Sort(fr)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f%%\t%d\t%d\t%.0f%%\t%s\t\n", s.Rule, s.Alerts, s.True, 100*s.Precision(),
			s.Cases, s.Found, 100*s.Recall(), strings.Join(fr, ", "))
	}
	tw.Flush()
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "planted case\trecords in alerts\tfound by\tmissed (expected)\t")
	for _, c := range res.Cases {
		missed := strings.Join(c.MissedExpected, ", ")
		if missed == "" {
			missed = "-"
		}
		by := strings.Join(c.ByRules, ", ")
		if by == "" {
			by = "NOT FOUND"
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s\t\n", c.ID, c.Covered, c.Records, by, missed)
	}
	tw.Flush()
	if res.AllFound() {
		fmt.Fprintln(out, "\nevery planted case was found by every rule expected to find it")
	} else {
		fmt.Fprintln(out, "\nSOME PLANTED CASES WERE MISSED")
	}
}
