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
// fx runs no further OnStop hooks once the stop context has expired, and
// then returns the context's error alone. So the first khive hook fx runs
// (the shared executor's) stops every khive component, executor then
// endpoints, with one budget: all drain until the deadline less
// executor.StopReserve, then cancel, wait and close inside the reserve, and
// the hook returns before the deadline with every failure joined into its
// error. The endpoints' hooks then find them stopped and return nil. A user
// hook that overruns the deadline makes fx skip khive's hooks altogether:
// bound your hooks inside fx.StopTimeout.
//
// Constructors (NewRegistry, NewExecutor) take Params structs and work
// without fx given any fx.Lifecycle. A *zap.Logger in the graph is used,
// named "khive"; without one the module logs to a production zap logger.
package fxmodule
