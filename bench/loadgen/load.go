package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Loaded is the data set after the load phase.
type Loaded struct {
	Orgs []Organization // the organisations stored, by index
	IDs  []string       // server-assigned id of Orgs[i] ("" when its bundle failed)
	Good []int          // indexes that were stored
}

// LoadOrganizations stores organisations 0..n-1 through the public API:
// transaction Bundles of perBundle POST entries, posted to base (the FHIR
// base URL) by `loaders` concurrent clients. The Bundles are built before
// the clock starts. The Result counts resources, not requests, in RPS; its
// latencies are those of whole Bundles.
func LoadOrganizations(ctx context.Context, c *http.Client, base string, n, perBundle, loaders int, server *Process) (*Loaded, Result, error) {
	type job struct {
		first, count int
		body         []byte
	}
	var jobs []job
	for first := 0; first < n; first += perBundle {
		cnt := min(perBundle, n-first)
		jobs = append(jobs, job{first, cnt, TransactionBundle(first, cnt)})
	}
	ld := &Loaded{Orgs: make([]Organization, n), IDs: make([]string, n)}
	for i := range n {
		ld.Orgs[i] = Org(i)
	}
	queue := make(chan job)
	var (
		mu      sync.Mutex
		lat     []time.Duration
		errs    int
		samples []string
	)
	m := startMeter(server)
	var wg sync.WaitGroup
	for range loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				t0 := time.Now()
				ids, err := postTransaction(ctx, c, base, j.body, j.count)
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				if err != nil {
					errs++
					if len(samples) < maxErrorSamples {
						samples = append(samples, fmt.Sprintf("bundle of orgs %d..%d: %v", j.first, j.first+j.count-1, err))
					}
				} else {
					copy(ld.IDs[j.first:], ids)
				}
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		select {
		case queue <- j:
		case <-ctx.Done():
		}
	}
	close(queue)
	wg.Wait()
	res := Result{Name: fmt.Sprintf("load: %d-entry transactions x%d", perBundle, loaders), Unit: "resources",
		Requests: len(lat), Errors: errs, ErrorText: samples}
	m.stop(&res)
	for i, id := range ld.IDs {
		if id != "" {
			ld.Good = append(ld.Good, i)
		}
	}
	res.RPS = float64(len(ld.Good)) / res.Elapsed.Seconds()
	res.P50, res.P90, res.P99, res.Max = Percentiles(lat)
	if len(ld.Good) == 0 {
		return ld, res, fmt.Errorf("no organisation was stored: %s", strings.Join(samples, "; "))
	}
	return ld, res, nil
}

// postTransaction posts one transaction Bundle and returns the ids the
// server assigned, in entry order, from each entry's response.location
// ([base]/Organization/{id}/_history/1).
func postTransaction(ctx context.Context, c *http.Client, base string, body []byte, want int) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/fhir+json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %.2000s", resp.StatusCode, data)
	}
	var out struct {
		Entry []struct {
			Response struct {
				Status   string `json:"status"`
				Location string `json:"location"`
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("transaction-response: %w", err)
	}
	if len(out.Entry) != want {
		return nil, fmt.Errorf("transaction-response has %d entries, want %d", len(out.Entry), want)
	}
	ids := make([]string, want)
	for i, e := range out.Entry {
		id, ok := idFromLocation(e.Response.Location)
		if !ok || !strings.HasPrefix(e.Response.Status, "201") {
			return nil, fmt.Errorf("entry %d: status %q location %q", i, e.Response.Status, e.Response.Location)
		}
		ids[i] = id
	}
	return ids, nil
}

// idFromLocation extracts {id} from .../Organization/{id}/_history/{v}.
func idFromLocation(loc string) (string, bool) {
	_, rest, ok := strings.Cut(loc, "/Organization/")
	if !ok {
		return "", false
	}
	id, _, _ := strings.Cut(rest, "/")
	return id, id != ""
}
