// Package fxmodule wires khive into uber-fx. The root package khive
// re-exports Module, Config and LoadConfig; use it unless you need the
// constructors.
//
// Module provides a *Registry of endpoints and the shared
// executor.Executor. Hooks follow DESIGN's lifecycle: endpoints start sorted
// by name and stop in reverse; the shared executor's constructor depends on
// the Registry, so its hooks come after the endpoints' and it drains before
// any endpoint closes; user services that depend on the executor stop first.
//
// fx runs no further OnStop hooks once the stop context has expired. So that
// every endpoint still cancels its work and releases its client, a khive
// hook that returns past the deadline stops the khive components whose hooks
// fx would skip.
//
// Constructors (NewRegistry, NewExecutor) take Params structs and work
// without fx given any fx.Lifecycle. A *zap.Logger in the graph is used,
// named "khive"; without one the module logs to a production zap logger.
package fxmodule
