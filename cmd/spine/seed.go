package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/openspine/openspine/internal/directory"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/pds"
)

// seedBatch is how many patients one transaction loads.
const seedBatch = 250

func seed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	var sf storageFlags
	sf.register(fs)
	n := fs.Int("patients", 10000, "how many synthetic patients to create")
	seedValue := fs.Int64("seed", 1, "random seed: the same seed makes the same population")
	fs.Parse(args)
	if err := setupLogging("warn", os.Stderr); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st, srv, err := sf.openServices(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := srv.EnsureIndexed(ctx); err != nil { // what was stored before is searched alike
		return err
	}
	if _, err := directory.LoadDemo(ctx, srv.Directory); err != nil {
		return err
	}
	if path := os.Getenv("SPINE_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if os.Getenv("GOGC") == "" {
		// The load's live heap is small (a few batches in flight) and it
		// allocates fast: collecting at 4x the live heap instead of 2x
		// takes the garbage collector from ~20 % of the CPU to ~6 %.
		debug.SetGCPercent(400)
	}
	gen := pds.SeedGenerator(*seedValue)
	start := time.Now()
	// a batch is seedBatch patients and the records of their related people
	type seedLoad struct {
		records  []fhir.Resource
		patients int
	}
	batches := make(chan seedLoad, 4)
	go func() {
		defer close(batches)
		for done := 0; done < *n; {
			size := min(seedBatch, *n-done)
			batch := seedLoad{records: make([]fhir.Resource, 0, size+size/2), patients: size}
			for range size {
				p := gen.Next()
				batch.records = append(batch.records, pds.SeedResource(p))
				if rel := pds.SeedRelated(p); rel != nil {
					batch.records = append(batch.records, rel)
				}
			}
			done += size
			select {
			case batches <- batch:
			case <-ctx.Done():
				return
			}
		}
	}()
	var mu sync.Mutex
	var loaded int
	var firstErr error
	var loadTime time.Duration
	err = st.BulkLoad(ctx, func() error {
		var wg sync.WaitGroup
		for w := 0; w < runtime.GOMAXPROCS(0); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for batch := range batches {
					if err := srv.PDS.Load(ctx, batch.records); err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						stop()
						return
					}
					mu.Lock()
					loaded += batch.patients
					if loaded%100000 < seedBatch {
						fmt.Printf("%d patients (%.0f/s)\n", loaded, float64(loaded)/time.Since(start).Seconds())
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		loadTime = time.Since(start)
		if firstErr != nil {
			return firstErr
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	d := time.Since(start)
	fmt.Printf("seeded %d patients in %s (%.0f patients/s): loaded in %s, indexes built in %s\n", loaded, d.Round(time.Millisecond),
		float64(loaded)/d.Seconds(), loadTime.Round(time.Millisecond), (d - loadTime).Round(time.Millisecond))
	return nil
}
