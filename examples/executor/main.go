// Command executor fans 20 chat calls out with executor.Map under a rate
// limit of 10 requests per second (burst 5), offline.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/khivetest"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/openai"
)

func main() {
	up := khivetest.New()
	defer up.Close()
	ctx := context.Background()

	cfg, err := providers.Match("openai", "chat", providers.WithBaseURL(up.BaseURL()),
		providers.WithAPIKey(endpoint.NewSecret("sk-example")))
	if err != nil {
		log.Fatal(err)
	}
	chat, err := providers.NewEndpoint(cfg)
	if err != nil {
		log.Fatal(err)
	}
	pool, err := executor.New(executor.Config{Name: "fan-out", Limits: executor.Limits{MaxConcurrency: 4, QueueSize: 8, RequestsPerSecond: 10, Burst: 5}})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range []interface{ Start(context.Context) error }{chat, pool} {
		if err := r.Start(ctx); err != nil {
			log.Fatal(err)
		}
	}
	defer chat.Stop(ctx)
	defer pool.Stop(ctx)

	questions := make([]string, 20)
	for i := range questions {
		questions[i] = fmt.Sprintf("question %d", i)
	}
	start := time.Now()
	answers, err := executor.Map(ctx, pool, questions, func(ctx context.Context, q string) (string, error) {
		resp, err := chat.Call(ctx, endpoint.Request{Body: map[string]any{
			"model": "gpt-4o-mini", "messages": []map[string]string{{"role": "user", "content": q}},
		}})
		if err != nil {
			return "", err
		}
		var out openai.ChatResponse
		if err := resp.Decode(&out); err != nil {
			return "", err
		}
		return out.Choices[0].Message.Text(), nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// 5 at once from the burst, then one per 100 ms: about 1.5 s.
	fmt.Printf("%d answers in %.1fs, in order: first %s, last %s\n", len(answers), time.Since(start).Seconds(), answers[0], answers[19])
	s := pool.Stats()
	fmt.Printf("completed %d, waited on the limiter %.1fs in all\n", s.Completed, s.LimiterWait.Seconds())
}
