// Command shutdown starts 1000 calls on one endpoint, half of which the
// upstream answers after 100 ms and half never, then stops the endpoint
// with a 500 ms deadline. It reports how long Stop took past its deadline
// and that every call got its result or an error.
//
//	cd bench && go run ./cmd/shutdown [-calls 1000] [-deadline 500ms]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
	"github.com/khive-go/khive/providers"
)

func main() {
	calls := flag.Int("calls", 1000, "calls in flight when Stop begins")
	deadline := flag.Duration("deadline", 500*time.Millisecond, "Stop's deadline")
	rounds := flag.Int("rounds", 5, "repetitions")
	flag.Parse()
	fmt.Println("| round | in flight | Stop took | past the deadline | succeeded | failed | unaccounted |")
	fmt.Println("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for round := 1; round <= *rounds; round++ {
		up := khivetest.New()
		up.SetLatency(100 * time.Millisecond)
		up.Mix(int64(round), khivetest.Weighted{Fault: khivetest.Fault{Kind: khivetest.Hang}, Share: 0.5})
		cfg, err := providers.Match("openai", "chat", providers.WithBaseURL(up.BaseURL()), providers.WithAPIKey(endpoint.NewSecret("k")),
			providers.WithLimits(endpoint.Limits{MaxConcurrency: *calls}))
		if err != nil {
			log.Fatal(err)
		}
		cfg.Breaker.Disabled = true
		e, err := providers.NewEndpoint(cfg)
		if err != nil {
			log.Fatal(err)
		}
		_ = e.Start(context.Background())
		var ok, failed atomic.Int64
		var wg sync.WaitGroup
		for range *calls {
			wg.Go(func() {
				_, err := e.Call(context.Background(), endpoint.Request{Body: map[string]any{"model": "m", "messages": []any{}}})
				if err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			})
		}
		for up.InFlight() < int64(*calls) {
			time.Sleep(time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), *deadline)
		start := time.Now()
		_ = e.Stop(ctx)
		took := time.Since(start)
		cancel()
		wg.Wait()
		up.Close()
		fmt.Printf("| %d | %d | %v | %v | %d | %d | %d |\n", round, *calls, took.Round(time.Millisecond),
			(took - *deadline).Round(time.Millisecond), ok.Load(), failed.Load(), int64(*calls)-ok.Load()-failed.Load())
	}
}
