package loadgen

import (
	"context"
	"sync/atomic"
	"time"
)

// Schedule is an open loop's timetable: it makes a slot due every 1/rate
// seconds until a deadline, and workers take the slots one at a time
// (Next). A slot's latency counts from when it was due, not from when a
// worker got to it, so that a server too slow to keep up shows in the
// latencies (no coordinated omission, as wrk2 counts). A slot that no
// worker was free to take at once is counted late.
type Schedule struct {
	ch   chan tick
	late atomic.Int64
}

type tick struct{ at, sent time.Time }

// scheduleBacklog bounds the due slots waiting for a worker; beyond it
// slots are dropped, and counted late.
const scheduleBacklog = 1 << 16

// NewSchedule starts handing out slots at rate a second until deadline
// (or ctx ends).
func NewSchedule(ctx context.Context, rate float64, deadline time.Time) *Schedule {
	s := &Schedule{ch: make(chan tick, scheduleBacklog)}
	go func() {
		defer close(s.ch)
		every := time.Duration(float64(time.Second) / rate)
		for at := time.Now(); at.Before(deadline) && ctx.Err() == nil; at = at.Add(every) {
			time.Sleep(time.Until(at))
			select {
			case s.ch <- tick{at, time.Now()}:
			default:
				s.late.Add(1)
			}
		}
	}()
	return s
}

// Next waits for the next due slot and returns when it was due; ok is
// false once the schedule is over.
func (s *Schedule) Next() (due time.Time, ok bool) {
	t, ok := <-s.ch
	if !ok {
		return time.Time{}, false
	}
	if time.Since(t.sent) > time.Millisecond {
		s.late.Add(1)
	}
	return t.at, true
}

// Late is the number of slots that waited for a free worker (or were
// dropped).
func (s *Schedule) Late() int { return int(s.late.Load()) }
