package auth

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openspine/openspine/internal/store/storetest"
)

// TestStoreLimiterWithinRate: 64 concurrent callers well within a
// generous limit are never refused, and the store sees one write per chunk.
func TestStoreLimiterWithinRate(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st, _, _ := b.Open(t)
		l := NewStoreLimiter(st)
		var refused, errs atomic.Int64
		var wg sync.WaitGroup
		for g := 0; g < 64; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 300; i++ {
					ok, _, err := l.Take(context.Background(), "app|directory", 100000, 100000)
					if err != nil {
						errs.Add(1)
						t.Error(err)
					} else if !ok {
						refused.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if refused.Load() != 0 || errs.Load() != 0 {
			t.Fatalf("refused %d, errors %d within the rate", refused.Load(), errs.Load())
		}
	})
}
