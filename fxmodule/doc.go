// Package fxmodule wires khive into uber-fx. The root package khive
// re-exports Module, Config and LoadConfig; use it unless you need the
// constructors.
//
// Module provides a *Registry of endpoints and the shared
// executor.Executor.
//
// # Lifecycle
//
// Endpoints start sorted by name, then the shared executor, whose
// constructor depends on the Registry, so its hooks come after the
// endpoints'; user services that depend on the executor start after it and
// stop first. fx runs OnStop hooks in reverse, runs no further hook once
// the stop context has expired, and then returns the context's error alone.
// So the first khive hook fx runs (the shared executor's) stops every khive
// component with one budget, in phases, and with D the deadline and R a
// reserve of a quarter of the time left (100 ms to 2 s):
//
//   - until D−R, the drain: the executor refuses new tasks at once and lets
//     queued and running ones finish, while the endpoints go on serving the
//     calls those tasks make; once it has drained, the endpoints, in reverse
//     order, refuse new calls with endpoint.ErrClosed and drain theirs;
//   - at D−R, what is left everywhere is cancelled, all together, and waited
//     for until D−R/4; a task that ignores its context is abandoned there,
//     counted in an *executor.StopError, never waited for;
//   - then every client is closed, concurrently, by D−R/8.
//
// The hook returns before the deadline with every close failure, the
// drain's outcome and the count of abandoned tasks joined into its error,
// which app.Stop returns; the endpoints' own hooks then find them stopped
// and return nil. Nothing of khive's runs or logs after the hook returns:
// an abandoned task is the application's goroutine, and when it ends at
// last its calls get ErrClosed. A user hook that overruns the deadline
// makes fx skip khive's hooks altogether: bound your hooks inside
// fx.StopTimeout.
//
// Constructors (NewRegistry, NewExecutor) take Params structs and work
// without fx given any fx.Lifecycle. A *zap.Logger in the graph is used,
// named "khive"; without one the module logs to a production zap logger.
package fxmodule
