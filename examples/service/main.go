// Command service is a service on two providers' official SDKs with
// khive: typed calls, plain and streamed, and a batch within limits, every
// call managed (limits, retries, breaker, drain). It runs offline against
// an in-process fake of both providers.
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/khivetest"
)

func main() {
	up := khivetest.New() // stands in for both providers
	defer up.Close()
	for k, v := range map[string]string{"OPENAI_BASE_URL": up.BaseURL(), "ANTHROPIC_BASE_URL": up.BaseURL(),
		"OPENAI_API_KEY": "sk-example", "ANTHROPIC_API_KEY": "sk-ant-example"} {
		os.Setenv(k, v)
	}

	// Start, the job, then Stop (drain, then close): every error returned.
	if err := khive.Run(context.Background(), Module, run); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, svc *Service) error {
	for _, ask := range []func(context.Context, string) (string, error){svc.Ask, svc.AskStream, svc.AskClaude, svc.AskClaudeStream} {
		answer, err := ask(ctx, "hello")
		if err != nil {
			return err
		}
		fmt.Println(answer)
	}
	qs := make([]string, 50)
	for i := range qs {
		qs[i] = fmt.Sprintf("question %d", i)
	}
	answers, err := svc.Batch(ctx, qs)
	if err != nil {
		return err
	}
	fmt.Printf("%d answers, the last: %s\n", len(answers), answers[len(answers)-1])
	return nil
}
