// Command goodput measures throughput under a provider's rate limit: the
// fake upstream enforces a token bucket and answers 429 with OpenAI's
// rate-limit headers beyond it. khive's endpoint (adaptive limits, retries
// honouring the hints) is compared with a plain client that retries on 429
// after retry-after-ms. Both run the same closed-loop load.
//
//	cd bench && go run ./cmd/goodput [-duration 10s] [-limit 200] [-workers 32]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/internal/fakeupstream"
	"github.com/khive-go/khive/providers"
)

var body = []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "run length per client")
	limit := flag.Float64("limit", 200, "the upstream's allowed requests per second")
	workers := flag.Int("workers", 32, "concurrent callers")
	safety := flag.Float64("safety", 0, "khive's limits.adaptive_safety (0: the default, 0.9)")
	flag.Parse()
	burst := int(*limit / 10)

	fmt.Printf("upstream limit %.0f/s (burst %d), %d callers, %v each\n\n", *limit, burst, *workers, *duration)
	if *safety == 0 {
		*safety = 0.9
	}
	fmt.Println("| client | goodput/s | of allowed | upstream requests | answered 429 |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: |")

	up := fakeupstream.New()
	up.Enforce(*limit, burst)
	cfg, err := providers.Match("openai", "chat", providers.WithBaseURL(up.BaseURL()), providers.WithAPIKey(endpoint.NewSecret("k")),
		providers.WithLimits(endpoint.Limits{RequestsPerMinute: *limit * 2 * 60, Burst: burst, MaxConcurrency: *workers,
			QueueSize: 1024, BlockWhenFull: true, Adaptive: true, AdaptiveSafety: *safety}))
	if err != nil {
		log.Fatal(err)
	}
	cfg.Retry = endpoint.RetryConfig{MaxAttempts: 10}
	e, err := providers.NewEndpoint(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	_ = e.Start(ctx)
	ok := closedLoop(*workers, *duration, func() bool {
		_, err := e.Call(ctx, endpoint.Request{Body: body})
		return err == nil
	})
	_ = e.Stop(ctx)
	report(fmt.Sprintf("khive endpoint (adaptive, safety %v)", e.Config().Limits.AdaptiveSafety), ok, *duration, *limit, up)
	up.Close()

	up = fakeupstream.New()
	up.Enforce(*limit, burst)
	client := &http.Client{}
	ok = closedLoop(*workers, *duration, func() bool {
		for {
			req, _ := http.NewRequest(http.MethodPost, up.BaseURL()+"/chat/completions", bytes.NewReader(body))
			resp, err := client.Do(req)
			if err != nil {
				return false
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				return resp.StatusCode == http.StatusOK
			}
			ms, _ := strconv.Atoi(resp.Header.Get("retry-after-ms"))
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
	})
	report("plain client retrying on 429", ok, *duration, *limit, up)
	up.Close()
}

// closedLoop runs call from n workers for d and counts successes that
// finished within d.
func closedLoop(n int, d time.Duration, call func() bool) int64 {
	var ok atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if call() && time.Now().Before(deadline) {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return ok.Load()
}

func report(name string, ok int64, d time.Duration, limit float64, up *fakeupstream.Server) {
	rate := float64(ok) / d.Seconds()
	total, limited := up.Requests(), up.Limited()
	fmt.Printf("| %s | %.1f | %.1f %% | %d | %d (%.2f %%) |\n", name, rate, rate/limit*100, total, limited, float64(limited)/float64(total)*100)
}
