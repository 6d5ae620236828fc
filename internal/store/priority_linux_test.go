package store

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

// The writer runs on a thread of its own at writerNice, where the process
// may raise a thread's priority; the request handlers' threads keep theirs.
func TestSQLiteWriterThreadRunsAtRaisedPriority(t *testing.T) {
	s := openTestSQLite(t)
	// one write, so that the writer has certainly started
	if _, err := s.Apply(context.Background(), []Change{createChange("p1")}); err != nil {
		t.Fatal(err)
	}
	var tid int
	for deadline := time.Now().Add(5 * time.Second); tid == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		tid = int(s.sqlite.thread.Load())
	}
	if tid == 0 {
		t.Fatal("the writer's thread is not known")
	}
	// getpriority(2) answers 20 - nice
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		t.Fatal(err)
	}
	if prio != 20-writerNice {
		// allowed to raise it? (root, CAP_SYS_NICE or RLIMIT_NICE)
		probe := syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), writerNice)
		if errors.Is(probe, syscall.EPERM) || errors.Is(probe, syscall.EACCES) {
			t.Skipf("this process may not raise a thread's priority (%v): the writer runs at nice %d", probe, 20-prio)
		}
		t.Fatalf("writer thread %d runs at nice %d, want %d", tid, 20-prio, writerNice)
	}
	own, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	if own == prio {
		t.Fatalf("the test's own thread runs at the writer's priority (nice %d)", 20-own)
	}
}
