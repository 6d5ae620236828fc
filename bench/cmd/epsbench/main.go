// Command epsbench measures full Electronic Prescription Service cycles.
// It seeds patients with the real command (spine seed), starts spine serve
// --dev on that data, registers an ECDSA P-256 signing key on the demo
// prescriber's PractitionerRole through the directory API, mints a
// prescriber token (Dr Carter, R8000 at Y12345) and a pharmacist token
// (R1290 at FA565), then runs closed-loop workers that each do complete
// cycles back to back:
//
//	$prepare -> sign (ES256 over the digest, crypto/ecdsa) -> $process-message
//	(prescription-order) -> Task/$release by short-form id ->
//	$process-message (dispense-notification, complete) -> POST /Claim
//
// and reports complete cycles per second and the latency of each step.
// Each worker sends its cycles on its own keep-alive connection
// (loadgen.RawConn), with bodies encoded once per run and filled per cycle
// (bodies, template.fill), so that the generator leaves the shared cores
// to the server. See docs/performance.md.
//
//	epsbench --spine /tmp/spine [--db postgres://...] [--patients 5000] [--workers 64] [--duration 10s]
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"flag"

	"github.com/openspine/openspine/bench/loadgen"
	"github.com/openspine/openspine/internal/eps"
	"github.com/openspine/openspine/internal/pds"
)

// The demo directory's prescriber and pharmacist.
const (
	prescriberUser = "555021935107" // Dr Amelia Carter
	prescriberRole = "555021936108" // her PractitionerRole: R8000 at Y12345
	prescriberODS  = "Y12345"
	pharmacistUser = "555021935110" // Rohan Patel
	pharmacistRole = "555021936111"
	pharmacyODS    = "FA565"
)

var medicines = []struct {
	code, display, dose string
	qty                 int
}{
	{"322237000", "Paracetamol 500mg soluble tablets", "One tablet four times a day", 100},
	{"39113611000001102", "Salbutamol 100micrograms/dose inhaler CFC free", "Two puffs when required", 200},
	{"317972000", "Furosemide 40mg tablets", "One tablet each morning", 28},
	{"324252006", "Azithromycin 250mg capsules", "One capsule daily", 6},
}

var steps = []string{"prepare", "sign (ES256, client)", "order ($process-message)", "release (Task/$release)", "dispense ($process-message)", "claim (POST /Claim)"}

func main() {
	spine := flag.String("spine", "", "path of the spine binary (required)")
	db := flag.String("db", "", "PostgreSQL URL for spine --db: without search_path the run gets a schema of its own, created and dropped here; with it, that schema, which should be empty (default: SQLite in a temporary folder)")
	patients := flag.Int("patients", 5000, "patients to seed with spine seed")
	items := flag.Int("items", 1, "line items per prescription (1-4)")
	workers := flag.Int("workers", 64, "concurrent closed-loop workers, each running complete cycles (with --rate: the connections open-loop cycles run on)")
	rate := flag.Float64("rate", 0, "open loop: start this many cycles a second, evenly spaced, each on a free one of --workers connections; a cycle's latency counts from its scheduled start, so queueing shows (0: closed loop)")
	duration := flag.Duration("duration", 10*time.Second, "measured duration")
	warmup := flag.Duration("warmup", 2*time.Second, "unmeasured warm-up")
	cpuprof := flag.String("cpuprofile", "", "write the load generator's CPU profile of the measured part to this file")
	flag.Parse()
	cpuProfile, openRate = *cpuprof, *rate
	ctx, stop := loadgen.Begin("epsbench", *spine, "")
	defer stop()
	if err := run(ctx, *spine, *db, *patients, min(max(*items, 1), 4), *workers, *duration, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "epsbench:", err)
		os.Exit(1)
	}
}

var cpuProfile string

// openRate is --rate: cycles started a second in the open loop (0: closed).
var openRate float64

type bench struct {
	server               string       // spine's base URL
	metrics              *http.Client // reads /metrics
	prescriber, pharmacy string       // their Authorization headers
	key                  *ecdsa.PrivateKey
	patients             []string
	items                int
	bodies               *bodies
}

func run(ctx context.Context, spinePath, db string, nPatients, items, workers int, duration, warmup time.Duration) error {
	if db != "" {
		var drop func()
		var err error
		if db, drop, err = loadgen.FreshSchema(ctx, db); err != nil {
			return err
		}
		defer drop()
	}
	backend, dbArgs := loadgen.Backend(db)
	fmt.Printf("epsbench: %s, %d patients, %d item(s) per prescription, %d workers, %s measured (+%s warm-up)\n", backend, nPatients, items, workers, duration, warmup)
	if openRate > 0 {
		fmt.Printf("open loop: %.1f cycles started a second on up to %d connections; latency from each cycle's scheduled start\n", openRate, workers)
	}
	fmt.Printf("CPU: %d cores (GOMAXPROCS %d) shared by the load generator and the spine\n", runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Printf("background: %.2f cores busy before the harness started anything (other tenants)\n", loadgen.Background(2*time.Second))
	dir, err := os.MkdirTemp("", "epsbench-data-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d, err := loadgen.Seed(spinePath, dir, nPatients, 1, dbArgs...)
	if err != nil {
		return fmt.Errorf("spine seed: %w", err)
	}
	fmt.Printf("seeded %d patients in %s\n", nPatients, d.Round(time.Millisecond))
	pats := patients(1, nPatients)
	fmt.Printf("%d live patients nominating %s or no pharmacy, regenerated in-process\n", len(pats), pharmacyODS)

	spine, err := loadgen.StartSpineArgs(spinePath, append([]string{"serve", "--dev", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn"}, dbArgs...)...)
	if err != nil {
		return err
	}
	defer spine.Stop()
	appTok, err := loadgen.MintToken(spinePath, dir)
	if err != nil {
		return err
	}
	rxTok, err := loadgen.MintToken(spinePath, dir, "--user", prescriberUser)
	if err != nil {
		return err
	}
	phTok, err := loadgen.MintToken(spinePath, dir, "--user", pharmacistUser, "--role", "R1290", "--org", pharmacyODS,
		"--role-profile", pharmacistRole, "--activities", "B0570")
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if err := registerKey(ctx, loadgen.NewClientWithToken(1, appTok), spine.URL+"/directory/FHIR/R4", &key.PublicKey); err != nil {
		return err
	}
	fmt.Printf("spine pid %d at %s; signing key registered on PractitionerRole/%s (%s)\n", spine.PID(), spine.URL, prescriberRole, eps.ExtSigningKey)
	bodies, err := newBodies(items)
	if err != nil {
		return err
	}
	b := &bench{server: spine.URL, metrics: loadgen.NewClientWithToken(1, phTok),
		prescriber: loadgen.Bearer(rxTok), pharmacy: loadgen.Bearer(phTok),
		key: key, patients: pats, items: items, bodies: bodies}

	// One cycle first, to show that it works end to end.
	var probe cycleTimes
	conn, err := loadgen.NewRawConn(spine.URL)
	if err != nil {
		return err
	}
	err = b.cycle(conn, mrand.New(mrand.NewPCG(1, 1)), &probe, true)
	conn.Close()
	if err != nil {
		return fmt.Errorf("first cycle: %w", err)
	}
	if warmup > 0 {
		b.loop(ctx, workers, warmup, nil)
	}
	m := loadgen.StartMeter(spine)
	before := loadgen.ScrapeMetrics(ctx, b.metrics, spine.URL)
	stats := &collected{}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
	}
	b.loop(ctx, workers, duration, stats)
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	cyc := loadgen.Result{Name: fmt.Sprintf("complete cycle (%d item)", items), Workers: workers, Unit: "cycles",
		Requests: len(stats.cycle) + stats.errors, Errors: stats.errors, ErrorText: stats.samples, Rate: openRate, Late: stats.late}
	m.Stop(&cyc)
	cyc.RPS = float64(len(stats.cycle)) / cyc.Elapsed.Seconds()
	cyc.P50, cyc.P90, cyc.P99, cyc.Max = loadgen.Percentiles(stats.cycle)
	results := []loadgen.Result{cyc}
	for i, name := range steps {
		r := loadgen.Result{Name: "  step: " + name, Requests: len(stats.steps[i]), Elapsed: cyc.Elapsed}
		r.RPS = float64(len(stats.steps[i])) / cyc.Elapsed.Seconds()
		r.P50, r.P90, r.P99, r.Max = loadgen.Percentiles(stats.steps[i])
		results = append(results, r)
	}
	loadgen.PrintResult(os.Stdout, cyc)
	for i, h := range loadgen.ScrapeMetrics(ctx, b.metrics, spine.URL).Diff(before) {
		if i == 12 {
			break
		}
		fmt.Println("    server metric:", h)
	}
	rss := loadgen.PeakRSS(spine.PID())
	fmt.Printf("\nsummary (%s, %d patients seeded, %d workers, %s measured; step rows: requests/s and latency of that step within the cycles):\n\n", backend, nPatients, workers, duration)
	loadgen.PrintTable(os.Stdout, results, "", "")
	fmt.Printf("\nspine peak RSS (VmHWM): %.0f MiB\n", float64(rss)/(1<<20))
	if openRate > 0 {
		fmt.Printf("\nopen loop: %.1f cycles/s offered, %.1f completed (%d errors, %d started late: no connection free at their time); cycle p50 %.2f ms, p99 %.2f ms from the scheduled start\n",
			openRate, cyc.RPS, cyc.Errors, stats.late, ms(cyc.P50), ms(cyc.P99))
	} else {
		verdict := "MISSED"
		if cyc.RPS >= 1000 && cyc.Errors == 0 {
			verdict = "met"
		}
		fmt.Printf("\ngoal: >= 1,000 complete cycles/s: %.0f cycles/s (%d errors) -> %s\n", cyc.RPS, cyc.Errors, verdict)
	}
	spine.Stop()
	fmt.Printf("background after the run: %.2f cores busy (other tenants)\n", loadgen.Background(2*time.Second))
	return nil
}

// patients regenerates the seeded population (pds.SeedGenerator, as
// spine seed makes it) and returns the NHS numbers of live, current patients who nominated
// FA565 or no pharmacy.
func patients(seed int64, n int) []string {
	gen := pds.SeedGenerator(seed)
	var out []string
	for range n {
		p := gen.Next()
		if p.SupersededBy == "" && !p.Deceased() && (p.Pharmacy == "" || p.Pharmacy == pharmacyODS) {
			out = append(out, p.NHSNumber)
		}
	}
	return out
}

// registerKey adds the public key to the prescriber's PractitionerRole
// (read, add the extension, PUT back).
func registerKey(ctx context.Context, c *http.Client, dirURL string, pub *ecdsa.PublicKey) error {
	u := dirURL + "/PractitionerRole/" + prescriberRole
	status, body, err := send(ctx, c, http.MethodGet, u, nil)
	if err != nil || status != 200 {
		return fmt.Errorf("GET %s: %d %v %.500s", u, status, err, body)
	}
	var role map[string]any
	if err := json.Unmarshal(body, &role); err != nil {
		return err
	}
	if err := eps.AddSigningKey(role, pub); err != nil {
		return err
	}
	data, err := json.Marshal(role)
	if err != nil {
		return err
	}
	status, body, err = send(ctx, c, http.MethodPut, u, data)
	if err != nil || status/100 != 2 {
		return fmt.Errorf("PUT %s: %d %v %.500s", u, status, err, body)
	}
	return nil
}

// send makes one request with a fresh X-Request-ID and returns the status
// and the whole body.
func send(ctx context.Context, c *http.Client, method, u string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/fhir+json")
	req.Header.Set("X-Request-ID", loadgen.NewUUID())
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// bodies are a cycle's request bodies, encoded once with slots that each
// cycle fills with its own values, as a replaying load tool such as wrk
// would send them: the generator's CPU goes to HTTP rather than to
// encoding JSON, and leaves more of the shared cores to the server. Every
// id, time and signature still differs from cycle to cycle.
type bodies struct{ prepare, order, release, dispense, claim template }

// A template is a body's text cut at its slots: each segment's text, then
// the name of the slot after it ("" after the last text).
type template []segment

type segment struct {
	text []byte
	slot string
}

const slotMark = "@@"

func slot(name string) string { return slotMark + name + slotMark }

// newBodies encodes the bodies of cycles of items line items. Slots u0,
// u1, ... stand for the UUIDs (fullUrls, message ids) a cycle makes fresh.
func newBodies(items int) (*bodies, error) {
	n := 0
	id := func() string { n++; return slot(fmt.Sprintf("u%d", n-1)) }
	var itemIDs []string
	for i := range items {
		itemIDs = append(itemIDs, slot(fmt.Sprintf("item%d", i)))
	}
	nhs, short, long, now := slot("nhs"), slot("short"), slot("long"), slot("now")
	var b bodies
	order := orderBundle(id, now, nhs, short, long, itemIDs)
	all := []struct {
		into *template
		body func() obj
	}{
		{&b.prepare, func() obj { return order }},
		{&b.order, func() obj {
			if err := eps.AddSignature(order, slot("sig"), slot("when")); err != nil {
				panic(err)
			}
			return order
		}},
		{&b.release, func() obj { return releaseBody(short) }},
		{&b.dispense, func() obj { return dispenseBundle(id, now, nhs, short, long, itemIDs) }},
		{&b.claim, func() obj { return claimBody(id, now, nhs, short, long, itemIDs) }},
	}
	for _, t := range all {
		data, err := json.Marshal(t.body())
		if err != nil {
			return nil, err
		}
		parts := bytes.Split(data, []byte(slotMark))
		if len(parts)%2 != 1 {
			return nil, fmt.Errorf("a body holds %q outside its slots", slotMark)
		}
		for i := 0; i < len(parts); i += 2 {
			seg := segment{text: parts[i]}
			if i+1 < len(parts) {
				seg.slot = string(parts[i+1])
			}
			*t.into = append(*t.into, seg)
		}
	}
	return &b, nil
}

// fill writes the body with the cycle's values, v; a UUID slot (u0, u1,
// ...) not yet in v gets a fresh UUID there, so that it has the same value
// in every body of the cycle.
func (t template) fill(v map[string]string) []byte {
	n := 0
	for _, s := range t {
		n += len(s.text) + 40
	}
	out := make([]byte, 0, n)
	for _, s := range t {
		out = append(out, s.text...)
		if s.slot == "" {
			continue
		}
		val, ok := v[s.slot]
		if !ok {
			val = loadgen.NewUUID()
			v[s.slot] = val
		}
		out = append(out, val...)
	}
	return out
}

type cycleTimes [7]time.Duration // the steps, then the whole cycle

type collected struct {
	mu      sync.Mutex
	steps   [6][]time.Duration
	cycle   []time.Duration
	errors  int
	late    int // open loop: cycles that found no free connection at their scheduled time
	samples []string
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// loop runs cycles for d; stats nil: warm-up. Closed loop: workers each
// run cycles back to back. Open loop (openRate > 0): a cycle is scheduled
// every 1/openRate s and run by a free worker; its latency counts from
// its scheduled time (no coordinated omission: a late start is waiting
// the server caused).
func (b *bench) loop(ctx context.Context, workers int, d time.Duration, stats *collected) {
	deadline := time.Now().Add(d)
	var schedule *loadgen.Schedule
	if openRate > 0 {
		schedule = loadgen.NewSchedule(ctx, openRate, deadline)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			var ts cycleTimes
			conn, err := loadgen.NewRawConn(b.server)
			if err != nil {
				panic(err) // the URL was used already
			}
			defer conn.Close()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				var scheduled time.Time
				if schedule != nil {
					due, ok := schedule.Next()
					if !ok {
						return
					}
					scheduled = due
				}
				err := b.cycle(conn, rng, &ts, false)
				if !scheduled.IsZero() {
					ts[6] = time.Since(scheduled)
				}
				if stats == nil {
					continue
				}
				stats.mu.Lock()
				if err != nil {
					stats.errors++
					if len(stats.samples) < 5 {
						stats.samples = append(stats.samples, err.Error())
					}
				} else {
					for i := range stats.steps {
						stats.steps[i] = append(stats.steps[i], ts[i])
					}
					stats.cycle = append(stats.cycle, ts[6])
				}
				stats.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if schedule != nil && stats != nil {
		stats.late = schedule.Late()
	}
}

// cycle runs one complete prescription cycle on conn, recording each
// step's time.
func (b *bench) cycle(conn *loadgen.RawConn, rng *mrand.Rand, ts *cycleTimes, verbose bool) error {
	start := time.Now()
	nhs := b.patients[rng.IntN(len(b.patients))]
	short, long := eps.NewShortFormID(prescriberODS), eps.NewLongFormID()
	v := map[string]string{"nhs": nhs, "short": short, "long": long, "now": time.Now().UTC().Format(time.RFC3339)}
	for i := range b.items {
		v[fmt.Sprintf("item%d", i)] = loadgen.NewUUID()
	}
	step := func(i int, auth, path string, body []byte) ([]byte, error) {
		t0 := time.Now()
		status, data, err := conn.Do(http.MethodPost, eps.Base+path, []string{auth, "Accept: application/fhir+json",
			"Content-Type: application/fhir+json", "X-Request-ID: " + loadgen.NewUUID()}, body)
		ts[i] = time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", steps[i], err)
		}
		if status != 200 {
			return nil, fmt.Errorf("%s: HTTP %d: %.600s", steps[i], status, data)
		}
		if verbose {
			fmt.Printf("  %s: POST %s -> %d, %d bytes\n", steps[i], path, status, len(data))
		}
		return data, nil
	}
	// 1. $prepare
	data, err := step(0, b.prescriber, "/$prepare", b.bodies.prepare.fill(v))
	if err != nil {
		return err
	}
	digest, when, err := eps.ParsePrepared(data)
	if err != nil {
		return fmt.Errorf("prepare answer: %w", err)
	}
	// 2. sign: a raw ECDSA P-256 signature (ASN.1 DER) over the 32 digest
	// bytes, as a signing service that "signs a digest" produces.
	t0 := time.Now()
	d, err := base64.StdEncoding.DecodeString(digest)
	if err != nil || len(d) != sha256.Size {
		return fmt.Errorf("prepare answer: digest %q", digest)
	}
	sig, err := ecdsa.SignASN1(rand.Reader, b.key, d)
	if err != nil {
		return err
	}
	v["sig"], v["when"] = base64.StdEncoding.EncodeToString(sig), when
	ts[1] = time.Since(t0)
	// 3. the order
	if _, err := step(2, b.prescriber, "/$process-message", b.bodies.order.fill(v)); err != nil {
		return err
	}
	// 4. release by short-form id
	data, err = step(3, b.pharmacy, "/Task/$release", b.bodies.release.fill(v))
	if err != nil {
		return err
	}
	if !bytes.Contains(data, []byte(short)) {
		return fmt.Errorf("release of %s: the answer does not hold it: %.600s", short, data)
	}
	// 5. dispense-notification: every item dispensed, prescription 0006
	if _, err := step(4, b.pharmacy, "/$process-message", b.bodies.dispense.fill(v)); err != nil {
		return err
	}
	// 6. claim
	if _, err := step(5, b.pharmacy, "/Claim", b.bodies.claim.fill(v)); err != nil {
		return err
	}
	ts[6] = time.Since(start)
	return nil
}

type obj = map[string]any

func coding(system, code string) obj { return obj{"system": system, "code": code} }

func ident(system, value string) obj { return obj{"system": system, "value": value} }

// orderBundle is an unsigned prescription-order message by Dr Carter (as
// the eps tests build it).
func orderBundle(id func() string, now, nhs, short, long string, itemIDs []string) obj {
	patURL, roleURL, pracURL, orgURL := "urn:uuid:"+id(), "urn:uuid:"+id(), "urn:uuid:"+id(), "urn:uuid:"+id()
	var mrs, focus []any
	for i, item := range itemIDs {
		m := medicines[i%len(medicines)]
		u := "urn:uuid:" + id()
		focus = append(focus, obj{"reference": u})
		mrs = append(mrs, obj{"fullUrl": u, "resource": obj{
			"resourceType": "MedicationRequest",
			"identifier":   []any{ident(eps.SystemItem, item)},
			"status":       "active", "intent": "order",
			"category":                  []any{obj{"coding": []any{coding("http://terminology.hl7.org/CodeSystem/medicationrequest-category", "community")}}},
			"medicationCodeableConcept": obj{"coding": []any{obj{"system": "http://snomed.info/sct", "code": m.code, "display": m.display}}},
			"subject":                   obj{"reference": patURL},
			"authoredOn":                now,
			"requester":                 obj{"reference": roleURL},
			"groupIdentifier": obj{
				"extension": []any{obj{"url": eps.ExtPrescriptionID, "valueIdentifier": ident(eps.SystemLongForm, long)}},
				"system":    eps.SystemShortForm, "value": short},
			"courseOfTherapyType": obj{"coding": []any{coding("http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy", "acute")}},
			"dosageInstruction":   []any{obj{"text": m.dose}},
			"dispenseRequest": obj{
				"extension": []any{obj{"url": eps.ExtSiteType, "valueCoding": coding(eps.SystemSiteType, "P1")}},
				"quantity":  obj{"value": m.qty, "unit": "dose", "system": "http://snomed.info/sct", "code": "3317411000001100"},
			},
			"substitution": obj{"allowedBoolean": false},
		}})
	}
	entries := []any{obj{"fullUrl": "urn:uuid:" + id(), "resource": obj{"resourceType": "MessageHeader",
		"eventCoding": coding(eps.SystemEvent, eps.EventOrder),
		"sender":      obj{"identifier": ident(eps.SystemODS, prescriberODS)},
		"source":      obj{"endpoint": "urn:nhs-uk:addressing:ods:" + prescriberODS},
		"focus":       focus}}}
	entries = append(entries, mrs...)
	entries = append(entries,
		obj{"fullUrl": patURL, "resource": obj{"resourceType": "Patient", "identifier": []any{ident(eps.SystemNHSNumber, nhs)}}},
		obj{"fullUrl": roleURL, "resource": obj{"resourceType": "PractitionerRole",
			"identifier":   []any{ident(eps.SystemRole, prescriberRole)},
			"practitioner": obj{"reference": pracURL}, "organization": obj{"reference": orgURL},
			"code":    []any{obj{"coding": []any{coding("https://fhir.nhs.uk/CodeSystem/NHSDigital-SDS-JobRoleCode", "R8000")}}},
			"telecom": []any{obj{"system": "phone", "value": "01234567890", "use": "work"}}}},
		obj{"fullUrl": pracURL, "resource": obj{"resourceType": "Practitioner",
			"identifier": []any{ident(eps.SystemUser, prescriberUser)},
			"name":       []any{obj{"family": "Carter", "given": []any{"Amelia"}, "prefix": []any{"Dr"}}}}},
		obj{"fullUrl": orgURL, "resource": obj{"resourceType": "Organization",
			"identifier": []any{ident(eps.SystemODS, prescriberODS)}, "name": "Demo Medical Practice"}},
	)
	return obj{"resourceType": "Bundle", "id": id(), "type": "message",
		"identifier": ident(eps.SystemUUID, id()), "entry": entries}
}

func releaseBody(short string) obj {
	return obj{"resourceType": "Parameters", "parameter": []any{
		obj{"name": "owner", "resource": obj{"resourceType": "Organization", "identifier": []any{ident(eps.SystemODS, pharmacyODS)},
			"name": "Demo Pharmacy", "telecom": []any{obj{"system": "phone", "value": "0113 496 0000", "use": "work"}}}},
		obj{"name": "status", "valueCode": "accepted"},
		obj{"name": "agent", "resource": obj{"resourceType": "PractitionerRole", "identifier": []any{ident(eps.SystemRole, pharmacistRole)}}},
		obj{"name": "group-identifier", "valueIdentifier": ident(eps.SystemShortForm, short)},
	}}
}

func groupID(short, long string) obj {
	return obj{"url": eps.ExtGroupID, "extension": []any{
		obj{"url": "shortForm", "valueIdentifier": ident(eps.SystemShortForm, short)},
		obj{"url": "UUID", "valueIdentifier": ident(eps.SystemLongForm, long)},
	}}
}

// dispenseBundle is a dispense-notification: every item fully dispensed.
func dispenseBundle(id func() string, now, nhs, short, long string, itemIDs []string) obj {
	entries := []any{obj{"fullUrl": "urn:uuid:" + id(), "resource": obj{
		"resourceType": "MessageHeader",
		"eventCoding":  coding(eps.SystemEvent, eps.EventDispense),
		"sender":       obj{"identifier": ident(eps.SystemODS, pharmacyODS), "display": "Demo Pharmacy"},
		"source":       obj{"endpoint": "urn:nhs-uk:addressing:ods:" + pharmacyODS},
	}}}
	for i, item := range itemIDs {
		m := medicines[i%len(medicines)]
		entries = append(entries, obj{"fullUrl": "urn:uuid:" + id(), "resource": obj{
			"resourceType":              "MedicationDispense",
			"extension":                 []any{obj{"url": eps.ExtBusinessStatus, "valueCoding": coding(eps.SystemBusinessStatus, eps.StatusDispensed)}},
			"identifier":                []any{ident("https://fhir.nhs.uk/Id/prescription-dispense-item-number", id())},
			"status":                    "completed",
			"medicationCodeableConcept": obj{"coding": []any{obj{"system": "http://snomed.info/sct", "code": m.code, "display": m.display}}},
			"subject":                   obj{"type": "Patient", "identifier": ident(eps.SystemNHSNumber, nhs)},
			"authorizingPrescription":   []any{obj{"extension": []any{groupID(short, long)}, "identifier": ident(eps.SystemItem, item)}},
			"type":                      obj{"coding": []any{coding(eps.SystemItemStatus, eps.ItemDispensed)}},
			"quantity":                  obj{"value": m.qty, "unit": "dose"},
			"whenHandedOver":            now,
		}})
	}
	return obj{"resourceType": "Bundle", "id": id(), "type": "message",
		"identifier": ident(eps.SystemUUID, id()), "entry": entries}
}

func claimBody(id func() string, now, nhs, short, long string, itemIDs []string) obj {
	var details []any
	for i, item := range itemIDs {
		m := medicines[i%len(medicines)]
		details = append(details, obj{
			"extension": []any{obj{"url": "https://fhir.nhs.uk/StructureDefinition/Extension-ClaimMedicationRequestReference",
				"valueReference": obj{"identifier": ident(eps.SystemItem, item)}}},
			"sequence":         i + 1,
			"productOrService": obj{"coding": []any{obj{"system": "http://snomed.info/sct", "code": m.code, "display": m.display}}},
		})
	}
	return obj{"resourceType": "Claim", "id": id(),
		"identifier": []any{ident(eps.SystemUUID, id())},
		"status":     "active", "use": "claim",
		"type":         obj{"coding": []any{coding("http://terminology.hl7.org/CodeSystem/claim-type", "pharmacy")}},
		"patient":      obj{"identifier": ident(eps.SystemNHSNumber, nhs)},
		"created":      now,
		"prescription": obj{"extension": []any{groupID(short, long)}},
		"payee":        obj{"party": obj{"identifier": ident(eps.SystemODS, pharmacyODS)}},
		"item":         []any{obj{"sequence": 1, "detail": details}},
	}
}
