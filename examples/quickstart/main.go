// Command quickstart is an fx app with khive.Module calling a chat
// endpoint. It runs offline against an in-process OpenAI-compatible server.
package main

import (
	"context"
	"fmt"
	"log"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
	"github.com/khive-go/khive/providers/openai"
)

func main() {
	up := khivetest.New() // stands in for https://api.openai.com/v1
	defer up.Close()

	chat := khive.EndpointConfig{Endpoint: "chat"}
	chat.Provider = "openai"
	chat.BaseURL = up.BaseURL()
	chat.APIKey = endpoint.NewSecret("sk-quickstart") // normally from OPENAI_API_KEY
	chat.Transport = endpoint.TransportSDK            // through the official openai-go client
	cfg := khive.Config{Endpoints: map[string]khive.EndpointConfig{"chat": chat}}

	logger, err := zap.NewProduction() // JSON to stderr: khive logs close failures and breaker changes here
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = logger.Sync() }()
	app := fx.New(
		fx.Supply(cfg, logger),
		fx.NopLogger,
		khive.Module,
		fx.Invoke(func(lc fx.Lifecycle, reg *khive.Registry) {
			lc.Append(fx.Hook{OnStart: func(ctx context.Context) error {
				e, _ := reg.Get("chat")
				resp, err := e.Call(ctx, endpoint.Request{Body: openai.ChatRequest{
					Model:    "gpt-4o-mini",
					Messages: []openai.ChatMessage{{Role: "user", Content: openai.TextContent("Hello, khive")}},
				}})
				if err != nil {
					return err
				}
				var out openai.ChatResponse
				if err := resp.Decode(&out); err != nil {
					return err
				}
				fmt.Printf("%s answered: %s\n", e.Name(), out.Choices[0].Message.Text())
				return nil
			}})
		}),
	)
	if err := app.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	if err := app.Stop(context.Background()); err != nil {
		log.Fatal(err)
	}
}
