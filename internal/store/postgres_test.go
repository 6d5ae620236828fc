package store

import (
	"runtime"
	"strings"
	"testing"
)

// TestPoolSize: pool_max_conns is taken out of the URL (the driver would
// send it to the server as a setting) and the rest kept; without it the
// pool follows the Go processors, within 4 and 64.
func TestPoolSize(t *testing.T) {
	const base = "postgres://spine@db.example:5432/spine?sslmode=verify-full&search_path=eps"
	dsn, n, err := poolSize(base + "&pool_max_conns=12")
	if err != nil || n != 12 {
		t.Fatalf("pool_max_conns=12: %d, %v", n, err)
	}
	if strings.Contains(dsn, "pool_max_conns") || !strings.Contains(dsn, "sslmode=verify-full") || !strings.Contains(dsn, "search_path=eps") ||
		!strings.HasPrefix(dsn, "postgres://spine@db.example:5432/spine?") {
		t.Fatalf("the driver would get %q", dsn)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for procs, want := range map[int]int{1: 4, 2: 4, 4: 8, 8: 16, 32: 64, 100: 64} {
		runtime.GOMAXPROCS(procs)
		dsn, n, err := poolSize(base)
		if err != nil || n != want || dsn != base {
			t.Errorf("GOMAXPROCS %d: %d connections, %q, %v; want %d and the URL as it was", procs, n, dsn, err, want)
		}
	}
	for _, bad := range []string{"0", "-1", "1001", "8 ", "eight", ""} {
		if _, _, err := poolSize(base + "&pool_max_conns=" + bad); err == nil {
			t.Errorf("pool_max_conns=%q accepted", bad)
		}
	}
	if _, _, err := poolSize("postgres://spine:s3cret@%zz/spine"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a URL that does not parse: %v; want it refused without its password", err)
	}
}
