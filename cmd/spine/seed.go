package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/openspine/openspine/internal/directory"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/nhsnumber"
	"github.com/openspine/openspine/internal/pds"
	"github.com/openspine/openspine/internal/population"
)

// seedBatch is how many patients one transaction loads.
const seedBatch = 2000

// seedRanges keep seeded NHS numbers out of PDS's allocation range.
var seedRanges = []nhsnumber.Range{{Low: 999000000, High: pds.DefaultAllocation.Low - 1}, population.OverflowRange}

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
	if _, err := directory.LoadDemo(ctx, srv.Directory); err != nil {
		return err
	}
	var practices, pharmacies []string
	for _, o := range directory.DemoOrganizations {
		switch o.Role {
		case "RO177":
			practices = append(practices, o.ODS)
		case "RO182":
			pharmacies = append(pharmacies, o.ODS)
		}
	}
	if path := os.Getenv("SPINE_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	gen := population.New(*seedValue, population.Options{Practices: practices, Pharmacies: pharmacies, Ranges: seedRanges})
	start := time.Now()
	batches := make(chan []fhir.Resource, 4)
	go func() {
		defer close(batches)
		for done := 0; done < *n; {
			size := min(seedBatch, *n-done)
			batch := make([]fhir.Resource, size)
			for i := range batch {
				p := gen.Next()
				res := p.FHIR()
				if p.SupersededBy != "" {
					res["link"] = []any{map[string]any{"type": "replaced-by", "other": map[string]any{"reference": "Patient/" + p.SupersededBy}}}
				}
				batch[i] = res
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
	err = st.BulkLoad(ctx, func() error {
		var wg sync.WaitGroup
		for w := 0; w < runtime.GOMAXPROCS(0); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for batch := range batches {
					if err := srv.PDS.Load(ctx, batch); err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						stop()
						return
					}
					mu.Lock()
					loaded += len(batch)
					if loaded%100000 < seedBatch {
						fmt.Printf("%d patients (%.0f/s)\n", loaded, float64(loaded)/time.Since(start).Seconds())
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return firstErr
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	d := time.Since(start)
	fmt.Printf("seeded %d patients in %s (%.0f patients/s)\n", loaded, d.Round(time.Millisecond), float64(loaded)/d.Seconds())
	return nil
}
