// Command shutdown shows drain-then-close: calls in flight when the app stops
// finish first, then each endpoint's client is closed; an SDK client whose
// Close fails is logged with structured fields and reported by app.Stop.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
)

// flakySDK is an SDK client whose Close fails.
type flakySDK struct{ hc *http.Client }

func (c *flakySDK) Do(req *http.Request) (*http.Response, error) { return c.hc.Do(req) }
func (c *flakySDK) Close() error                                 { return errors.New("connection pool already torn down") }

func main() {
	up := khivetest.New()
	defer up.Close()
	up.SetLatency(200 * time.Millisecond) // calls are still in flight when Stop begins

	enc := zap.NewDevelopmentEncoderConfig()
	enc.TimeKey = "" // stable output
	logger := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(os.Stdout), zap.InfoLevel))

	flaky := func(l *zap.Logger) (*endpoint.Endpoint, error) {
		return endpoint.New(endpoint.Config{
			Name: "flaky", Provider: "custom", Transport: endpoint.TransportSDK, BaseURL: up.BaseURL(),
			Path: "chat/completions", APIKey: endpoint.NewSecret("sk-example"),
		}, endpoint.WithLogger(l.Named("khive")), endpoint.WithSDK(func(_ context.Context, _ endpoint.Config, hc *http.Client) (endpoint.SDKClient, error) {
			return &flakySDK{hc: hc}, nil
		}))
	}
	var reg *khive.Registry
	app := fx.New(
		fx.Supply(khive.Config{}, logger),
		fx.NopLogger,
		khive.Module,
		fx.Provide(fx.Annotate(flaky, fx.ResultTags(`group:"khive.endpoints"`))),
		fx.Populate(&reg),
	)
	if err := app.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	e, _ := reg.Get("flaky")
	var wg sync.WaitGroup
	results := make([]error, 6)
	for i := range results {
		wg.Go(func() {
			_, results[i] = e.Call(context.Background(), endpoint.Request{Body: map[string]any{"model": "m", "messages": []any{}}})
		})
	}
	for up.InFlight() < 6 {
		time.Sleep(time.Millisecond)
	}
	// Up to 5 s to drain; past it, what is left would be cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stopErr := app.Stop(ctx)
	wg.Wait()

	ok := 0
	for _, err := range results {
		if err == nil {
			ok++
		}
	}
	fmt.Printf("%d of %d in-flight calls finished during the drain\n", ok, len(results))
	fmt.Println("app.Stop:", stopErr)
}
