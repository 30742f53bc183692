package executor_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/ratelimit"
)

func ExamplePool() {
	p, err := executor.New(executor.Config{Name: "jobs", Limits: executor.Limits{MaxConcurrency: 4, QueueSize: 16}})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := p.Start(ctx); err != nil {
		panic(err)
	}
	err = p.Run(ctx, func(ctx context.Context) error {
		fmt.Println("working")
		return nil
	})
	fmt.Println("run:", err)

	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fmt.Println("stop:", p.Stop(stopCtx))
	fmt.Println("after stop:", p.Go(ctx, func(context.Context) error { return nil }))
	// Output:
	// working
	// run: <nil>
	// stop: <nil>
	// after stop: executor: closed
}

func ExampleDo() {
	p, _ := executor.New(executor.Config{Limits: executor.Limits{MaxConcurrency: 2}})
	_ = p.Start(context.Background())
	defer p.Stop(context.Background())

	n, err := executor.Do(context.Background(), p, func(ctx context.Context) (int, error) {
		return len("khive"), nil
	})
	fmt.Println(n, err)
	// Output: 5 <nil>
}

func ExampleMap() {
	// 20 requests per second with a burst of 5: Map is throttled, not rejected.
	p, _ := executor.New(executor.Config{Limits: executor.Limits{MaxConcurrency: 4, QueueSize: 4, RequestsPerSecond: 20, Burst: 5}})
	_ = p.Start(context.Background())
	defer p.Stop(context.Background())

	words := []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"}
	upper, err := executor.Map(context.Background(), p, words, func(ctx context.Context, w string) (string, error) {
		return strings.ToUpper(w), nil
	})
	fmt.Println(upper, err)
	// Output: [ALPHA BETA GAMMA DELTA EPSILON ZETA ETA] <nil>
}

func ExampleAdaptiveLimiter() {
	// No ceiling: until the provider's headers arrive, nothing is held back.
	a, _ := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Window: executor.Requests})
	p, _ := executor.New(executor.Config{Limits: executor.Limits{MaxWait: 10 * time.Second}}, executor.WithAdaptiveLimiter(a))
	_ = p.Start(context.Background())
	defer p.Stop(context.Background())

	// Each request holds a lease; its answer's headers teach the limiter.
	l, _ := p.Acquire(context.Background())
	h := http.Header{}
	h.Set("x-ratelimit-limit-requests", "10")    // the bucket holds 10
	h.Set("x-ratelimit-remaining-requests", "4") // 4 are left
	h.Set("x-ratelimit-reset-requests", "110ms") // full again in 110 ms: 5.5 (4 is 4.5 rounded down) per 110 ms
	rl := ratelimit.Parse(h, time.Now())
	l.Observe(&rl, -1)
	l.Release(nil)
	fmt.Printf("bucket %.0f, refill %.0f/s, admitting %.0f/s\n", a.Size(), a.Refill(), a.Limit())
	// Output: bucket 10, refill 50/s, admitting 45/s
}
