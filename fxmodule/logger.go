package fxmodule

import (
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// moduleLogger names the application's logger "khive". Without one it falls
// back to a production zap logger (JSON to stderr, Info and above): close
// failures must be seen, so a no-op logger is never used.
func moduleLogger(l *zap.Logger) *zap.Logger {
	if l == nil {
		var err error
		if l, err = zap.NewProduction(); err != nil {
			l = zap.NewExample()
		}
	}
	return l.Named("khive")
}

// ZapEventLogger sends fx's own events to the application's zap logger,
// named "fx": routine events at Debug, failures at Error. A khive close
// failure is logged by khive once; fx's "OnStop hook failed" and "stop
// failed" lines repeat it, as they repeat any hook's error.
//
//	fx.New(fx.Supply(logger), fx.WithLogger(fxmodule.ZapEventLogger), khive.Module, ...)
func ZapEventLogger(l *zap.Logger) fxevent.Logger {
	el := &fxevent.ZapLogger{Logger: l.Named("fx")}
	el.UseLogLevel(zapcore.DebugLevel)
	return el
}
