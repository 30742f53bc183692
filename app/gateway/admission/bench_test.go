package admission

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/khive-go/khive/internal/redistest"
)

// BenchmarkKeyAdmission is the added latency of one key admission (Admit
// and End): the memory store beside Redis (a real redis-server on
// loopback), a key with a request rate and max_concurrency. Reported as
// p50/p99 ns; run with
// go test -run '^$' -bench KeyAdmission -benchtime 20000x ./app/gateway/admission/
func BenchmarkKeyAdmission(b *testing.B) {
	c := ClientKey{Key: "bench-key", Name: "bench", RequestsPerMinute: 60_000_000, MaxConcurrency: 1 << 20} // never refuses here
	open := func(b *testing.B, cfg StoreConfig) (Store, *Key) {
		s, err := Open(cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Stop(context.Background()) })
		return s, NewKeyring([]ClientKey{c}, nil).Find(c.Key)
	}
	admit := func(b *testing.B, s Store, k *Key) time.Duration {
		start := time.Now()
		l, err := s.Admit(context.Background(), k, 0)
		if err != nil {
			b.Error("refused:", err)
			return 0
		}
		l.End(0)
		return time.Since(start)
	}
	report := func(b *testing.B, lat []time.Duration) {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	}
	run := func(b *testing.B, cfg StoreConfig) {
		s, k := open(b, cfg)
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			lat = append(lat, admit(b, s, k))
		}
		report(b, lat)
	}
	// parallel: 32 × GOMAXPROCS goroutines admitting at once, as a loaded
	// gateway would.
	parallel := func(b *testing.B, cfg StoreConfig) {
		s, k := open(b, cfg)
		var mu sync.Mutex
		var lat []time.Duration
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				mine = append(mine, admit(b, s, k))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
		report(b, lat)
	}
	b.Run("memory", func(b *testing.B) { run(b, StoreConfig{}) })
	b.Run("memory-parallel", func(b *testing.B) { parallel(b, StoreConfig{}) })
	b.Run("redis", func(b *testing.B) {
		run(b, StoreConfig{Type: "redis", URL: redistest.Start(b).URL()})
	})
	b.Run("redis-parallel", func(b *testing.B) {
		parallel(b, StoreConfig{Type: "redis", URL: redistest.Start(b).URL()})
	})
}
