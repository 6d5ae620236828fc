package monitor

import (
	"fmt"
	"math"
	"time"

	"github.com/openspine/openspine/internal/audit"
)

// volume alerts when an actor (user or application) accesses far more
// records in a window than it usually does: the count of patients
// concerned by its successful requests in the current window against the
// EWMA of its previous active windows (windows without activity do not
// pull the baseline down: the baseline is the actor's working pace). It
// fires when the count exceeds max(K × baseline, Min), or, before Warmup
// active windows, the Cold threshold. Once per actor and window.
type volume struct {
	cfg    VolumeConfig
	window time.Duration
	actors map[string]*volumeState
}

type volumeState struct {
	start    time.Time // current window start
	count    int
	baseline float64
	active   int // completed active windows
	fired    bool
	recent   []int64 // indexes in the current window (last few)
}

func newVolume(cfg VolumeConfig) *volume {
	return &volume{cfg: cfg, window: cfg.Window.D(), actors: map[string]*volumeState{}}
}

func (*volume) Name() string { return RuleVolume }

func (v *volume) threshold(s *volumeState, isApp bool) int {
	min, cold := v.cfg.MinUser, v.cfg.ColdUser
	if isApp {
		min, cold = v.cfg.MinApp, v.cfg.ColdApp
	}
	if s.active < v.cfg.Warmup {
		return max(min, cold)
	}
	return max(min, int(math.Ceil(v.cfg.K*s.baseline)))
}

func (v *volume) Evaluate(env *Env, r *audit.Record) []Finding {
	ak, isApp := actor(r)
	if ak == "" || r.Patient != "" && r.UserID == "" {
		return nil // unknown, or a patient reading their own record
	}
	n := len(accessed(r, math.MaxInt))
	if n == 0 {
		return nil
	}
	start := r.Time.Truncate(v.window)
	s := v.actors[ak]
	if s == nil {
		s = &volumeState{start: start}
		v.actors[ak] = s
	}
	if start.After(s.start) {
		v.roll(s, isApp)
		s.start = start
	}
	s.count += n
	if len(s.recent) < 20 {
		s.recent = append(s.recent, r.Index)
	}
	th := v.threshold(s, isApp)
	if s.fired || s.count <= th {
		return nil
	}
	s.fired = true
	f := base(RuleVolume, r)
	f.Records = append([]int64(nil), s.recent...)
	if s.recent[len(s.recent)-1] != r.Index {
		f.Records = append(f.Records, r.Index)
	}
	f.Severity, f.Reason = SeverityMedium, "above-baseline"
	if s.count > 3*th {
		f.Severity = SeverityHigh
	}
	f.Key = ak + "|" + s.start.UTC().Format(time.RFC3339)
	f.Summary = fmt.Sprintf("%s accessed %d records in the %s window from %s (baseline %.0f per window, threshold %d)",
		who(r), s.count, v.window, s.start.UTC().Format(time.RFC3339), s.baseline, th)
	return []Finding{f}
}

// roll closes the current window into the baseline (an anomalous window
// counts only up to the threshold it crossed, so a burst does not teach
// the baseline).
func (v *volume) roll(s *volumeState, isApp bool) {
	if s.count > 0 {
		c := float64(min(s.count, v.threshold(s, isApp)))
		if s.active == 0 {
			s.baseline = c
		} else {
			s.baseline = v.cfg.Alpha*c + (1-v.cfg.Alpha)*s.baseline
		}
		s.active++
	}
	s.count, s.fired, s.recent = 0, false, s.recent[:0]
}

func (v *volume) prune(t time.Time) {
	// an actor idle for a week starts again (its baseline forgotten)
	for k, s := range v.actors {
		if t.Sub(s.start) > 7*24*time.Hour {
			delete(v.actors, k)
		}
	}
}
