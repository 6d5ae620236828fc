// Package loadgen is OpenSpine's load harness: it starts the real server
// (and a bare net/http baseline) as child processes on loopback, loads them
// with a closed-loop HTTP load generator and reports throughput and latency
// percentiles. It uses only the standard library and talks to the server
// through its public FHIR API, exactly as a client would.
//
// Performance is measured with this harness (or Go benchmarks), never by
// timed tests.
package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a server running as a child process.
type Process struct {
	Name  string
	URL   string // http://127.0.0.1:PORT, from the "listening on" line
	Token string // bearer token for the requests ("" when none is needed)
	cmd   *exec.Cmd
	dir   string // temporary folder removed by Stop ("" for none)
	keep  bool   // keep dir
	done  chan struct{}
	err   error // of cmd.Wait, valid once done is closed
}

// maxForwarded bounds how many stderr lines of a child are echoed.
const maxForwarded = 20

// Auth modes of the spine under test.
const (
	// AuthToken: spine serve --dev, every request carries a development
	// access token of the demo application (minted with spine token):
	// the production request path, authentication and authorisation
	// included.
	AuthToken = "token"
	// AuthOff: spine serve --dev --no-auth, for comparison.
	AuthOff = "off"
	// AuthNone: no auth flags at all (servers from before authentication).
	AuthNone = "none"
)

// StartSpine starts `spine serve` from the binary at path on a free loopback
// port with a fresh temporary data folder, no demo data and warn-level logs.
// db is "" (SQLite in the data folder) or a postgres:// URL passed as --db;
// authMode is one of the Auth constants. With AuthToken, Token holds the
// bearer token to send.
func StartSpine(path, db, authMode string) (*Process, error) {
	dir, err := os.MkdirTemp("", "spinebench-data-")
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--no-demo", "--log-level", "warn"}
	switch authMode {
	case AuthToken:
		args = append(args, "--dev")
	case AuthOff:
		args = append(args, "--dev", "--no-auth")
	case AuthNone:
	default:
		return nil, fmt.Errorf("auth mode %q: use %s, %s or %s", authMode, AuthToken, AuthOff, AuthNone)
	}
	_, dbArgs := Backend(db)
	args = append(args, dbArgs...)
	p, err := start("spine", exec.Command(path, args...), dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if authMode == AuthToken {
		out, err := exec.Command(path, "token", "--data", dir, "--ttl", "6h").Output()
		if err != nil {
			p.Stop()
			return nil, fmt.Errorf("spine token: %w", err)
		}
		lines := strings.Fields(strings.TrimSpace(string(out)))
		if len(lines) == 0 {
			p.Stop()
			return nil, errors.New("spine token printed no token")
		}
		p.Token = lines[len(lines)-1]
	}
	return p, nil
}

// StartSelf re-executes the running program with args (used for the
// baseline server, which then runs in its own process like the spine).
func StartSelf(name string, args ...string) (*Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return start(name, exec.Command(exe, args...), "")
}

func start(name string, cmd *exec.Cmd, dir string) (*Process, error) {
	// The child dies with the harness even if the harness is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, dir: dir, done: make(chan struct{})}
	tail := &tailLog{}
	var pipes sync.WaitGroup
	pipes.Add(1)
	go func() {
		defer pipes.Done()
		forward(name, stderr, tail)
	}()
	ready := make(chan string, 1)
	pipes.Add(1)
	go func() {
		defer pipes.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if u, ok := strings.CutPrefix(line, "listening on "); ok {
				select {
				case ready <- strings.TrimSpace(u):
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		pipes.Wait() // Wait must follow the reads of the pipes
		p.err = cmd.Wait()
		close(p.done)
	}()
	select {
	case u := <-ready:
		p.URL = u
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before listening (%v); its last output:\n%s", name, p.err, tail.String())
	case <-time.After(60 * time.Second):
		p.Stop()
		return nil, fmt.Errorf("%s did not print \"listening on\" within 60s; its last output:\n%s", name, tail.String())
	}
}

// forward echoes the first lines of a child's stderr (prefixed) and keeps
// the last few kilobytes for error messages.
func forward(name string, r io.Reader, tail *tailLog) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		tail.add(sc.Text())
		switch {
		case n <= maxForwarded:
			fmt.Fprintf(os.Stderr, "[%s] %s\n", name, sc.Text())
		case n == maxForwarded+1:
			fmt.Fprintf(os.Stderr, "[%s] (further log lines not shown)\n", name)
		}
	}
}

type tailLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tailLog) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.WriteString(line)
	t.buf.WriteByte('\n')
	if t.buf.Len() > 16<<10 {
		b := t.buf.Bytes()[t.buf.Len()-8<<10:]
		t.buf = *bytes.NewBuffer(append([]byte(nil), b...))
	}
}

func (t *tailLog) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

// KeepData keeps the data folder after Stop (for inspecting the database)
// and returns its path.
func (p *Process) KeepData() string {
	p.keep = true
	return p.dir
}

// PID is the child's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Stop asks the child to stop (SIGTERM), kills it after 20 s, and removes
// its temporary data folder.
func (p *Process) Stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	if p.dir != "" && !p.keep {
		os.RemoveAll(p.dir)
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		return p.err
	}
	return nil
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clockTick = 10 * time.Millisecond

// CPUTime is the CPU time (user + system) the child has used so far, read
// from /proc; 0 when unavailable.
func (p *Process) CPUTime() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID()) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) in parentheses:
	// state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * clockTick
}

// SelfCPUTime is the CPU time the harness process has used so far.
func SelfCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// MachineCPUTime is the busy CPU time of the whole machine so far (every
// core, every process: the spine, the generator, PostgreSQL, other
// tenants), from /proc/stat: all time except idle and iowait.
func MachineCPUTime() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 && i < 8 { // not idle, iowait, guest (counted in user)
			busy += n
		}
	}
	return time.Duration(busy) * clockTick
}

// Background measures for d how many cores the machine keeps busy (before
// the harness starts anything, this is other tenants' load: a shared
// machine's noise, which the results must be read against).
func Background(d time.Duration) float64 {
	m0 := MachineCPUTime()
	start := time.Now()
	time.Sleep(d)
	return (MachineCPUTime() - m0).Seconds() / time.Since(start).Seconds()
}
