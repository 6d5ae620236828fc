package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Metrics are the _sum, _count and _bucket series of the spine's
// Prometheus histograms (GET /metrics), keyed by series name with labels.
type Metrics map[string]float64

// ScrapeMetrics reads the server's /metrics (the spine's own timings:
// store operations, group commits, HTTP routes; the scrapes themselves
// left out). A server without /metrics gives an empty set.
func ScrapeMetrics(ctx context.Context, c *http.Client, serverURL string) Metrics {
	m := Metrics{}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, serverURL+"/metrics", nil)
	if err != nil {
		return m
	}
	resp, err := c.Do(req)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return m
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "spine_") || strings.Contains(line, `route="GET /metrics"`) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name := line[:i]
		base := name
		if j := strings.IndexByte(name, '{'); j >= 0 {
			base = name[:j]
		}
		if !strings.HasSuffix(base, "_sum") && !strings.HasSuffix(base, "_count") && !strings.HasSuffix(base, "_bucket") {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[name] = v
		}
	}
	return m
}

// Histogram is the change of one histogram series between two scrapes.
type Histogram struct {
	Series string // name{labels} without _sum/_count
	Count  float64
	Mean   float64 // sum/count: seconds for durations, items for sizes
	// P99 is the upper bound of the bucket holding the 99th percentile of
	// the observations between the scrapes (+Inf when beyond the last).
	P99 float64
}

// p99 finds the upper bound of the bucket that holds the 99th percentile
// of the cnt observations of series{labels} between before and m.
func (m Metrics) p99(before Metrics, series, labels string, cnt float64) float64 {
	type bucket struct{ le, n float64 }
	var bs []bucket
	inner := strings.TrimSuffix(strings.TrimPrefix(labels, "{"), "}")
	for name, v := range m {
		rest, ok := strings.CutPrefix(name, series+"_bucket{")
		if !ok {
			continue
		}
		rest = strings.TrimSuffix(rest, "}")
		i := strings.Index(rest, `le="`)
		if i < 0 || strings.TrimSuffix(rest[:i], ",") != inner {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(rest[i+4:], `"`), 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{le, v - before[name]})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	for _, b := range bs {
		if b.n >= 0.99*cnt {
			return b.le
		}
	}
	return math.Inf(1)
}

// Diff returns the histograms observed between before and m, most
// observations first.
func (m Metrics) Diff(before Metrics) []Histogram {
	var out []Histogram
	for name, sum := range m {
		base, labels, _ := strings.Cut(name, "{")
		series, ok := strings.CutSuffix(base, "_sum")
		if !ok {
			continue
		}
		if labels != "" {
			labels = "{" + labels
		}
		cnt := m[series+"_count"+labels] - before[series+"_count"+labels]
		if cnt <= 0 {
			continue
		}
		out = append(out, Histogram{Series: series + labels, Count: cnt, Mean: (sum - before[name]) / cnt, P99: m.p99(before, series, labels, cnt)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Series < out[j].Series
	})
	return out
}

// String formats a histogram change: durations (series ending in
// _seconds) in milliseconds.
func (h Histogram) String() string {
	if strings.Contains(h.Series, "_seconds") {
		return fmt.Sprintf("%s: %.0f observations, mean %.3f ms, p99 <= %g ms", h.Series, h.Count, h.Mean*1000, h.P99*1000)
	}
	return fmt.Sprintf("%s: %.0f observations, mean %.1f, p99 <= %g", h.Series, h.Count, h.Mean, h.P99)
}
