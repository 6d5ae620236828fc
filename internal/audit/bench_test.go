package audit

import (
	"context"
	"testing"
	"time"
)

// BenchmarkAppend: many callers appending at once (as requests do), over
// storage whose append costs nothing or a 1 ms durable commit.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name   string
		commit time.Duration
	}{{"commit=0", 0}, {"commit=1ms", time.Millisecond}} {
		b.Run(bc.name, func(b *testing.B) {
			st := newMemStorage()
			st.delay = bc.commit
			l := newTestLog(b, st)
			b.SetParallelism(32) // 32 callers per CPU
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if err := l.Append(context.Background(), testRecord(i)); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
			b.StopTimer()
			st.mu.Lock()
			b.ReportMetric(float64(st.n)/float64(max(st.appends, 1)), "records/commit")
			st.mu.Unlock()
		})
	}
}
