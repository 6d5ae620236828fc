package loadgen

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"
)

func TestBaselineBody(t *testing.T) {
	if len(BaselineBody) != BaselineSize {
		t.Fatalf("baseline body is %d bytes, want %d", len(BaselineBody), BaselineSize)
	}
	if !json.Valid(BaselineBody) {
		t.Fatalf("baseline body is not JSON: %s", BaselineBody)
	}
}

// The generator must give unique, valid ODS codes and names well past the
// default data set (the create scenario continues numbering after it).
func TestOrganizationsUnique(t *testing.T) {
	ods := regexp.MustCompile(`^[A-Z0-9]{3,10}$`)
	codes, names := map[string]int{}, map[string]int{}
	prefixes := map[string]bool{}
	for i := range 250000 {
		o := Org(i)
		if !ods.MatchString(o.ODS) {
			t.Fatalf("org %d: invalid ODS code %q", i, o.ODS)
		}
		if j, dup := codes[o.ODS]; dup {
			t.Fatalf("orgs %d and %d share ODS code %s", j, i, o.ODS)
		}
		if j, dup := names[o.Name]; dup {
			t.Fatalf("orgs %d and %d share name %s", j, i, o.Name)
		}
		codes[o.ODS], names[o.Name] = i, i
		prefixes[o.Prefix] = true
	}
	if len(prefixes) != len(towns)*len(kinds) {
		t.Errorf("%d name prefixes, want %d", len(prefixes), len(towns)*len(kinds))
	}
	var r map[string]any
	if err := json.Unmarshal(Org(12345).Resource(), &r); err != nil || r["name"] != Org(12345).Name {
		t.Fatalf("resource: %v %v", err, r)
	}
}

func TestTransactionBundle(t *testing.T) {
	var b struct {
		Type  string
		Entry []struct {
			FullURL string
			Request struct{ Method, URL string }
		}
	}
	if err := json.Unmarshal(TransactionBundle(10, 3), &b); err != nil {
		t.Fatal(err)
	}
	if b.Type != "transaction" || len(b.Entry) != 3 || b.Entry[0].Request.Method != "POST" || b.Entry[0].Request.URL != "Organization" {
		t.Fatalf("bundle: %+v", b)
	}
}

func TestPercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	p50, p90, p99, top := Percentiles(lat)
	if p50 != 50*time.Millisecond || p90 != 90*time.Millisecond || p99 != 99*time.Millisecond || top != 100*time.Millisecond {
		t.Fatalf("got %v %v %v %v", p50, p90, p99, top)
	}
}

func TestIDFromLocation(t *testing.T) {
	id, ok := idFromLocation("http://127.0.0.1:1/directory/FHIR/R4/Organization/ab-12/_history/1")
	if !ok || id != "ab-12" {
		t.Fatalf("got %q %v", id, ok)
	}
	if _, ok := idFromLocation("nothing"); ok {
		t.Fatal("accepted a location without an id")
	}
}

func TestHistogramDiffGivesMeanAndP99Bucket(t *testing.T) {
	before := Metrics{
		`spine_x_seconds_sum{op="read"}`: 1, `spine_x_seconds_count{op="read"}`: 10,
		`spine_x_seconds_bucket{op="read",le="0.01"}`: 10, `spine_x_seconds_bucket{op="read",le="0.1"}`: 10, `spine_x_seconds_bucket{op="read",le="+Inf"}`: 10,
	}
	after := Metrics{
		`spine_x_seconds_sum{op="read"}`: 3, `spine_x_seconds_count{op="read"}`: 210,
		// of the 200 new observations, 197 under 10 ms, 2 more under 100 ms, 1 beyond
		`spine_x_seconds_bucket{op="read",le="0.01"}`: 207, `spine_x_seconds_bucket{op="read",le="0.1"}`: 209, `spine_x_seconds_bucket{op="read",le="+Inf"}`: 210,
		`spine_y_seconds_sum`: 5, `spine_y_seconds_count`: 5, `spine_y_seconds_bucket{le="1"}`: 5, `spine_y_seconds_bucket{le="+Inf"}`: 5,
	}
	got := after.Diff(before)
	if len(got) != 2 {
		t.Fatalf("%d histograms: %+v", len(got), got)
	}
	x := got[0]
	if x.Series != `spine_x_seconds{op="read"}` || x.Count != 200 || x.Mean != 0.01 || x.P99 != 0.1 {
		t.Errorf("x: %+v", x)
	}
	if y := got[1]; y.Series != "spine_y_seconds" || y.Count != 5 || y.P99 != 1 {
		t.Errorf("y: %+v", y)
	}
}

// TestOpenLoop: in an open loop latency counts from when a request was
// due, so a server slower than the offered rate shows as growing latency
// and late requests, where a closed loop would only send less; with
// enough workers nothing is late and latency is the server's.
func TestOpenLoop(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	build := func(*rand.Rand) (*http.Request, error) { return http.NewRequest("GET", srv.URL+"/x", nil) }
	// one worker can serve ~50 a second; 100 are due a second
	slow := Run(t.Context(), Scenario{Name: "slow", Workers: 1, Rate: 100, Duration: time.Second, Build: build})
	if slow.Rate != 100 || slow.Late < 20 || slow.Requests > 70 || slow.P99 < 200*time.Millisecond {
		t.Fatalf("one worker at 100/s: %d requests, %d late, p99 %s", slow.Requests, slow.Late, slow.P99)
	}
	// sixteen can serve ~800 a second
	fast := Run(t.Context(), Scenario{Name: "fast", Workers: 16, Rate: 100, Duration: time.Second, Build: build})
	if fast.Requests < 80 || fast.Requests > 110 || fast.Late > fast.Requests/10 || fast.P50 > 100*time.Millisecond {
		t.Fatalf("sixteen workers at 100/s: %d requests, %d late, p50 %s", fast.Requests, fast.Late, fast.P50)
	}
}
