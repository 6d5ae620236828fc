package monitor

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// SignatureHeader carries "sha256=" + the hex HMAC-SHA256 of the request
// body keyed with the webhook's secret.
const SignatureHeader = "X-Spine-Signature"

// Sign returns the SignatureHeader value of body.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature checks a SignatureHeader value in constant time.
func VerifySignature(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

type hook struct {
	WebhookConfig
	secret []byte
	rules  map[string]bool
}

type dkey struct{ alert, hook string }

// scheduler holds the pending deliveries and when each is due.
type scheduler struct {
	mu       sync.Mutex
	due      map[dkey]time.Time
	inflight map[dkey]bool
	wake     chan struct{}
}

func newScheduler() *scheduler {
	return &scheduler{due: map[dkey]time.Time{}, inflight: map[dkey]bool{}, wake: make(chan struct{}, 1)}
}

func (s *scheduler) add(k dkey, at time.Time) {
	s.mu.Lock()
	s.due[k] = at
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take returns the deliveries due at now (marking them in flight) and when
// the next one is due.
func (s *scheduler) take(now time.Time) (ready []dkey, next time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, at := range s.due {
		if s.inflight[k] {
			continue
		}
		if !at.After(now) {
			ready = append(ready, k)
			s.inflight[k] = true
			delete(s.due, k)
		} else if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return ready, next
}

func (s *scheduler) done(k dkey) {
	s.mu.Lock()
	delete(s.inflight, k)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// schedule queues the pending deliveries of a.
func (m *Monitor) schedule(a *Alert) {
	for _, d := range a.Deliveries {
		if d.State != DeliveryPending {
			continue
		}
		at := m.now()
		if d.NextAttempt != nil {
			at = *d.NextAttempt
		}
		m.delivery.add(dkey{a.ID, d.Webhook}, at)
	}
}

// resumeDeliveries queues what was pending when the process stopped.
func (m *Monitor) resumeDeliveries() {
	for _, a := range m.index.list(Filter{}) {
		m.schedule(a)
	}
}

func (m *Monitor) deliverLoop(ctx context.Context) {
	sem := make(chan struct{}, m.cfg.Delivery.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		ready, next := m.delivery.take(m.now())
		for _, k := range ready {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.attempt(ctx, k)
				<-sem
				m.delivery.done(k)
			}()
		}
		wait := time.Minute
		if !next.IsZero() {
			wait = max(time.Millisecond, next.Sub(m.now()))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-m.delivery.wake:
		case <-timer.C:
		}
	}
}

func (m *Monitor) hook(name string) *hook {
	for i := range m.hooks {
		if m.hooks[i].Name == name {
			return &m.hooks[i]
		}
	}
	return nil
}

// backoff is the delay after the given number of failed attempts.
func (m *Monitor) backoff(attempts int) time.Duration {
	d := m.cfg.Delivery.Backoff.D()
	for i := 1; i < attempts && d < m.cfg.Delivery.MaxBackoff.D(); i++ {
		d *= 2
	}
	return min(d, m.cfg.Delivery.MaxBackoff.D())
}

// attempt makes one delivery attempt and records its result on the alert.
func (m *Monitor) attempt(ctx context.Context, k dkey) {
	h := m.hook(k.hook)
	a, err := m.read(ctx, k.alert)
	if h == nil || err != nil {
		if err != nil && ctx.Err() == nil {
			slog.ErrorContext(ctx, "monitor: delivery: cannot read alert", "alert", k.alert, "err", err)
			m.delivery.add(k, m.now().Add(m.backoff(1)))
		}
		return
	}
	var d *Delivery
	for i := range a.Deliveries {
		if a.Deliveries[i].Webhook == k.hook {
			d = &a.Deliveries[i]
		}
	}
	if d == nil || d.State != DeliveryPending {
		return
	}
	// one process attempts each (alert, webhook, attempt)
	claimKey := "monitor/delivery/" + k.alert + "/" + k.hook + "/" + strconv.Itoa(d.Attempts)
	if fresh, err := m.st.Claim(ctx, claimKey, m.now().Add(2*m.cfg.Delivery.Timeout.D())); err != nil || !fresh {
		return
	}
	v := newView(a, m.logSize(ctx))
	v.Deliveries = nil
	body, err := json.Marshal(v)
	if err != nil {
		return
	}
	status, postErr := m.post(ctx, h, k, d.Attempts+1, body)
	now := m.now()
	updated, err := m.update(ctx, k.alert, 0, func(a *Alert) error {
		for i := range a.Deliveries {
			d := &a.Deliveries[i]
			if d.Webhook != k.hook || d.State != DeliveryPending {
				continue
			}
			d.Attempts++
			d.LastAttempt, d.LastStatus, d.LastError, d.NextAttempt = &now, status, "", nil
			switch {
			case postErr == nil:
				d.State = DeliveryDelivered
			case d.Attempts >= m.cfg.Delivery.MaxAttempts:
				d.State, d.LastError = DeliveryFailed, postErr.Error()
			default:
				next := now.Add(m.backoff(d.Attempts))
				d.LastError, d.NextAttempt = postErr.Error(), &next
			}
		}
		return nil
	})
	result := "delivered"
	if postErr != nil {
		result = "retry"
	}
	if err != nil {
		slog.ErrorContext(ctx, "monitor: delivery state not stored", "alert", k.alert, "err", err)
		if postErr != nil && ctx.Err() == nil {
			m.delivery.add(k, now.Add(m.backoff(1)))
		}
		deliveries.WithLabelValues(k.hook, result).Inc()
		return
	}
	for _, d := range updated.Deliveries {
		if d.Webhook == k.hook && d.State == DeliveryFailed {
			result = "failed"
			slog.ErrorContext(ctx, "monitor: webhook delivery abandoned", "alert", k.alert, "webhook", k.hook, "attempts", d.Attempts, "err", d.LastError)
		}
	}
	deliveries.WithLabelValues(k.hook, result).Inc()
	m.schedule(updated)
}

func (m *Monitor) post(ctx context.Context, h *hook, k dkey, attempt int, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "openspine-monitor")
	req.Header.Set("X-Spine-Alert", k.alert)
	req.Header.Set("X-Spine-Delivery", fmt.Sprintf("%s/%s/%d", k.alert, k.hook, attempt))
	req.Header.Set(SignatureHeader, Sign(h.secret, body))
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
