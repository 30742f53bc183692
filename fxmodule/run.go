package fxmodule

import (
	"context"
	"errors"

	"go.uber.org/fx"
)

// ConfigYAML provides the module's Config from YAML text (an embedded
// config, say), read as LoadConfig reads a file: ${VAR} and
// ${VAR:-default} from the environment when the graph is built, unknown
// fields rejected, every error reported with its path by fx.New.
func ConfigYAML(yaml string) fx.Option {
	return fx.Provide(func() (Config, error) { return parseConfig(yaml) })
}

// Run is a job's whole life in an fx app, for commands and batch jobs: it
// builds the app of opts, starts it, calls job with the T the app provides
// (a service, the Registry), then stops the app whatever job returned, and
// returns job's error and Stop's (every close failure) joined. Start is
// bounded by ctx and the app's StartTimeout; Stop by its StopTimeout alone,
// so that a job cancelled by its ctx (a signal) still drains and closes.
// fx's own event log is off unless opts give fx.WithLogger.
func Run[T any](ctx context.Context, opts fx.Option, job func(context.Context, T) error) error {
	var v T
	app := fx.New(fx.NopLogger, opts, fx.Populate(&v))
	if err := app.Err(); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, app.StartTimeout())
	defer cancel()
	if err := app.Start(sctx); err != nil {
		return err // fx has stopped what had started
	}
	err := job(ctx, v)
	stctx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), app.StopTimeout())
	defer cancelStop()
	return errors.Join(err, app.Stop(stctx))
}
