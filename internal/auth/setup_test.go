package auth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/policy"
)

// The assembly the server uses, in dev mode, with the outer middleware
// still seeing the mux's route pattern.
func TestServiceAssembly(t *testing.T) {
	data := t.TempDir()
	svc, err := auth.New(auth.Config{DataDir: data, Dev: true, TokenURL: "http://127.0.0.1/oauth2/token", Authorizer: policy.Default()})
	if err != nil {
		t.Fatal(err)
	}
	if !auth.IsDevInstance(data) || svc.DevIdP == nil {
		t.Fatal("dev mode did not create the dev identity provider")
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	mux.HandleFunc("GET /directory/FHIR/R4/{type}/{id}", func(w http.ResponseWriter, r *http.Request) {})
	var pattern string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		svc.Wrap(mux).ServeHTTP(w, r)
		pattern = r.Pattern
	})
	tok, err := auth.DevToken(data, auth.DevTokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/directory/FHIR/R4/Organization/X26", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || pattern != "GET /directory/FHIR/R4/{type}/{id}" {
		t.Fatalf("%d, pattern %q", rec.Code, pattern)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("jwks: %d", rec.Code)
	}
	// Without --dev the same data folder's dev tokens are refused.
	prod, err := auth.New(auth.Config{DataDir: data, TokenURL: "https://spine.example/oauth2/token", Authorizer: policy.Default()})
	if err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	prod.Wrap(mux).ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Fatalf("dev token on a non-dev server: %d", rec.Code)
	}
}
