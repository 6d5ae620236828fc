package monitor

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/store/storetest"
)

// start runs a monitor on a fresh SQLite store until the test ends.
func start(t *testing.T, cfg Config, st store.Store) *Monitor {
	t.Helper()
	if st == nil {
		st, _, _ = storetest.Backends()[0].Open(t)
	}
	m, err := New(cfg, st, testPeople)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return m
}

func drain(t *testing.T, m *Monitor) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

func emergency(t time.Time, user, patient string) audit.Record {
	r := *rec(t, user, patient)
	r.Emergency, r.RelationshipOverridden, r.EmergencyReason = true, true, "unconscious"
	return r
}

func histogramCount(t *testing.T, name string) uint64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func TestMonitorStoresAndMergesAlerts(t *testing.T) {
	st, _, _ := storetest.Backends()[0].Open(t)
	m := start(t, Config{}, st)
	lag := histogramCount(t, "spine_monitor_lag_seconds")
	now := time.Now().UTC()
	first := emergency(now.Add(-2*time.Second), "u1", "9000000004")
	m.Observe(first)
	drain(t, m)
	m.Observe(emergency(now.Add(-time.Second), "u1", "9000000004")) // the same incident, stored as an update
	m.Observe(*rec(now, "u1", "9000000004"))                        // nothing to see
	drain(t, m)

	if got := histogramCount(t, "spine_monitor_lag_seconds") - lag; got != 3 {
		t.Errorf("lag observed %d times, want 3", got)
	}
	list, err := m.Alerts(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("%d alerts, want break-glass and relationship-override: %+v", len(list), list)
	}
	for _, a := range list {
		if a.Count != 2 || len(a.Records) != 2 || a.Records[0] != first.Index || a.Status != StatusNew || a.Version < 2 {
			t.Errorf("alert %+v: want two merged records, new, version ≥ 2", a)
		}
	}
	bg, err := m.Alerts(context.Background(), Filter{Rule: RuleBreakGlass, Patient: "9000000004", User: "u1"})
	if err != nil || len(bg) != 1 {
		t.Fatalf("filtered list: %v %+v", err, bg)
	}
	if none, _ := m.Alerts(context.Background(), Filter{Status: StatusClosed}); len(none) != 0 {
		t.Errorf("closed alerts: %+v", none)
	}

	// replaying the same records through a new monitor on the same store
	// (after a restart) recreates nothing
	m2 := start(t, Config{}, st)
	m2.Observe(first)
	drain(t, m2)
	again, _ := m2.Alerts(context.Background(), Filter{})
	if len(again) != 2 {
		t.Errorf("after replay: %d alerts, want 2", len(again))
	}
}

func TestObserveDropsWhenFull(t *testing.T) {
	st, _, _ := storetest.Backends()[0].Open(t)
	m, err := New(Config{QueueSize: 2}, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		m.Observe(*rec(day, "u1", "9000000004")) // nothing runs: the queue fills
	}
	if m.Dropped() != 3 {
		t.Errorf("dropped %d, want 3", m.Dropped())
	}
}

func TestAppenderObserves(t *testing.T) {
	m := start(t, Config{}, nil)
	var log fakeLog
	ap := m.Appender(&log)
	r := emergency(time.Now(), "u2", "9000000004")
	if err := ap.Append(context.Background(), &r); err != nil {
		t.Fatal(err)
	}
	drain(t, m)
	list, _ := m.Alerts(context.Background(), Filter{User: "u2"})
	if len(list) != 2 || list[0].Records[0] != 41 {
		t.Errorf("alerts %+v: want two on record 41", list)
	}
}

type fakeLog struct{}

func (*fakeLog) Append(_ context.Context, r *audit.Record) error {
	r.Index = 41
	return nil
}

func nilStore(t *testing.T) store.Store {
	st, _, _ := storetest.Backends()[0].Open(t)
	return st
}
