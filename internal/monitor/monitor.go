// Package monitor is OpenSpine's security monitoring: it consumes the
// audit stream as records are written, evaluates detection rules on them
// (emergency access, relationship overrides, flagged records, users
// looking at their family or neighbours, unusual volume, out-of-hours bulk
// access, authentication attacks), stores alerts (type _Alert in the
// store) with the audit records that caused them, serves them to privacy
// officers and the security operations team over HTTP with a workflow
// (new, acknowledged, closed with an outcome), and delivers each new alert
// to webhooks, signed with HMAC-SHA256, with bounded retries.
//
// Rules are deterministic given the records: they use Record.Time, never
// the wall clock, so a replay gives the same alerts (alert ids derive from
// the records too, which makes a replay idempotent).
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // Europe/London even where the system has no zoneinfo

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/store"
)

// Monitor evaluates the audit stream and keeps the alerts.
type Monitor struct {
	cfg     Config
	st      store.Store
	lookups *cachedLookups
	rules   []Rule
	index   *index
	hooks   []hook
	client  *http.Client
	now     func() time.Time // wall clock: lag metric, lookup cache, delivery schedule

	queue                        chan *audit.Record
	observed, processed, dropped atomic.Int64
	maxIndex                     atomic.Int64
	running                      atomic.Bool

	delivery *scheduler
}

// New checks cfg (zero values take their defaults) and builds the monitor;
// nothing runs until Run. lookups may be nil (no one is known).
func New(cfg Config, st store.Store, lookups Lookups) (*Monitor, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errors.New("monitor: a store is required")
	}
	if lookups == nil {
		lookups = NoLookups{}
	}
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, err
	}
	m := &Monitor{cfg: cfg, st: st, rules: buildRules(cfg, loc), index: newIndex(),
		client: &http.Client{Timeout: cfg.Delivery.Timeout.D()}, now: time.Now,
		queue: make(chan *audit.Record, cfg.QueueSize)}
	m.maxIndex.Store(-1)
	m.lookups = newCachedLookups(lookups, 5*time.Minute, 100000, func() time.Time { return m.now() })
	for _, w := range cfg.Webhooks {
		secret := w.Secret
		if w.SecretEnv != "" {
			secret = os.Getenv(w.SecretEnv)
		}
		m.hooks = append(m.hooks, hook{WebhookConfig: w, secret: []byte(secret), rules: set(w.Rules)})
	}
	m.delivery = newScheduler()
	return m, nil
}

// Config returns the effective configuration (defaults filled in).
func (m *Monitor) Config() Config { return m.cfg }

// Rules lists the names of the enabled rules.
func (m *Monitor) Rules() []string {
	names := make([]string, len(m.rules))
	for i, r := range m.rules {
		names[i] = r.Name()
	}
	return names
}

// Observe hands a written record (with its Index) to the monitor. It never
// blocks: when the queue is full the record is dropped and counted
// (spine_monitor_records_dropped_total). The record's slices must not be
// modified afterwards.
func (m *Monitor) Observe(r audit.Record) {
	m.observed.Add(1)
	select {
	case m.queue <- &r:
		queueLength.Set(float64(len(m.queue)))
	default:
		m.dropped.Add(1)
		recordsDropped.Inc()
	}
}

// ObserveWait is Observe for replays and backfills: it waits for room in
// the queue instead of dropping.
func (m *Monitor) ObserveWait(ctx context.Context, r audit.Record) error {
	m.observed.Add(1)
	select {
	case m.queue <- &r:
		return nil
	case <-ctx.Done():
		m.dropped.Add(1)
		recordsDropped.Inc()
		return ctx.Err()
	}
}

// Dropped is the number of records dropped so far.
func (m *Monitor) Dropped() int64 { return m.dropped.Load() }

// Appender wraps the audit log so that every record it durably appends is
// observed (after Append returns, when the record carries its Index).
func (m *Monitor) Appender(next audit.Appender) audit.Appender {
	return appender{next: next, m: m}
}

type appender struct {
	next audit.Appender
	m    *Monitor
}

func (a appender) Append(ctx context.Context, r *audit.Record) error {
	if err := a.next.Append(ctx, r); err != nil {
		return err
	}
	a.m.Observe(*r)
	return nil
}

// Run loads the stored alerts, then evaluates observed records and
// delivers webhooks until ctx is done. Call it once.
func (m *Monitor) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("monitor: Run called twice")
	}
	for {
		err := m.sync(ctx)
		if err == nil {
			break
		}
		slog.ErrorContext(ctx, "monitor: cannot load alerts; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
	m.resumeDeliveries()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.deliverLoop(ctx)
	}()
	m.evalLoop(ctx)
	wg.Wait()
	return ctx.Err()
}

// Drain waits until every record observed so far has been evaluated and
// its alerts stored (for tests, replays and graceful shutdown).
func (m *Monitor) Drain(ctx context.Context) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for m.processed.Load()+m.dropped.Load() < m.observed.Load() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

const maxBatch = 512

func (m *Monitor) evalLoop(ctx context.Context) {
	env := &Env{Ctx: ctx, Lookups: m.lookups, MaxPatients: m.cfg.MaxPatients}
	batch := make([]*audit.Record, 0, maxBatch)
	var n int64
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-m.queue:
			batch = append(batch[:0], r)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-m.queue:
				batch = append(batch, r)
			default:
				break more
			}
		}
		queueLength.Set(float64(len(m.queue)))
		var findings []Finding
		for _, r := range batch {
			findings = append(findings, m.evaluate(env, r)...)
			if n++; n%4096 == 0 {
				m.prune(r.Time)
			}
		}
		m.record(ctx, findings)
		m.processed.Add(int64(len(batch)))
	}
}

// evaluate runs every rule on r.
func (m *Monitor) evaluate(env *Env, r *audit.Record) []Finding {
	m.lookups.prime(r.Subjects)
	var out []Finding
	for _, rule := range m.rules {
		out = append(out, rule.Evaluate(env, r)...)
	}
	if r.Index > m.maxIndex.Load() {
		m.maxIndex.Store(r.Index)
	}
	recordsEvaluated.Inc()
	lagSeconds.Observe(max(0, m.now().Sub(r.Time).Seconds()))
	return out
}

func (m *Monitor) prune(t time.Time) {
	for _, r := range m.rules {
		if p, ok := r.(pruner); ok {
			p.prune(t)
		}
	}
}

// pendingAlert is an alert being built from one batch's findings.
type pendingAlert struct {
	alert    *Alert    // new alert, or nil for additions to a stored one
	id       string    // stored alert to add to
	findings []Finding // to add
}

// record turns findings into new alerts or additions to open ones, and
// stores them (one write per alert per batch).
func (m *Monitor) record(ctx context.Context, findings []Finding) {
	if len(findings) == 0 {
		return
	}
	byKey := map[string]*pendingAlert{}
	var order []*pendingAlert
	for i := range findings {
		f := &findings[i]
		findingsTotal.WithLabelValues(f.Rule).Inc()
		k := dedupeKey(f.Rule, f.Key)
		if p := byKey[k]; p != nil {
			if p.alert != nil {
				p.alert.merge(f, m.cfg.MaxRecords, m.cfg.MaxPatients)
			} else {
				p.findings = append(p.findings, *f)
			}
			continue
		}
		p := &pendingAlert{}
		if cur := m.index.latest(f.Rule, f.Key); cur != nil && cur.Status != StatusClosed && f.Time.Sub(cur.Last) <= m.cfg.Dedupe.D() {
			p.id, p.findings = cur.ID, []Finding{*f}
		} else {
			p.alert = m.newAlert(f)
		}
		byKey[k] = p
		order = append(order, p)
	}
	for _, p := range order {
		if err := m.store(ctx, p); err != nil {
			storeErrors.Inc()
			slog.ErrorContext(ctx, "monitor: alert not stored", "err", err)
		}
	}
}

func (m *Monitor) newAlert(f *Finding) *Alert {
	a := &Alert{ID: alertID(f), Rule: f.Rule, Key: f.Key, Severity: f.Severity, Summary: f.Summary,
		Status: StatusNew, User: f.User, App: f.App, Org: f.Org, Client: f.Client, First: f.Time, Last: f.Time}
	a.merge(f, m.cfg.MaxRecords, m.cfg.MaxPatients)
	for _, h := range m.hooks {
		if len(h.rules) == 0 || h.rules[f.Rule] {
			a.Deliveries = append(a.Deliveries, Delivery{Webhook: h.Name, State: DeliveryPending})
		}
	}
	return a
}

var errClosedMeanwhile = errors.New("alert closed meanwhile")

func (m *Monitor) store(ctx context.Context, p *pendingAlert) error {
	if p.alert == nil {
		_, err := m.update(ctx, p.id, 0, func(a *Alert) error {
			if a.Status == StatusClosed {
				return errClosedMeanwhile
			}
			for i := range p.findings {
				a.merge(&p.findings[i], m.cfg.MaxRecords, m.cfg.MaxPatients)
			}
			return nil
		})
		if !errors.Is(err, errClosedMeanwhile) {
			return err
		}
		// an officer closed it between the findings and now: open a new one
		p.alert = m.newAlert(&p.findings[0])
		for i := 1; i < len(p.findings); i++ {
			p.alert.merge(&p.findings[i], m.cfg.MaxRecords, m.cfg.MaxPatients)
		}
	}
	a, created, err := m.create(ctx, p.alert)
	if err != nil {
		return fmt.Errorf("alert %s: %w", p.alert.ID, err)
	}
	if created {
		alertsOpened.WithLabelValues(a.Rule).Inc()
		m.schedule(a)
	}
	return nil
}

// Alerts lists stored alerts matching f (reading what other processes
// wrote first), most recently active first.
func (m *Monitor) Alerts(ctx context.Context, f Filter) ([]Alert, error) {
	if err := m.sync(ctx); err != nil {
		return nil, err
	}
	list := m.index.list(f)
	out := make([]Alert, len(list))
	for i, a := range list {
		out[i] = *a.clone()
	}
	return out, nil
}

// Alert returns one stored alert.
func (m *Monitor) Alert(ctx context.Context, id string) (Alert, error) {
	a, err := m.read(ctx, id)
	if err != nil {
		return Alert{}, err
	}
	return *a, nil
}
