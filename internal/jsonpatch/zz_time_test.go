package jsonpatch

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestZZTime(t *testing.T) {
	dir := os.Getenv("ZZDIR")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	type r struct {
		d time.Duration
		f string
	}
	var rs []r
	copyLimit = 64 << 10
	for _, f := range files {
		b, _ := os.ReadFile(f)
		lines := strings.Split(string(b), "\n")
		doc, _ := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		patch, _ := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[2], "[]byte("), ")"))
		start := time.Now()
		ops, err := Parse([]byte(patch))
		if err == nil {
			var d any
			func() {
				defer func() { recover() }()
				d = decode(t, doc)
			}()
			Apply(d, ops)
		}
		rs = append(rs, r{time.Since(start), f})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].d > rs[j].d })
	for _, x := range rs[:5] {
		t.Log(x.d, x.f)
	}
}
