package loadgen

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// NewClientWithToken returns a net/http client for the harnesses' setup
// and probes (loads, token checks, /metrics; the measured scenarios send
// on RawConn): one shared keep-alive transport with enough idle
// connections per host for every worker, no compression, HTTP/1.1,
// sending Authorization: Bearer token on every request (when token is not
// empty).
func NewClientWithToken(workers int, token string) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4 * workers,
		MaxIdleConnsPerHost: 2 * workers,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	var rt http.RoundTripper = tr
	if token != "" {
		rt = bearer{token: "Bearer " + token, next: tr}
	}
	return &http.Client{Transport: rt, Timeout: 60 * time.Second}
}

// Bearer is the Authorization header line that sends token ("" for no
// token), for Scenario.Auth and RawConn.Do.
func Bearer(token string) string {
	if token == "" {
		return ""
	}
	return "Authorization: Bearer " + token
}

// bearer adds the Authorization header to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", b.token)
	return b.next.RoundTrip(r)
}

// Builder makes the next request of a worker; rng is the worker's own.
type Builder func(rng *rand.Rand) (*http.Request, error)

// Scenario is one measurement: a closed loop (Workers send back to back)
// or, with Rate, an open loop.
type Scenario struct {
	Name    string
	Workers int
	// Rate > 0: an open loop: a request is due every 1/Rate s and sent by
	// a free one of the Workers; its latency counts from when it was due
	// (Schedule).
	Rate     float64
	Duration time.Duration // measured part
	Warmup   time.Duration // unmeasured part before it (connections, caches)
	Auth     string        // an Authorization header line sent with every request ("": none)
	Build    Builder
	Server   *Process // for the server's CPU time (optional)
}

// Result is what a scenario measured.
type Result struct {
	Name      string
	Workers   int // concurrent clients (0 in the load phase: see Name)
	Requests  int // completed in the measured part, errors included
	Errors    int
	Elapsed   time.Duration
	RPS       float64 // requests (errors included) per second
	P50, P90  time.Duration
	P99, Max  time.Duration
	ErrorText []string // the first few error responses
	// CPU used during the measured part, in cores (CPU seconds per
	// second): by the generator, by the server process, by the machine.
	ClientCPU, ServerCPU, MachineCPU float64
	// Unit names what RPS counts when it is not requests (e.g. resources).
	Unit string
	// Rate is the open loop's offered rate (0: closed loop); Late counts
	// the requests that were due while no worker was free.
	Rate float64
	Late int
}

const maxErrorSamples = 5

type worker struct {
	lat     []time.Duration
	errors  int
	samples []string
}

// Run executes the scenario: Workers goroutines each send requests back to
// back (a closed loop) for Warmup, then for Duration while recording the
// latency of every request, including reading the whole response body.
// Any transport error or non-2xx status is an error.
func Run(ctx context.Context, sc Scenario) Result {
	seed := uint64(len(sc.Name))
	if sc.Warmup > 0 {
		runLoop(ctx, sc, sc.Warmup, seed, false)
	}
	m := startMeter(sc.Server)
	ws, late := runLoop(ctx, sc, sc.Duration, seed+1000, true)
	res := Result{Name: sc.Name, Workers: sc.Workers, Rate: sc.Rate, Late: late}
	m.stop(&res)
	var all []time.Duration
	for _, w := range ws {
		all = append(all, w.lat...)
		res.Errors += w.errors
		for _, s := range w.samples {
			if len(res.ErrorText) < maxErrorSamples {
				res.ErrorText = append(res.ErrorText, s)
			}
		}
	}
	res.Requests = len(all)
	res.RPS = float64(len(all)) / res.Elapsed.Seconds()
	res.P50, res.P90, res.P99, res.Max = Percentiles(all)
	return res
}

// meter measures the wall time and CPU use of a measured part.
type meter struct {
	server             *Process
	start              time.Time
	self, srv, machine time.Duration
}

func startMeter(server *Process) *meter {
	m := &meter{server: server, self: SelfCPUTime(), machine: MachineCPUTime()}
	if server != nil {
		m.srv = server.CPUTime()
	}
	m.start = time.Now()
	return m
}

// stop sets res.Elapsed and the CPU figures.
func (m *meter) stop(res *Result) {
	res.Elapsed = time.Since(m.start)
	sec := res.Elapsed.Seconds()
	res.ClientCPU = (SelfCPUTime() - m.self).Seconds() / sec
	res.MachineCPU = (MachineCPUTime() - m.machine).Seconds() / sec
	if m.server != nil {
		res.ServerCPU = (m.server.CPUTime() - m.srv).Seconds() / sec
	}
}

func runLoop(ctx context.Context, sc Scenario, d time.Duration, seed uint64, record bool) (ws []*worker, late int) {
	deadline := time.Now().Add(d)
	var schedule *Schedule
	if sc.Rate > 0 {
		schedule = NewSchedule(ctx, sc.Rate, deadline)
	}
	ws = make([]*worker, sc.Workers)
	var wg sync.WaitGroup
	for i := range ws {
		w := &worker{}
		if record {
			w.lat = make([]time.Duration, 0, 1<<14)
		}
		ws[i] = w
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conn *RawConn // each worker's own connection, to the first request's host
			defer func() {
				if conn != nil {
					conn.Close()
				}
			}()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				req, err := sc.Build(rng)
				if err != nil {
					w.fail(fmt.Sprintf("building the request: %v", err))
					continue
				}
				if conn == nil {
					if conn, err = NewRawConn(req.URL.Scheme + "://" + req.URL.Host); err != nil {
						w.fail(err.Error())
						return
					}
				}
				t0 := time.Now()
				if schedule != nil {
					due, ok := schedule.Next()
					if !ok {
						return
					}
					t0 = due
				}
				status, body, err := do(conn, req, sc.Auth)
				lat := time.Since(t0)
				if record {
					w.lat = append(w.lat, lat)
				}
				switch {
				case err != nil:
					w.fail(err.Error())
				case status < 200 || status > 299:
					w.fail(fmt.Sprintf("%s %s: HTTP %d: %s", req.Method, req.URL.RequestURI(), status, body))
				}
			}
		}()
	}
	wg.Wait()
	if schedule != nil {
		late = schedule.Late()
	}
	if !record {
		return nil, late
	}
	return ws, late
}

func (w *worker) fail(msg string) {
	w.errors++
	if len(w.samples) < maxErrorSamples {
		w.samples = append(w.samples, msg)
	}
}

// do sends req on conn (whose host it must name), with the auth header
// line, and reads the whole answer; the body is returned (up to 2 KiB)
// only for error statuses.
func do(conn *RawConn, req *http.Request, auth string) (int, string, error) {
	var header []string
	if auth != "" {
		header = append(header, auth)
	}
	for name, values := range req.Header {
		for _, v := range values {
			header = append(header, name+": "+v)
		}
	}
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return 0, "", err
		}
		req.Body.Close()
	}
	status, data, err := conn.Do(req.Method, req.URL.RequestURI(), header, body)
	if err != nil || (status >= 200 && status <= 299) {
		return status, "", err
	}
	return status, string(data[:min(len(data), 2048)]), nil
}

// Percentiles returns the nearest-rank p50, p90 and p99 and the maximum of
// lat (which it sorts).
func Percentiles(lat []time.Duration) (p50, p90, p99, top time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(lat)))) - 1
		return lat[min(max(i, 0), len(lat)-1)]
	}
	return rank(0.50), rank(0.90), rank(0.99), lat[len(lat)-1]
}
