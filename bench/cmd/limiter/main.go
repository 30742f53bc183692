// Command limiter measures limiter accuracy: the rate each limiter actually
// admits against the rate it was configured with, over a window, with 8
// goroutines asking as fast as they can. Limiters start with a burst of 1.
//
//	cd bench && go run ./cmd/limiter [-window 5s]
package main

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	uberrl "go.uber.org/ratelimit"
	"golang.org/x/time/rate"

	"github.com/khive-go/khive/executor"
)

func main() {
	window := flag.Duration("window", 5*time.Second, "how long to measure each limiter at each rate")
	flag.Parse()
	fmt.Printf("| configured/s | khive executor | x/time/rate | go.uber.org/ratelimit |\n| ---: | ---: | ---: | ---: |\n")
	for _, r := range []float64{100, 1000, 10000} {
		khive := measure(*window, func() func(ctx context.Context) bool {
			p, _ := executor.New(executor.Config{Limits: executor.Limits{RequestsPerSecond: r, Burst: 1}})
			_ = p.Start(context.Background())
			noop := func(context.Context) error { return nil }
			return func(ctx context.Context) bool { return p.Run(ctx, noop) == nil }
		}())
		xrate := measure(*window, func() func(ctx context.Context) bool {
			l := rate.NewLimiter(rate.Limit(r), 1)
			return func(ctx context.Context) bool { return l.Wait(ctx) == nil }
		}())
		uber := measure(*window, func() func(ctx context.Context) bool {
			l := uberrl.New(int(r), uberrl.WithoutSlack)
			return func(ctx context.Context) bool {
				l.Take()
				return ctx.Err() == nil
			}
		}())
		fmt.Printf("| %.0f | %s | %s | %s |\n", r, cell(khive, r), cell(xrate, r), cell(uber, r))
	}
}

// measure counts the admissions that complete inside the window.
func measure(window time.Duration, acquire func(ctx context.Context) bool) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Go(func() {
			for acquire(ctx) {
				if time.Since(start) > window {
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / window.Seconds()
}

func cell(achieved, configured float64) string {
	return fmt.Sprintf("%.1f/s (%+.2f %%)", achieved, (achieved/configured-1)*100)
}
