package auth

import (
	"context"
	"testing"

	"github.com/openspine/openspine/internal/store/storetest"
)

// TestStoreLimiterShared: two server processes (two limiters over one
// store) never grant more than the shared burst between them.
func TestStoreLimiterShared(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st, _, _ := b.Open(t)
		a, c := NewStoreLimiter(st), NewStoreLimiter(st)
		granted := 0
		for i := 0; i < 40; i++ {
			l := a
			if i%3 == 0 {
				l = c
			}
			ok, wait, err := l.Take(context.Background(), "app|pds", 0.5, 8)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				granted++
			} else if wait <= 0 {
				t.Fatal("refusal without a wait")
			}
		}
		if granted < 4 || granted > 8 {
			t.Fatalf("granted %d of a shared burst of 8", granted)
		}
	})
}
