package loadgen

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Perf records a CPU profile of a process with Linux perf (the spine has no
// pprof endpoint): perf record -g at 499 Hz, stopped with SIGINT.
type Perf struct {
	cmd  *exec.Cmd
	data string
}

// StartPerf starts `perf record` on pid, writing DIR/NAME.perf.data.
func StartPerf(dir, name string, pid int) (*Perf, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, name+".perf.data")
	cmd := exec.Command("perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", data)
	log, err := os.Create(filepath.Join(dir, name+".perf.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("perf: %w", err)
	}
	log.Close()
	time.Sleep(300 * time.Millisecond) // let perf attach before the load starts
	return &Perf{cmd: cmd, data: data}, nil
}

// Stop ends the recording and writes DIR/NAME.perf.txt: the flat profile
// (self time by symbol) followed by the inclusive one (children included).
func (p *Perf) Stop() error {
	p.cmd.Process.Signal(syscall.SIGINT)
	p.cmd.Wait()
	out, err := os.Create(p.data[:len(p.data)-len(".data")] + ".txt")
	if err != nil {
		return err
	}
	defer out.Close()
	for _, args := range [][]string{
		{"report", "-i", p.data, "--stdio", "--no-children", "--sort", "symbol", "-g", "none", "--percent-limit", "0.7"},
		{"report", "-i", p.data, "--stdio", "--children", "--sort", "symbol", "-g", "none", "--percent-limit", "3"},
	} {
		fmt.Fprintf(out, "### perf %v\n", args)
		cmd := exec.Command("perf", args...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(out, "perf report: %v\n", err)
		}
	}
	return nil
}
