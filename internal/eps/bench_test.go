package eps_test

import (
	"testing"

	"github.com/openspine/openspine/internal/store/storetest"
)

// BenchmarkNominatedRelease: a pharmacy downloads the 25 prescriptions
// nominated to it in one Task/$release, on SQLite, through HTTP. The
// prescriptions are written before each timed release.
func BenchmarkNominatedRelease(b *testing.B) {
	w := setup(b, storetest.Backends()[0])
	for b.Loop() {
		b.StopTimer()
		for range 25 {
			w.prescribe(w.newRx(patNominatedFX, 1))
		}
		b.StartTimer()
		res := w.release("FX123", "")
		if res.status != 200 || len(passed(res)) != 25 {
			b.Fatalf("release: %d, %d passed", res.status, len(passed(res)))
		}
	}
}
