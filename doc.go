// Package khive gives Go services managed connections to external APIs (LLM
// and search providers above all) as an uber-fx module.
//
//	cfg, err := khive.LoadConfig("khive.yaml")
//	app := fx.New(fx.Supply(cfg), khive.Module, fx.Provide(newService))
//
// where newService takes the *khive.Registry (or the executor.Executor) and
// uses the endpoints from its own OnStart hook or later: endpoints start in
// khive's OnStart hooks, so inside an fx.Invoke they answer
// endpoint.ErrNotStarted.
//
// The module provides a *Registry of endpoints (package endpoint) built from
// the config or the provider catalog (package providers), and a shared
// executor.Executor (package executor). fx starts them in dependency order
// and stops them in reverse: user services, then the shared executor
// (drained), then each endpoint (drained, then its client closed). Every close
// failure is logged with structured zap fields and returned from app.Stop,
// before its deadline, with the count of any task that ignored its
// context (package fxmodule tells the lifecycle).
//
// Without a *zap.Logger in the graph, the module logs through a production
// zap logger (JSON to stderr) rather than a no-op one: close failures must
// be seen.
package khive
