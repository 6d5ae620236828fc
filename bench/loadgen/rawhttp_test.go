package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRawConn(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/echo":
			fmt.Fprintf(w, "%s %s auth=%s id=%s body=%s", r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), r.Header.Get("X-Request-ID"), body)
		case "/big": // no Content-Length and more than the server buffers: chunked
			w.Write(bytes.Repeat([]byte("0123456789"), 1000))
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"resourceType":"OperationOutcome"}`))
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := NewRawConn(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	status, body, err := c.Do("POST", "/echo?a=1", []string{"Authorization: Bearer tok", "X-Request-ID: 42"}, []byte(`{"x":1}`))
	if err != nil || status != 200 || string(body) != `POST /echo?a=1 auth=Bearer tok id=42 body={"x":1}` {
		t.Fatalf("echo: %d %q %v", status, body, err)
	}
	status, body, err = c.Do("GET", "/big", nil, nil)
	if err != nil || status != 200 || !bytes.Equal(body, bytes.Repeat([]byte("0123456789"), 1000)) {
		t.Fatalf("chunked: %d, %d bytes, %v", status, len(body), err)
	}
	status, body, err = c.Do("GET", "/missing", nil, nil)
	if err != nil || status != 404 || string(body) != `{"resourceType":"OperationOutcome"}` {
		t.Fatalf("404: %d %q %v", status, body, err)
	}
	status, body, err = c.Do("DELETE", "/empty", nil, nil)
	if err != nil || status != 204 || len(body) != 0 {
		t.Fatalf("204: %d %q %v", status, body, err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for four keep-alive requests, want 1", n)
	}
	// the server closes: the next request dials again
	if status, body, err = c.Do("GET", "/close", nil, nil); err != nil || status != 200 || string(body) != "bye" {
		t.Fatalf("close: %d %q %v", status, body, err)
	}
	if status, _, err = c.Do("GET", "/echo", nil, nil); err != nil || status != 200 {
		t.Fatalf("after close: %d %v", status, err)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (one more after the server closed)", n)
	}
	// a dead server: an error, not a hang or a panic
	srv.Close()
	if _, _, err := c.Do("GET", "/echo", nil, nil); err == nil {
		t.Fatal("a request to a closed server succeeded")
	}
}

func TestReadAnswerRefusesMalformed(t *testing.T) {
	for _, in := range []string{
		"",
		"HTTP/1.1 abc OK\r\n\r\n",
		"SSH-2.0-OpenSSH\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n",
	} {
		if status, body, _, err := readAnswer(bufio.NewReader(strings.NewReader(in))); err == nil {
			t.Errorf("%q: read as %d %q", in, status, body)
		}
	}
	status, body, keep, err := readAnswer(bufio.NewReader(strings.NewReader("HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n")))
	if err != nil || status != 201 || string(body) != "abcde" || !keep {
		t.Fatalf("chunked with extension and trailer: %d %q %v %v", status, body, keep, err)
	}
}
