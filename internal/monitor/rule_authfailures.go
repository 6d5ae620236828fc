package monitor

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/audit"
)

// authFailures alerts on bursts of refused authentication or
// authorisation: Threshold failures (Statuses, by default 401 and 403, or
// Action "authenticate" with a 4xx) within Window from one client address
// or one application. Once fired, the failures that follow while the
// burst lasts are added to the same alert.
type authFailures struct {
	cfg    AuthFailuresConfig
	window time.Duration
	keys   map[string]*burst
}

type burst struct {
	times   []time.Time // the last Threshold failures
	indexes []int64
	firing  time.Time // fired; the burst lasts while failures keep coming before this
}

func newAuthFailures(cfg AuthFailuresConfig) *authFailures {
	return &authFailures{cfg: cfg, window: cfg.Window.D(), keys: map[string]*burst{}}
}

func (*authFailures) Name() string { return RuleAuthFailures }

func (a *authFailures) failed(r *audit.Record) bool {
	return slices.Contains(a.cfg.Statuses, r.Status) || r.Action == "authenticate" && r.Status >= 400 && r.Status < 500
}

func (a *authFailures) Evaluate(env *Env, r *audit.Record) []Finding {
	if !a.failed(r) {
		return nil
	}
	var keys []string
	if r.Client != "" {
		keys = append(keys, "address:"+r.Client)
	}
	if r.AppID != "" && !a.cfg.IgnoreApps {
		keys = append(keys, "app:"+r.AppID)
	}
	var out []Finding
	for _, k := range keys {
		b := a.keys[k]
		if b == nil {
			b = &burst{}
			a.keys[k] = b
		}
		if r.Time.Before(b.firing) {
			// the burst goes on: add to the alert
			b.firing = r.Time.Add(a.window)
			out = append(out, a.finding(r, k, []int64{r.Index}, 0))
			continue
		}
		b.times = append(b.times, r.Time)
		b.indexes = append(b.indexes, r.Index)
		if len(b.times) > a.cfg.Threshold {
			b.times, b.indexes = b.times[1:], b.indexes[1:]
		}
		if len(b.times) < a.cfg.Threshold || r.Time.Sub(b.times[0]) > a.window {
			continue
		}
		b.firing = r.Time.Add(a.window)
		out = append(out, a.finding(r, k, slices.Clone(b.indexes), len(b.times)))
		b.times, b.indexes = b.times[:0], b.indexes[:0]
	}
	return out
}

func (a *authFailures) finding(r *audit.Record, key string, idx []int64, n int) Finding {
	f := base(RuleAuthFailures, r)
	f.Records = idx
	f.Key = key
	f.Severity = SeverityHigh
	f.Reason = "failed-authentication"
	if r.Status == 403 {
		f.Reason = "refused-authorisation"
	}
	from := strings.Replace(key, ":", " ", 1)
	if n > 0 {
		f.Summary = fmt.Sprintf("%d refused requests (401/403) within %s from %s", n, a.window, from)
	} else {
		f.Summary = fmt.Sprintf("burst of refused requests from %s goes on", from)
	}
	return f
}

func (a *authFailures) prune(t time.Time) {
	for k, b := range a.keys {
		if !t.Before(b.firing) && (len(b.times) == 0 || t.Sub(b.times[len(b.times)-1]) > a.window) {
			delete(a.keys, k)
		}
	}
}
