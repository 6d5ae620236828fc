package eps_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/openspine/openspine/internal/eps"
	"github.com/openspine/openspine/internal/store/storetest"
)

// TestConcurrentRelease races 8 pharmacies for each of 20 prescriptions
// (by short-form id): each is released exactly once, the others are told
// it is with another dispenser; then every pharmacy tries to dispense
// every prescription at once: only the holder succeeds, and no state is
// skipped or lost. Meanwhile 4 terminals of one pharmacy race nominated
// releases: each nominated prescription goes to exactly one of them.
func TestConcurrentRelease(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := setup(t, b)
		const nRx, nPharm, nTerm, nNominated = 20, 8, 4, 30
		var rxs []*rx
		for i := 0; i < nRx; i++ {
			r := w.newRx(patNoNominee, 2)
			w.prescribe(r)
			rxs = append(rxs, r)
		}
		var nominated []*rx
		for i := 0; i < nNominated; i++ {
			r := w.newRx(patNominatedFX, 1)
			w.prescribe(r)
			nominated = append(nominated, r)
		}
		pharmacy := func(i int) string { return fmt.Sprintf("FZ%03d", i) }

		var mu sync.Mutex
		winners := map[string]string{} // short form → pharmacy
		counts := map[string]int{}
		fails := []string{}
		gotNominated := map[string]int{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, r := range rxs {
			for p := 0; p < nPharm; p++ {
				wg.Add(1)
				go func(r *rx, ods string) {
					defer wg.Done()
					<-start
					res := w.release(ods, r.short)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case res.status == 200:
						counts[r.short]++
						winners[r.short] = ods
					case res.status == 400 && code(res) == eps.CodeWithAnotherDispenser:
					default:
						fails = append(fails, fmt.Sprintf("%d %s", res.status, code(res)))
					}
				}(r, pharmacy(p))
			}
		}
		for term := 0; term < nTerm; term++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for {
					res := w.release("FX123", "")
					if res.status != 200 {
						mu.Lock()
						fails = append(fails, "nominated "+res.raw)
						mu.Unlock()
						return
					}
					if code(res) == eps.CodeNoMorePrescriptions {
						return
					}
					mu.Lock()
					for _, p := range passed(res) {
						gotNominated[get(p, "identifier", "value").(string)]++
					}
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(fails) > 0 {
			t.Fatalf("unexpected answers: %v", fails[:min(len(fails), 5)])
		}
		for _, r := range rxs {
			if counts[r.short] != 1 {
				t.Fatalf("%s released %d times", r.short, counts[r.short])
			}
		}
		for _, r := range nominated {
			if gotNominated[r.msg] != 1 {
				t.Fatalf("nominated %s released %d times", r.short, gotNominated[r.msg])
			}
		}

		// Every pharmacy dispenses every prescription at once.
		okCount := map[string]int{}
		wrong := 0
		start = make(chan struct{})
		for _, r := range rxs {
			for p := 0; p < nPharm; p++ {
				wg.Add(1)
				go func(r *rx, ods string) {
					defer wg.Done()
					<-start
					res := w.dispense(r, ods, eps.StatusDispensed, all(r, eps.ItemDispensed))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case res.status == 200 && ods == winners[r.short]:
						okCount[r.short]++
					case res.status == 400 && code(res) == eps.CodeWithAnotherDispenser && ods != winners[r.short]:
					default:
						wrong++
						if wrong < 4 {
							t.Logf("%s by %s (holder %s): %d %s", r.short, ods, winners[r.short], res.status, res.raw)
						}
					}
				}(r, pharmacy(p))
			}
		}
		close(start)
		wg.Wait()
		if wrong > 0 {
			t.Fatalf("%d wrong dispense answers", wrong)
		}
		for _, r := range rxs {
			if okCount[r.short] != 1 {
				t.Fatalf("%s dispensed %d times", r.short, okCount[r.short])
			}
			var events []string
			for _, e := range w.track(r)["extension"].([]any) {
				events = append(events, get(e, "extension", 0, "valueCode").(string))
			}
			if fmt.Sprint(events) != "[created released dispense-notification]" {
				t.Fatalf("%s history %v", r.short, events)
			}
			w.expectStatus(r, eps.StatusDispensed, eps.ItemDispensed, eps.ItemDispensed)
		}
	})
}

// TestConcurrentRetries: the same message sent many times at once (new
// X-Request-IDs, same message id) is applied once; so is the same request
// (same X-Request-ID).
func TestConcurrentRetries(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := setup(t, b)
		r := w.newRx(patNoNominee, 1)
		bnd := w.signed(r)
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for i := 0; i < 12; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := w.do("POST", "/$process-message", bnd)
				mu.Lock()
				statuses[res.status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if statuses[200] != 12 {
			t.Fatalf("order retries: %v", statuses)
		}
		expect(t, w.release("FA565", r.short), 200, "")
		dn := w.dispenseBody(r, "FA565", eps.StatusDispensed, all(r, eps.ItemDispensed))
		statuses = map[int]int{}
		for i := 0; i < 12; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := w.do("POST", "/$process-message", dn, "X-Request-ID", "7d6c5b4a-3f2e-4d1c-8b9a-0f1e2d3c4b5a")
				mu.Lock()
				statuses[res.status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if statuses[200] != 12 {
			t.Fatalf("dispense retries: %v", statuses)
		}
		if n := len(w.track(r)["extension"].([]any)); n != 3 {
			t.Fatalf("%d events: applied more than once", n)
		}
	})
}
