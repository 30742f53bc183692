// Command custom-endpoint adds an endpoint of its own, not from the catalog,
// through the value group "khive.endpoints": the module gives it the same
// lifecycle hooks and lists it in the Registry.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/endpoint"
)

func main() {
	// An in-house search API: GET-less POST /v2/indexes/{index}/query with x-internal-token.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Internal-Token") != "dev-token" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		var q struct{ Query string }
		_ = json.NewDecoder(r.Body).Decode(&q)
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "hits": []string{q.Query + " (1)", q.Query + " (2)"}})
	}))
	defer api.Close()

	newSearch := func(log *zap.Logger) (*endpoint.Endpoint, error) {
		return endpoint.New(endpoint.Config{
			Name: "search", Provider: "in-house", BaseURL: api.URL + "/v2", Path: "indexes/{index}/query",
			Auth: endpoint.AuthHeader, AuthHeaderName: "x-internal-token", APIKey: endpoint.NewSecret("dev-token"),
			Limits: endpoint.Limits{MaxConcurrency: 2},
			Cache:  endpoint.CacheConfig{TTL: 60e9},
		}, endpoint.WithLogger(log))
	}

	app := fx.New(
		fx.Supply(khive.Config{}, zap.NewNop()),
		fx.NopLogger,
		khive.Module,
		fx.Provide(fx.Annotate(newSearch, fx.ResultTags(`group:"khive.endpoints"`))),
		fx.Invoke(func(lc fx.Lifecycle, reg *khive.Registry) {
			lc.Append(fx.Hook{OnStart: func(ctx context.Context) error {
				fmt.Println("registry:", reg.Names())
				e, _ := reg.Get("search")
				for range 2 {
					resp, err := e.Call(ctx, endpoint.Request{
						Body: map[string]string{"query": "khive"}, Params: map[string]string{"index": "docs"}, Cache: true,
					})
					if err != nil {
						return err
					}
					fmt.Printf("cached=%v %s", resp.Cached, resp.Body)
				}
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
