package monitor

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestWebhookRetriesAndSignature(t *testing.T) {
	secret := "s3cret"
	var mu sync.Mutex
	var calls, verified int
	var got View
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if VerifySignature([]byte(secret), body, r.Header.Get(SignatureHeader)) {
			verified++
		}
		if calls <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		json.Unmarshal(body, &got)
	}))
	defer flaky.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer down.Close()

	cfg := Config{
		Webhooks: []WebhookConfig{
			{Name: "soc", URL: flaky.URL, Secret: secret},
			{Name: "down", URL: down.URL, Secret: "x", Rules: []string{RuleBreakGlass}},
			{Name: "auth-only", URL: down.URL, Rules: []string{RuleAuthFailures}},
		},
		Delivery: DeliveryConfig{MaxAttempts: 3, Backoff: Duration(10 * time.Millisecond), Timeout: Duration(2 * time.Second)},
	}
	m := start(t, cfg, nil)
	r := emergency(day.Add(10*time.Hour), "u1", "9000000004")
	r.RelationshipOverridden = false // one alert: break-glass
	m.Observe(r)
	drain(t, m)

	deadline := time.Now().Add(10 * time.Second)
	var a Alert
	for {
		list, err := m.Alerts(t.Context(), Filter{Rule: RuleBreakGlass})
		if err != nil || len(list) != 1 {
			t.Fatalf("alerts: %v %+v", err, list)
		}
		a = list[0]
		if len(a.Deliveries) != 2 {
			t.Fatalf("deliveries %+v: want soc and down (auth-only filters the rule out)", a.Deliveries)
		}
		if a.Deliveries[0].State != DeliveryPending && a.Deliveries[1].State != DeliveryPending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries still pending: %+v", a.Deliveries)
		}
		time.Sleep(10 * time.Millisecond)
	}
	soc, dn := a.Deliveries[0], a.Deliveries[1]
	if soc.Webhook != "soc" || soc.State != DeliveryDelivered || soc.Attempts != 3 || soc.LastStatus != 200 {
		t.Errorf("soc delivery %+v: want delivered on the third attempt", soc)
	}
	if dn.State != DeliveryFailed || dn.Attempts != 3 || dn.LastStatus != 500 || dn.LastError == "" {
		t.Errorf("down delivery %+v: want failed after 3 attempts", dn)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 3 || verified != 3 {
		t.Errorf("%d calls, %d with a valid signature; want 3 and 3", calls, verified)
	}
	if got.ID != a.ID || got.Rule != RuleBreakGlass || len(got.Evidence) != 1 || got.Deliveries != nil {
		t.Errorf("delivered body %+v", got)
	}
	if VerifySignature([]byte("wrong"), []byte("{}"), Sign([]byte(secret), []byte("{}"))) {
		t.Error("a signature verified with the wrong secret")
	}
}

func TestBackoff(t *testing.T) {
	m, err := New(Config{Delivery: DeliveryConfig{Backoff: Duration(time.Second), MaxBackoff: Duration(5 * time.Second)}}, nilStore(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := m.backoff(i + 1); got != w {
			t.Errorf("backoff after %d failures: %v, want %v", i+1, got, w)
		}
	}
}
