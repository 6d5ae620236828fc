// Package fhirtest holds what the HTTP tests of every service share: one
// request helper that decodes the FHIR JSON answer, the NHS error code of an
// OperationOutcome, and quiet logs.
package fhirtest

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
)

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any // nil when the body was empty
	Raw    string
}

// Do sends a request and decodes its JSON answer (the test fails when the
// answer is not JSON). headers are name, value pairs; an empty value
// removes the header.
func Do(t testing.TB, method, url, ctype string, body io.Reader, headers ...string) Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := Response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("%s %s: the answer (%d) is not JSON: %s", method, url, res.StatusCode, raw)
		}
	}
	return r
}

// Code is the NHS error code of an OperationOutcome's first issue ("" when none).
func Code(body map[string]any) string {
	issues, _ := body["issue"].([]any)
	if len(issues) == 0 {
		return ""
	}
	issue, _ := issues[0].(map[string]any)
	details, _ := issue["details"].(map[string]any)
	codings, _ := details["coding"].([]any)
	if len(codings) == 0 {
		return ""
	}
	coding, _ := codings[0].(map[string]any)
	c, _ := coding["code"].(string)
	return c
}

// QuietLogs keeps test output to warnings and errors (call it in TestMain).
func QuietLogs() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// Get walks decoded JSON by object keys (strings) and array indexes
// (ints); nil when a step is missing.
func Get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k < 0 || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}
