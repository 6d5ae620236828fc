package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"
)

// RawConn is one keep-alive HTTP/1.1 connection that a single worker uses
// for its requests, one after another, as wrk does: each request is
// written from bytes in one write, and its answer is read on the worker's
// own goroutine. net/http's client spends about twice the CPU per request
// (a reader and a writer goroutine per connection, header maps, a cloned
// request per Authorization header), and on a machine the generator
// shares with the server, every core-second it spends is taken from the
// server being measured.
//
// It reads answers as spine sends them: a status line, headers, and a
// body of Content-Length bytes or chunked. A RawConn is not safe for
// concurrent use.
type RawConn struct {
	host    string // host:port
	conn    net.Conn
	r       *bufio.Reader
	out     []byte
	timeout time.Duration
}

// NewRawConn returns a connection to the server at baseURL (http only),
// dialled on first use and again after any failure.
func NewRawConn(baseURL string) (*RawConn, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("raw HTTP: %q is not an http:// URL", baseURL)
	}
	return &RawConn{host: u.Host, timeout: 60 * time.Second}, nil
}

// Close closes the connection (a later Do dials again).
func (c *RawConn) Close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.r = nil, nil
	}
}

// Do sends one request (path with its query; header lines as
// "Name: value") and returns the answer's status and body. On any error
// the connection is closed: a request is never retried on it.
func (c *RawConn) Do(method, path string, header []string, body []byte) (int, []byte, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.host, 5*time.Second)
		if err != nil {
			return 0, nil, err
		}
		c.conn, c.r = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	out := append(c.out[:0], method...)
	out = append(out, ' ')
	out = append(out, path...)
	out = append(out, " HTTP/1.1\r\nHost: "...)
	out = append(out, c.host...)
	out = append(out, "\r\n"...)
	for _, h := range header {
		out = append(out, h...)
		out = append(out, "\r\n"...)
	}
	if body != nil {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, int64(len(body)), 10)
		out = append(out, "\r\n"...)
	}
	out = append(out, "\r\n"...)
	out = append(out, body...)
	c.out = out
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.conn.Write(out); err != nil {
		c.Close()
		return 0, nil, err
	}
	status, data, keep, err := readAnswer(c.r)
	if err != nil || !keep {
		c.Close()
	}
	return status, data, err
}

var errBadAnswer = errors.New("raw HTTP: malformed answer")

// readAnswer reads one HTTP/1.1 answer: its status, its body, and whether
// the connection may carry another request.
func readAnswer(r *bufio.Reader) (status int, body []byte, keep bool, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, nil, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, nil, false, fmt.Errorf("%w: status line %q", errBadAnswer, line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, false, fmt.Errorf("%w: status line %q", errBadAnswer, line)
	}
	keep = line[7] == '1' // HTTP/1.0 closes unless told otherwise; spine speaks 1.1
	length, chunked := -1, false
	for {
		line, err = r.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, nil, false, fmt.Errorf("%w: header %q", errBadAnswer, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, nil, false, fmt.Errorf("%w: Content-Length %q", errBadAnswer, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = keep && !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case status/100 == 1 || status == 204 || status == 304:
		return status, nil, keep, nil
	case chunked:
		body, err = readChunked(r)
	case length >= 0:
		body = make([]byte, length)
		_, err = io.ReadFull(r, body)
	default: // the body runs to the end of the connection
		body, err = io.ReadAll(r)
		keep = false
	}
	if err != nil {
		return 0, nil, false, err
	}
	return status, body, keep, nil
}

// readChunked reads a chunked body and its trailer.
func readChunked(r *bufio.Reader) ([]byte, error) {
	var body []byte
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: chunk size %q", errBadAnswer, line)
		}
		if n == 0 {
			for { // trailer, up to the empty line
				line, err := r.ReadSlice('\n')
				if err != nil {
					return nil, err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return body, nil
				}
			}
		}
		start := len(body)
		body = append(body, make([]byte, n)...)
		if _, err := io.ReadFull(r, body[start:]); err != nil {
			return nil, err
		}
		if crlf, err := r.ReadSlice('\n'); err != nil || len(bytes.TrimRight(crlf, "\r\n")) != 0 {
			return nil, fmt.Errorf("%w: no line end after a chunk", errBadAnswer)
		}
	}
}
