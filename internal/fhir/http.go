package fhir

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
)

// ContentType is the media type of every FHIR response.
const ContentType = "application/fhir+json; charset=utf-8"

// MaxBody is the default limit on request bodies (bytes).
const MaxBody = 8 << 20

// CheckAccept refuses a request whose Accept header or _format parameter
// asks for something other than FHIR JSON (406).
func CheckAccept(r *http.Request) error {
	if f := r.URL.Query().Get("_format"); f != "" {
		switch f {
		case "json", "application/json", "application/fhir+json", "application/json+fhir":
		default:
			return NewError(http.StatusNotAcceptable, CodeNotAcceptable, "_format %q is not supported; use json", f)
		}
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		return nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "*/*", "application/*", "application/json", "application/fhir+json", "application/json+fhir":
			return nil
		}
	}
	return NewError(http.StatusNotAcceptable, CodeNotAcceptable, "Accept %q cannot be satisfied; this server returns application/fhir+json", accept)
}

// CheckContentType refuses a body whose media type is not one of allowed (415).
func CheckContentType(r *http.Request, allowed ...string) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return NewError(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type is missing; use %s", allowed[0])
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		for _, a := range allowed {
			if mt == a {
				return nil
			}
		}
	}
	return NewError(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type %q is not supported; use %s", ct, strings.Join(allowed, " or "))
}

// ReadBody reads the request body up to limit bytes (413 beyond). A body
// whose length is announced is read into a buffer of that size: growing
// one from 512 bytes, as io.ReadAll does, copied a prescription Bundle
// four times.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, limit)
	var body []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= limit {
		var buf bytes.Buffer
		buf.Grow(int(n) + bytes.MinRead) // ReadFrom then reads to the end without growing
		_, err = buf.ReadFrom(rd)
		body = buf.Bytes()
	} else {
		body, err = io.ReadAll(rd)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, NewError(http.StatusRequestEntityTooLarge, CodeMessageTooLarge, "the request body is larger than %d bytes", limit)
		}
		return nil, Invalid("the request body could not be read")
	}
	return body, nil
}

// Write sends a FHIR JSON body with the given status.
func Write(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ContentType)
	w.WriteHeader(status)
	w.Write(body)
}

// WriteResource encodes and sends a resource.
func WriteResource(w http.ResponseWriter, status int, res any) {
	Write(w, status, Marshal(res))
}

// WriteError sends err as an OperationOutcome. Errors that are not *Error
// are logged in full and reported as a 500 without their text.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	fe := AsError(err)
	if fe.Status >= 500 {
		slog.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if fe.Status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	WriteResource(w, fe.Status, fe.Outcome())
}
