package executor_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/khive-go/khive/executor"
)

// BenchmarkPool submits b.N no-op tasks through a Pool and, beside it, through
// the baseline: a raw goroutine per task bounded by a channel semaphore.
//
//	go test -run XXX -bench Pool -benchmem ./executor/
func BenchmarkPool(b *testing.B) {
	for _, c := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("baseline/c=%d", c), func(b *testing.B) {
			sem := make(chan struct{}, c)
			var wg sync.WaitGroup
			b.ReportAllocs()
			for b.Loop() {
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = noop(context.Background())
					<-sem
				}()
			}
			wg.Wait()
		})
		b.Run(fmt.Sprintf("pool/c=%d", c), func(b *testing.B) {
			p, err := executor.New(executor.Config{Limits: executor.Limits{MaxConcurrency: c, BlockWhenFull: true}})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			_ = p.Start(ctx)
			var wg sync.WaitGroup
			task := func(ctx context.Context) error { defer wg.Done(); return noop(ctx) }
			b.ReportAllocs()
			for b.Loop() {
				wg.Add(1)
				if err := p.Go(ctx, task); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			b.StopTimer()
			_ = p.Stop(ctx)
		})
	}
}

//go:noinline
func noop(context.Context) error { return nil }
