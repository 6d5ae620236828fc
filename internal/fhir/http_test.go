package fhir

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// ReadBody reads every body whole, whatever length it announces, and
// refuses one past the limit with 413.
func TestReadBody(t *testing.T) {
	body := strings.Repeat("x", 6000)
	for _, tc := range []struct {
		name   string
		length int64 // the announced Content-Length (-1: none, chunked)
		body   string
		limit  int64
		status int // 0: read
	}{
		{"announced", 6000, body, 1 << 20, 0},
		{"unannounced", -1, body, 1 << 20, 0},
		{"empty", 0, "", 1 << 20, 0},
		{"exactly the limit", 6000, body, 6000, 0},
		{"announced past the limit", 6000, body, 5999, 413},
		{"unannounced past the limit", -1, body, 5999, 413},
		{"announced short", 6000, body[:10], 1 << 20, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			r.ContentLength = tc.length
			if tc.name == "announced short" {
				r.Body = io.NopCloser(io.MultiReader(strings.NewReader(tc.body), errReader{}))
			}
			got, err := ReadBody(httptest.NewRecorder(), r, tc.limit)
			if tc.status == 0 {
				if err != nil || string(got) != tc.body {
					t.Fatalf("read %d bytes, %v", len(got), err)
				}
				return
			}
			var fe *Error
			if !errors.As(err, &fe) || fe.Status != tc.status {
				t.Fatalf("got %d bytes, %v; want status %d", len(got), err, tc.status)
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
