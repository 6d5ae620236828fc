package loadgen

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	rand2 "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Backend names the storage a harness's --db flag selects, and the
// arguments that select it for spine seed and spine serve: SQLite in the
// data folder when db is empty, else PostgreSQL at that URL.
func Backend(db string) (name string, args []string) {
	if db == "" {
		return "SQLite", nil
	}
	return "PostgreSQL", []string{"--db", db}
}

// StartSpineArgs starts `spine` from the binary at path with exactly args
// (which must make it print "listening on http://ADDR", e.g. serve --addr
// 127.0.0.1:0). The data folder is the caller's: Stop does not remove it.
func StartSpineArgs(path string, args ...string) (*Process, error) {
	return start("spine", exec.Command(path, args...), "")
}

// MintToken runs `spine token --data dir args...` and returns the token
// (the last line of its output).
func MintToken(path, dir string, args ...string) (string, error) {
	cmd := exec.Command(path, append([]string{"token", "--data", dir, "--ttl", "6h"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("spine token %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	lines := strings.Fields(strings.TrimSpace(string(out)))
	if len(lines) == 0 {
		return "", errors.New("spine token printed no token")
	}
	return lines[len(lines)-1], nil
}

// Seed runs `spine seed --data dir --patients n --seed seed [extra...]`
// (the real command; extra e.g. --db URL), echoing its progress lines, and
// returns how long it took.
func Seed(path, dir string, n int, seed int64, extra ...string) (time.Duration, error) {
	cmd := exec.Command(path, append([]string{"seed", "--data", dir, "--patients", strconv.Itoa(n), "--seed", strconv.FormatInt(seed, 10)}, extra...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		fmt.Println("  [spine seed]", sc.Text())
	}
	err = cmd.Wait()
	return time.Since(t0), err
}

// PeakRSS is the peak resident set size (VmHWM in /proc/PID/status) of a
// running process, in bytes; 0 when unavailable.
func PeakRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// NewUUID returns a random (version 4) UUID, for X-Request-ID headers.
func NewUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// WithRequestID wraps a Builder so that every request carries a fresh
// X-Request-ID (mandatory on the PDS and EPS APIs).
func WithRequestID(b Builder) Builder {
	return func(rng *rand2.Rand) (*http.Request, error) {
		req, err := b(rng)
		if err == nil {
			req.Header.Set("X-Request-ID", NewUUID())
		}
		return req, err
	}
}

// Meter measures the wall time and CPU use of a measured part that is not
// a Scenario (e.g. multi-step cycles).
type Meter struct{ m *meter }

// StartMeter starts measuring (server may be nil).
func StartMeter(server *Process) Meter { return Meter{startMeter(server)} }

// Stop sets res.Elapsed and the CPU figures, and when res.RPS is 0 the
// rate of res.Requests over the elapsed time.
func (m Meter) Stop(res *Result) {
	m.m.stop(res)
	if res.RPS == 0 && res.Elapsed > 0 {
		res.RPS = float64(res.Requests) / res.Elapsed.Seconds()
	}
}
