// Command typed compares one typed chat call through openai-go: the SDK's
// own client (its defaults, a transport of its own) against the client
// khive's openai.ClientOf builds on an endpoint's managed client (limits,
// breaker and retries on), against the same loopback upstream. Clients take
// turns in rounds so drift hits them alike; the median of each client's
// calls and its allocations per call are reported.
//
//	cd bench && go run ./cmd/typed [-calls 20000]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"runtime"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/khive-go/khive/bench/internal/stats"
	"github.com/khive-go/khive/bench/internal/typedchat"
)

func main() {
	calls := flag.Int("calls", 20000, "calls per client")
	flag.Parse()
	sdk, managed, closeAll, err := typedchat.Setup()
	if err != nil {
		log.Fatal(err)
	}
	defer closeAll()
	ctx := context.Background()
	call := func(c *openai.Client) func() error {
		return func() error {
			out, err := c.Chat.Completions.New(ctx, typedchat.Params)
			if err == nil && out.Choices[0].Message.Content != "hi" {
				err = fmt.Errorf("unexpected answer %q", out.Choices[0].Message.Content)
			}
			return err
		}
	}
	clients := []struct {
		name string
		call func() error
	}{
		{"openai-go, its own client", call(sdk)},
		{"openai-go on khive (openai.ClientOf)", call(managed)},
	}
	samples := make([][]time.Duration, len(clients))
	allocs := make([]uint64, len(clients))
	for _, c := range clients { // warm up connections
		for range 200 {
			if err := c.call(); err != nil {
				log.Fatal(c.name, ": ", err)
			}
		}
	}
	const round = 500
	var ms runtime.MemStats
	for done := 0; done < *calls; done += round {
		for i, c := range clients {
			runtime.ReadMemStats(&ms)
			before := ms.Mallocs
			for range round {
				start := time.Now()
				if err := c.call(); err != nil {
					log.Fatal(c.name, ": ", err)
				}
				samples[i] = append(samples[i], time.Since(start))
			}
			runtime.ReadMemStats(&ms)
			allocs[i] += ms.Mallocs - before
		}
	}
	base := stats.Of(samples[0])
	fmt.Printf("| client | median | p99 | allocs/call | median vs the SDK's own |\n| --- | ---: | ---: | ---: | ---: |\n")
	for i, c := range clients {
		s := stats.Of(samples[i])
		fmt.Printf("| %s | %v | %v | %d | %.3fx |\n", c.name, s.P50, s.P99, allocs[i]/uint64(len(samples[i])),
			float64(s.P50)/float64(base.P50))
	}
}
