package khive_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/khivetest"
)

func Example() {
	up := khivetest.New() // a provider on loopback
	defer up.Close()

	chat := khive.EndpointConfig{Endpoint: "chat"} // the catalog's openai chat...
	chat.Provider = "openai"
	chat.BaseURL = up.BaseURL() // ...pointed at the local upstream
	chat.APIKey = endpoint.NewSecret("sk-example")
	cfg := khive.Config{
		Executor:  executor.Config{Limits: executor.Limits{MaxConcurrency: 4, QueueSize: 16}},
		Endpoints: map[string]khive.EndpointConfig{"chat": chat},
	}

	app := fx.New(
		fx.Supply(cfg),
		fx.Supply(zap.NewNop()),
		fx.NopLogger,
		khive.Module,
		fx.Invoke(func(lc fx.Lifecycle, reg *khive.Registry, exec executor.Executor) {
			lc.Append(fx.Hook{OnStart: func(ctx context.Context) error {
				e, _ := reg.Get("chat")
				resp, err := executor.Do(ctx, exec, func(ctx context.Context) (*endpoint.Response, error) {
					return e.Call(ctx, endpoint.Request{Body: map[string]any{
						"model": "gpt-4o-mini", "messages": []map[string]string{{"role": "user", "content": "hi"}},
					}})
				})
				if err != nil {
					return err
				}
				fmt.Println(resp.Status, reg.Names())
				return nil
			}})
		}),
	)
	if err := app.Start(context.Background()); err != nil {
		panic(err)
	}
	if err := app.Stop(context.Background()); err != nil {
		panic(err)
	}
	// Output: 200 [chat]
}

func ExampleLoadConfig() {
	dir, _ := os.MkdirTemp("", "khive")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "khive.yaml")
	_ = os.WriteFile(path, []byte(`
executor:
  max_concurrency: ${WORKERS:-8}
endpoints:
  groq-chat:
    provider: groq
    endpoint: chat
    api_key: ${EXAMPLE_GROQ_KEY:-gsk-example}
    limits: {requests_per_minute: 30, burst: 5}
`), 0o600)

	cfg, err := khive.LoadConfig(path)
	if err != nil {
		panic(err)
	}
	g := cfg.Endpoints["groq-chat"]
	fmt.Println(cfg.Executor.MaxConcurrency, g.Provider, g.Endpoint, g.APIKey, g.Limits.RequestsPerMinute)
	// Output: 8 groq chat [redacted] 30
}

// exampleTB stands in for the *testing.T a real test passes to fxtest.
type exampleTB struct{}

func (exampleTB) Logf(string, ...any)          {}
func (exampleTB) Errorf(f string, args ...any) { fmt.Printf(f+"\n", args...) }
func (exampleTB) FailNow()                     { panic("test failed") }

// In tests, fxtest runs the module and fails the test on start or stop errors.
func Example_fxtest() {
	var t fxtest.TB = exampleTB{} // in a real test: the *testing.T
	up := khivetest.New()
	defer up.Close()
	ec := khive.EndpointConfig{Endpoint: "embeddings"}
	ec.Provider, ec.BaseURL, ec.APIKey = "openai", up.BaseURL(), endpoint.NewSecret("sk-test")

	var reg *khive.Registry
	app := fxtest.New(t, fx.Supply(khive.Config{Endpoints: map[string]khive.EndpointConfig{"emb": ec}}),
		fx.Supply(zap.NewNop()), fx.NopLogger, khive.Module, fx.Populate(&reg))
	app.RequireStart()
	defer app.RequireStop()

	e, _ := reg.Get("emb")
	resp, err := e.Call(context.Background(), endpoint.Request{Body: map[string]any{"model": "text-embedding-3-small", "input": "hello"}})
	fmt.Println(resp.Status, err)
	// Output: 200 <nil>
}
