package auth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/policy"
)

func benchToken(b *testing.B) (*auth.KeyRing, string) {
	ring, err := auth.OpenKeyRing(b.TempDir(), auth.KeyOptions{})
	if err != nil {
		b.Fatal(err)
	}
	g := userGrant("R8000", "B0420", "B0370", "B0401")
	g.App.Rate, g.App.Burst = 1e9, 1e9
	tok, err := auth.Issue(ring, g, time.Now(), auth.DefaultTokenTTL)
	if err != nil {
		b.Fatal(err)
	}
	return ring, tok
}

func BenchmarkVerifyCached(b *testing.B) {
	ring, tok := benchToken(b)
	v := auth.NewVerifier(ring, auth.VerifierOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyUncached(b *testing.B) {
	ring, tok := benchToken(b)
	v := auth.NewVerifier(ring, auth.VerifierOptions{CacheSize: -1})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// The whole middleware (token, rate limit, policy) around an empty handler.
func BenchmarkMiddleware(b *testing.B) {
	ring, tok := benchToken(b)
	h := auth.Middleware(auth.NewVerifier(ring, auth.VerifierOptions{}), auth.DefaultRules(policy.Default(), auth.NewMemLimiter(0)),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := httptest.NewRequest("GET", "/directory/FHIR/R4/Organization/X26", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
