package loadgen

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}

// PrintResult prints one result as it completes, with its error samples.
func PrintResult(w io.Writer, r Result) {
	if r.Workers > 0 {
		r.Name += fmt.Sprintf(" [%d workers]", r.Workers)
	}
	unit := r.Unit
	if unit == "" {
		unit = "requests"
	}
	fmt.Fprintf(w, "  %s: %.0f %s/s over %s (%d requests, %d errors); latency ms p50 %s p90 %s p99 %s max %s; CPU cores: generator %.2f, server %.2f, machine %.2f (other %.2f)\n",
		r.Name, r.RPS, unit, r.Elapsed.Round(time.Millisecond), r.Requests, r.Errors,
		ms(r.P50), ms(r.P90), ms(r.P99), ms(r.Max), r.ClientCPU, r.ServerCPU, r.MachineCPU, max(0, r.MachineCPU-r.ClientCPU-r.ServerCPU))
	if r.Rate > 0 {
		fmt.Fprintf(w, "    open loop: %.0f/s offered, %d due while no worker was free; latency counted from when each was due\n", r.Rate, r.Late)
	}
	for _, e := range r.ErrorText {
		fmt.Fprintf(w, "    error: %.500s\n", strings.TrimSpace(e))
	}
}

// PrintTable prints the summary table (Markdown, so that it can be pasted
// into docs/performance.md) and the ratio of read by id to the baseline.
func PrintTable(w io.Writer, rs []Result, readByID, baseline string) {
	fmt.Fprintln(w, "| scenario | throughput /s | p50 ms | p90 ms | p99 ms | max ms | requests | errors | CPU gen | CPU server | CPU machine |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	var read, base float64
	for _, r := range rs {
		unit := ""
		if r.Unit != "" {
			unit = " " + r.Unit
		}
		name := r.Name
		if r.Workers > 0 {
			name += fmt.Sprintf(", %d workers", r.Workers)
		}
		fmt.Fprintf(w, "| %s | %.0f%s | %s | %s | %s | %s | %d | %d | %.2f | %.2f | %.2f |\n",
			name, r.RPS, unit, ms(r.P50), ms(r.P90), ms(r.P99), ms(r.Max), r.Requests, r.Errors, r.ClientCPU, r.ServerCPU, r.MachineCPU)
		switch r.Name {
		case readByID:
			read = r.RPS
		case baseline:
			base = r.RPS
		}
	}
	fmt.Fprintln(w, "\nCPU columns: cores busy during the measured part; gen = the load generator process, server = the measured server process (spine or baseline, not PostgreSQL), machine = every process on the machine.")
	open := false
	for _, r := range rs {
		open = open || r.Rate > 0
	}
	switch {
	case open:
		fmt.Fprintln(w, "\nOpen loop: each scenario was offered the same rate; throughput shows only whether it kept up, latency counts from when each request was due.")
	case read > 0 && base > 0:
		fmt.Fprintf(w, "\nread by id / bare baseline (requests/s): %.0f / %.0f = %.1f%%\n", read, base, 100*read/base)
	}
}
