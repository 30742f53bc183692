package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/panjf2000/ants/v2"
	"github.com/sourcegraph/conc/pool"
	"golang.org/x/sync/errgroup"

	"github.com/khive-go/khive/executor"
)

// spin is a task of about a microsecond of CPU, calibrated once.
var spinN = func() int {
	n := 1000
	for {
		start := time.Now()
		for range 1000 {
			spin(n)
		}
		per := time.Since(start) / 1000
		if per >= time.Microsecond {
			return n
		}
		n = n * 3 / 2
	}
}()

var sink int

//go:noinline
func spin(n int) {
	x := 0
	for i := range n {
		x += i * i
	}
	sink = x
}

// BenchmarkExecutor submits b.N tasks to each pool at each concurrency and
// waits for them all.
//
//	cd bench && go test -run XXX -bench Executor -benchmem -count 6 .
func BenchmarkExecutor(b *testing.B) {
	tasks := map[string]func(){
		"noop": func() {},
		"1us":  func() { spin(spinN) },
	}
	for _, taskName := range []string{"noop", "1us"} {
		task := tasks[taskName]
		for _, c := range []int{1, 8, 64, 1024} {
			prefix := fmt.Sprintf("%s/c=%d/", taskName, c)
			b.Run(prefix+"raw", func(b *testing.B) {
				sem := make(chan struct{}, c)
				var wg sync.WaitGroup
				b.ReportAllocs()
				for b.Loop() {
					sem <- struct{}{}
					wg.Add(1)
					go func() {
						defer wg.Done()
						task()
						<-sem
					}()
				}
				wg.Wait()
			})
			b.Run(prefix+"khive", func(b *testing.B) {
				p, _ := executor.New(executor.Config{Limits: executor.Limits{MaxConcurrency: c, BlockWhenFull: true}})
				ctx := context.Background()
				_ = p.Start(ctx)
				var wg sync.WaitGroup
				fn := func(context.Context) error { task(); wg.Done(); return nil }
				b.ReportAllocs()
				for b.Loop() {
					wg.Add(1)
					_ = p.Go(ctx, fn)
				}
				wg.Wait()
				b.StopTimer()
				_ = p.Stop(ctx)
			})
			b.Run(prefix+"errgroup", func(b *testing.B) {
				var g errgroup.Group
				g.SetLimit(c)
				fn := func() error { task(); return nil }
				b.ReportAllocs()
				for b.Loop() {
					g.Go(fn)
				}
				_ = g.Wait()
			})
			b.Run(prefix+"conc", func(b *testing.B) {
				p := pool.New().WithMaxGoroutines(c)
				b.ReportAllocs()
				for b.Loop() {
					p.Go(task)
				}
				p.Wait()
			})
			b.Run(prefix+"pond", func(b *testing.B) {
				p := pond.NewPool(c, pond.WithQueueSize(c), pond.WithNonBlocking(false))
				b.ReportAllocs()
				for b.Loop() {
					p.Submit(task)
				}
				p.StopAndWait()
			})
			b.Run(prefix+"ants", func(b *testing.B) {
				p, _ := ants.NewPool(c)
				var wg sync.WaitGroup
				fn := func() { task(); wg.Done() }
				b.ReportAllocs()
				for b.Loop() {
					wg.Add(1)
					_ = p.Submit(fn)
				}
				wg.Wait()
				b.StopTimer()
				p.Release()
			})
		}
	}
}
