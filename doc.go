// Package khive gives Go services managed connections to external APIs (LLM
// and search providers above all) as an uber-fx module.
//
//	cfg, err := khive.LoadConfig("khive.yaml")
//	app := fx.New(fx.Supply(cfg), khive.Module, fx.Invoke(func(r *khive.Registry) { ... }))
//
// The module provides a *Registry of endpoints (package endpoint) built from
// the config or the provider catalog (package providers), and a shared
// executor.Executor (package executor). fx starts them in dependency order
// and stops them in reverse: user services, then the shared executor
// (drained), then each endpoint (drained, then its client closed). Every close
// failure is logged with structured zap fields and returned from app.Stop.
//
// Without a *zap.Logger in the graph, the module logs through a production
// zap logger (JSON to stderr) rather than a no-op one: close failures must
// be seen.
package khive
