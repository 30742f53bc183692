package fxmodule_test

import (
	"context"
	"fmt"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/fxmodule"
	"github.com/khive-go/khive/khivetest"
)

// The module in an fx app: a registry of the configured endpoints, started
// and stopped with the app.
func ExampleModule() {
	up := khivetest.New()
	defer up.Close()
	ec := fxmodule.EndpointConfig{Endpoint: "chat"}
	ec.Provider, ec.BaseURL, ec.APIKey = "openai", up.BaseURL(), endpoint.NewSecret("sk-example")

	var reg *fxmodule.Registry
	app := fx.New(fx.Supply(fxmodule.Config{Endpoints: map[string]fxmodule.EndpointConfig{"chat": ec}}, zap.NewNop()),
		fx.NopLogger, fxmodule.Module, fx.Populate(&reg))
	_ = app.Start(context.Background())
	e, ok := reg.Get("chat")
	fmt.Println(reg.Names(), ok, e.Config().Kind)
	fmt.Println(app.Stop(context.Background()))
	// Output:
	// [chat] true chat
	// <nil>
}

// Every problem in a config is a khive.FieldError naming its path.
func ExampleDecodeYAML() {
	var c fxmodule.Config
	err := fxmodule.DecodeYAML([]byte("endpoints:\n  chat:\n    provider: openai\n    timeout: soon\n    limts: {}\n"), &c,
		func(string) string { return "" })
	for _, fe := range khive.FieldErrors(err) {
		fmt.Printf("%s: %s\n", fe.Path, fe.Msg)
	}
	// Output:
	// endpoints.chat.timeout: cannot read "soon" as a duration (e.g. 30s, 2m)
	// endpoints.chat.limts: unknown field
}
