package fxmodule

import (
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/khive-go/khive/executor"
)

// Module provides a *Registry of the configured endpoints and the shared
// executor.Executor, with lifecycle hooks in shutdown order: user services
// → shared executor → endpoints. It needs a Config (fx.Supply it) and takes
// an optional *zap.Logger.
var Module = fx.Module("khive",
	fx.Provide(NewRegistry, NewExecutor),
	// Build both even when nothing asks for them, so config errors fail
	// fx.New and the endpoints get their hooks.
	fx.Invoke(func(*Registry, executor.Executor) {}),
)

// ExecutorParams are NewExecutor's inputs.
type ExecutorParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    Config
	// Registry orders shutdown: the executor's hooks are appended after the
	// endpoints', so it drains before any endpoint closes.
	Registry *Registry
	Logger   *zap.Logger `optional:"true"`
}

// NewExecutor builds the shared executor (named "khive" unless the config
// names it) and registers its Start and Stop. Services get it as an
// executor.Executor, which cannot be stopped: the module owns its lifecycle.
func NewExecutor(p ExecutorParams) (executor.Executor, error) {
	cfg := p.Config.executorConfig()
	pool, err := executor.New(cfg, executor.WithLogger(moduleLogger(p.Logger)))
	if err != nil {
		return nil, err
	}
	p.Registry.stop.exec, p.Registry.stop.name = pool, cfg.Name
	p.Lifecycle.Append(fx.Hook{
		OnStart: pool.Start,
		// Appended after every endpoint's hook, it runs first at stop and
		// stops them all after the executor (see shutdown).
		OnStop: p.Registry.stop.stop,
	})
	return pool, nil
}
