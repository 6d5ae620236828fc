package store

import (
	"log/slog"
	"sync"
	"syscall"
)

// writerNice is the nice value asked for the thread of each SQLite writer.
// Every write of a database waits for that one thread, while the request
// handlers' threads (and on a shared machine everyone else's) compete with
// it for the cores: measured at 100,000 organisations on 2 cores, the
// writer spent a sixth of the create scenario runnable but not running,
// and durable creates rose from 4,500–5,500 to 5,100–5,800/s with it
// raised (docs/performance.md).
const writerNice = -10

var normalPriorityOnce sync.Once

// raiseWriterPriority asks the OS to run the calling thread (the writer
// goroutine is locked to it) at writerNice and returns the thread's id.
// Without the right to (root, CAP_SYS_NICE, or RLIMIT_NICE: systemd's
// LimitNICE=-10), the writer runs at normal priority and this is said once.
func raiseWriterPriority(name string) (tid int) {
	tid = syscall.Gettid()
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, writerNice); err != nil {
		normalPriorityOnce.Do(func() {
			slog.Info("sqlite: the writer threads run at normal priority (allow nice -10 to raise them: CAP_SYS_NICE or LimitNICE=-10)", "err", err, "file", name)
		})
	}
	return tid
}
