// Command app is the khive gateway: an OpenAI-compatible HTTP service built
// from khive.Module and the gateway module.
//
//	go run ./app [-config khive.yaml] [-listen 127.0.0.1:8080]
//
// Without -config (or KHIVE_CONFIG) it configures every provider whose key
// variable is set, and ollama. SIGINT or SIGTERM drains and stops it; the
// exit code is 0 on a clean stop and 1 when something failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/fxmodule"
	"github.com/khive-go/khive/khivetest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is the gateway's main: 0 after a clean stop, 1 when something failed
// to start or to close, 2 for bad flags or a bad config file (every problem
// printed to stderr, one a line, before anything is built).
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", os.Getenv("KHIVE_CONFIG"), "config file (YAML); default: KHIVE_CONFIG, else the built-in default")
	listen := fs.String("listen", "", "listen address, overriding the config's gateway.listen")
	demo := fs.Bool("demo", false, "serve an in-process fake provider behind the gateway (endpoints demo, demo-claude, demo-responses, demo-embeddings), for trying it without a key")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	out := &zapcore.BufferedWriteSyncer{WS: zapcore.Lock(os.Stderr), Size: 256 << 10, FlushInterval: time.Second}
	defer func() { _ = out.Stop() }() // flushes what is buffered
	log := newLogger(out)
	defer func() { _ = log.Sync() }()
	defer ignoreHangups(log)()
	stopPprof, err := servePprof(log)
	if err != nil {
		fmt.Fprintln(stderr, "KHIVE_PPROF:", err)
		return 2
	}
	defer stopPprof()

	var file gateway.File
	if *demo {
		if *configPath != "" {
			fmt.Fprintln(stderr, "-demo serves its own config: give it without -config")
			return 2
		}
		up := khivetest.New()
		defer up.Close()
		file = demoFile(up)
		log.Info("demo: a fake provider on loopback behind the gateway", zap.String("upstream", up.BaseURL()),
			zap.Strings("models", []string{"demo/MODEL", "demo-claude/MODEL", "demo-responses/MODEL", "demo-embeddings/MODEL"}))
	} else if file, err = loadFile(*configPath, log); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if *listen != "" {
		file.Gateway.Listen = *listen
	}
	stopTimeout := file.Gateway.WithDefaults().ShutdownTimeout + 10*time.Second

	tel, err := newTelemetry(context.Background(), file.Gateway.Telemetry)
	if err != nil {
		fmt.Fprintln(stderr, "telemetry:", err)
		return 2
	}
	var telOpts []fx.Option
	if tel != nil {
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tel.Shutdown(ctx); err != nil {
				log.Error("telemetry flush failed", zap.Error(err))
			}
		}()
		otel.SetTracerProvider(tel.TracerProvider)
		otel.SetMeterProvider(tel.MeterProvider)
		otel.SetTextMapPropagator(propagation.TraceContext{})
		telOpts = append(telOpts, fx.Supply(fx.Annotate(tel.TracerProvider, fx.As(new(trace.TracerProvider))),
			fx.Annotate(tel.MeterProvider, fx.As(new(metric.MeterProvider)))))
		log.Info("telemetry export on")
	}
	app := fx.New(append(telOpts,
		fx.Supply(file.Config, file.Gateway, log),
		fx.WithLogger(fxmodule.ZapEventLogger),
		fx.StopTimeout(stopTimeout),
		khive.Module,
		gateway.Module,
	)...)
	if err := app.Err(); err != nil {
		log.Error("gateway could not be built", zap.Error(err))
		return 1
	}
	startCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		log.Error("gateway could not start", zap.Error(err))
		return 1
	}
	sig := <-app.Wait()
	log.Info("shutting down", zap.String("signal", sig.Signal.String()))
	stopCtx, cancelStop := context.WithTimeout(context.Background(), stopTimeout)
	defer cancelStop()
	if err := app.Stop(stopCtx); err != nil {
		log.Error("stopped with errors", zap.Error(err))
		return 1
	}
	log.Info("stopped cleanly")
	return 0
}

// ignoreHangups keeps SIGHUP from killing the gateway (Go's default for a
// signal nobody handles), which would cut every request and stream in
// flight: it is logged and ignored. Reloading the config on SIGHUP is not
// supported; restart the gateway (SIGTERM drains it) to apply a new one.
// The returned func stops listening.
func ignoreHangups(log *zap.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-hup:
				log.Warn("SIGHUP ignored: reloading the config is not supported; restart the gateway to apply a new one")
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-exited
	}
}

// newLogger is the gateway's logger: JSON at Info to w, never sampled (zap's
// production preset samples, which would drop access-log lines under load).
// w buffers (the access log writes a line per request): a line at Warn or
// above is flushed at once, the rest within a second and at exit.
func newLogger(w zapcore.WriteSyncer) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(flushAbove{zapcore.NewCore(enc, w, zap.InfoLevel), zapcore.WarnLevel}, zap.AddCaller(), zap.ErrorOutput(w))
}

// flushAbove is a core that syncs its writer after each entry at level
// or above, so that warnings and errors do not wait in a buffer.
type flushAbove struct {
	zapcore.Core
	level zapcore.Level
}

func (c flushAbove) With(fields []zapcore.Field) zapcore.Core {
	return flushAbove{c.Core.With(fields), c.level}
}

func (c flushAbove) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c flushAbove) Write(e zapcore.Entry, fields []zapcore.Field) error {
	err := c.Core.Write(e, fields)
	if e.Level >= c.level {
		err = errors.Join(err, c.Core.Sync())
	}
	return err
}

// loadFile reads the config file, or builds the default and logs what it
// configured and skipped.
func loadFile(path string, log *zap.Logger) (gateway.File, error) {
	if path != "" {
		return gateway.LoadFile(path)
	}
	f, decisions := gateway.DefaultFile(os.Getenv)
	for _, d := range decisions {
		if d.Skipped != "" {
			log.Info("provider skipped", zap.String("provider", d.Provider), zap.String("reason", d.Skipped))
			continue
		}
		log.Info("provider configured", zap.String("provider", d.Provider), zap.Strings("endpoints", d.Configured))
	}
	return f, nil
}
