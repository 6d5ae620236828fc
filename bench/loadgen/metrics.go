package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Metrics are the _sum and _count series of the spine's Prometheus
// histograms (GET /metrics), keyed by series name with labels.
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
		if !strings.HasSuffix(base, "_sum") && !strings.HasSuffix(base, "_count") {
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
		out = append(out, Histogram{Series: series + labels, Count: cnt, Mean: (sum - before[name]) / cnt})
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
		return fmt.Sprintf("%s: %.0f observations, mean %.3f ms", h.Series, h.Count, h.Mean*1000)
	}
	return fmt.Sprintf("%s: %.0f observations, mean %.1f", h.Series, h.Count, h.Mean)
}
