package auth

import (
	"context"
	"math"
	"sync"
	"time"
)

// Default rate limits of an application that registered none: NHS
// England's API platform allows 5 transactions per second per application
// per API by default.
const (
	DefaultRate  = 5
	DefaultBurst = 20
)

// Limiter decides whether one more request under key may proceed now.
type Limiter interface {
	// Take takes one token from the bucket key (sustained rate per second,
	// capacity burst). When it is empty it returns false and how long until
	// a token is available.
	Take(ctx context.Context, key string, rate float64, burst int) (ok bool, retryAfter time.Duration, err error)
}

// MemLimiter is an in-memory token-bucket Limiter for one process.
type MemLimiter struct {
	mu   sync.Mutex
	max  int
	m    map[string]*bucket
	now  func() time.Time
	next time.Time
}

type bucket struct {
	tokens, rate, burst float64
	last                time.Time
}

// NewMemLimiter keeps at most max buckets (default 100,000); full idle
// buckets are forgotten first.
func NewMemLimiter(max int) *MemLimiter {
	if max <= 0 {
		max = 100000
	}
	return &MemLimiter{max: max, m: map[string]*bucket{}, now: time.Now}
}

// Take implements Limiter.
func (l *MemLimiter) Take(_ context.Context, key string, rate float64, burst int) (bool, time.Duration, error) {
	if rate <= 0 {
		rate = DefaultRate
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.m[key]
	if b == nil {
		if len(l.m) >= l.max || now.After(l.next) {
			l.sweep(now)
		}
		b = &bucket{tokens: float64(burst), last: now}
		l.m[key] = b
	} else if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(float64(burst), b.tokens+el*rate)
		b.last = now
	}
	b.rate, b.burst = rate, float64(burst)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0, nil
	}
	wait := time.Duration((1 - b.tokens) / rate * float64(time.Second))
	return false, wait, nil
}

// sweep forgets buckets idle long enough to be full again (forgetting them
// changes nothing) and, if still too many, arbitrary ones.
func (l *MemLimiter) sweep(now time.Time) {
	for k, b := range l.m {
		if now.Sub(b.last).Seconds() > (b.burst-b.tokens)/b.rate+1 {
			delete(l.m, k)
		}
	}
	for k := range l.m {
		if len(l.m) < l.max {
			break
		}
		delete(l.m, k)
	}
	l.next = now.Add(time.Minute)
}
