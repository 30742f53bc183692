package fxmodule_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/khivetest"
)

// The shutdown scenarios run in CI with -count=20: they must not depend on
// timing beyond the stop budget they give.

var errClose = errors.New("client close failed")

// stopScene is an app with an endpoint "hang" whose upstream never answers,
// 50 calls blocked on it, and a group endpoint "broken" whose client's
// Close fails.
type stopScene struct {
	app     *fx.App
	reg     *khive.Registry
	logs    *observer.ObservedLogs
	up      *khivetest.Server
	callers sync.WaitGroup
	failed  atomic.Int64
	closed  atomic.Int64
}

func newStopScene(t *testing.T, opts ...fx.Option) *stopScene {
	t.Helper()
	s := &stopScene{up: khivetest.New()}
	t.Cleanup(s.up.Close)
	s.up.Always(khivetest.Fault{Kind: khivetest.Hang})
	log, logs := logged()
	s.logs = logs
	ec := catalogEndpoint(s.up)
	ec.Breaker.Disabled = true
	s.app = fx.New(append([]fx.Option{
		fx.Supply(khive.Config{Endpoints: map[string]khive.EndpointConfig{"hang": ec}}), fx.Supply(log),
		khive.Module, asGroup(userEndpoint(t, s.up, "broken", sdkClosing(errClose, &s.closed), log)),
		fx.Populate(&s.reg),
	}, opts...)...)
	require.NoError(t, s.app.Err())
	require.NoError(t, s.app.Start(context.Background()))
	e, ok := s.reg.Get("hang")
	require.True(t, ok)
	for range 50 {
		s.callers.Go(func() {
			if _, err := e.Call(context.Background(), endpoint.Request{Body: []byte(`{"model":"m"}`)}); err != nil {
				s.failed.Add(1)
			}
		})
	}
	for s.up.InFlight() < 50 {
		time.Sleep(time.Millisecond)
	}
	return s
}

// ignoreUpstream leaves out the fake upstream's own goroutines: its server
// side notices the cut connections on its own time.
var ignoreUpstream = []goleak.Option{
	goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
	goleak.IgnoreAnyFunction("net/http/httptest.(*Server).goServe.func1"),
}

func (s *stopScene) assertEverythingStopped(t *testing.T) {
	t.Helper()
	s.callers.Wait()
	assert.Equal(t, int64(50), s.failed.Load(), "every caller got an error")
	assert.Equal(t, int64(1), s.closed.Load(), "the broken client's Close was called")
	for _, e := range s.reg.All() {
		_, err := e.Call(context.Background(), endpoint.Request{})
		assert.ErrorIs(t, err, endpoint.ErrClosed, "%s is stopped", e.Name())
	}
	failures := s.logs.FilterMessage("endpoint close failed").All()
	require.Len(t, failures, 1, "the close failure is logged once")
	f := failures[0].ContextMap()
	assert.Equal(t, "endpoint", f["component"])
	assert.Equal(t, "broken", f["name"])
	assert.Equal(t, "custom", f["provider"])
	assert.Equal(t, "sdk", f["transport"])
	assert.Contains(t, f["error"], errClose.Error())
}

// Scenario 1: the deadline expires inside khive's own hooks.
func TestShutdownScenarioDeadlineInsideKhive(t *testing.T) {
	s := newStopScene(t, fx.NopLogger)
	const budget = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	began := time.Now()
	err := s.app.Stop(ctx)
	took := time.Since(began)
	goleak.VerifyNone(t, ignoreUpstream...) // nothing of khive's outlives app.Stop

	assert.Less(t, took, budget, "app.Stop returns before its deadline")
	assert.ErrorIs(t, err, errClose, "the close failure is in app.Stop's error")
	assert.NotEqual(t, context.DeadlineExceeded, err, "fx ran every hook: its error is the hooks', not the bare deadline")
	assert.ErrorContains(t, err, "50 tasks in flight, 50 cancelled", "the drain's outcome is reported too")
	s.assertEverythingStopped(t)
	assertNoSecret(t, s.logs, err)
}

// gapLogger is an fx event logger that stalls after the first OnStop hook
// has run, as a slow log sink would, opening a gap between two hooks.
type gapLogger struct {
	gap  time.Duration
	once sync.Once
}

func (g *gapLogger) LogEvent(ev fxevent.Event) {
	if _, ok := ev.(*fxevent.OnStopExecuted); ok {
		g.once.Do(func() { time.Sleep(g.gap) })
	}
}

// Scenario 2: the deadline passes, or nearly, between two hooks.
func TestShutdownScenarioGapBetweenHooks(t *testing.T) {
	const budget = 400 * time.Millisecond // drains until 300 ms, then cancels and closes
	for _, tt := range []struct {
		name        string
		gap         time.Duration
		pastTheLine bool
	}{
		{"gap within the budget", 40 * time.Millisecond, false},
		{"gap past the deadline", 300 * time.Millisecond, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStopScene(t, fx.WithLogger(func() fxevent.Logger { return &gapLogger{gap: tt.gap} }))
			ctx, cancel := context.WithTimeout(context.Background(), budget)
			defer cancel()
			err := s.app.Stop(ctx)
			// The first khive hook stopped everything before the gap: the
			// hooks fx skipped had nothing left to do.
			goleak.VerifyNone(t, ignoreUpstream...)
			s.assertEverythingStopped(t)
			if tt.pastTheLine {
				// fx, finding its context expired before the next hook,
				// returns the context's error alone: the failure is in the
				// log (asserted above), not in app.Stop's error.
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			} else {
				assert.ErrorIs(t, err, errClose)
			}
		})
	}
}

// Scenario 3: a user's hook overruns the deadline. fx then skips every
// later hook, khive's included; khive cannot run its shutdown, and says so
// in the README: bound your hooks inside fx.StopTimeout.
func TestShutdownScenarioUserHookOverruns(t *testing.T) {
	var reg *khive.Registry
	overrun := fx.Invoke(func(lc fx.Lifecycle, r *khive.Registry) {
		reg = r
		lc.Append(fx.Hook{OnStop: func(ctx context.Context) error {
			<-ctx.Done() // drains until the deadline, and past it
			return nil
		}})
	})
	up := khivetest.New()
	defer up.Close()
	var closed atomic.Int64
	log, logs := logged()
	app := fx.New(fx.Supply(khive.Config{Endpoints: map[string]khive.EndpointConfig{"chat": catalogEndpoint(up)}}),
		fx.Supply(log), fx.NopLogger, khive.Module,
		asGroup(userEndpoint(t, up, "broken", sdkClosing(errClose, &closed), log)), overrun)
	require.NoError(t, app.Start(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := app.Stop(ctx)

	assert.ErrorIs(t, err, context.DeadlineExceeded)
	e, _ := reg.Get("chat")
	_, callErr := e.Call(context.Background(), endpoint.Request{Body: []byte(`{"model":"m"}`)})
	assert.NoError(t, callErr, "khive's hooks were skipped: its endpoints still serve")
	assert.Zero(t, closed.Load(), "and no client was closed")
	assert.Zero(t, logs.FilterMessage("endpoint close failed").Len())

	// The way out is the owner's: stop the components, as the hooks would have.
	for _, e := range reg.All() {
		_ = e.Stop(context.Background())
	}
	assert.Equal(t, int64(1), closed.Load())
}

func TestGroupEndpointWithoutLoggerGetsTheModules(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	log, logs := logged()
	var closed atomic.Int64
	bare, err := endpoint.New(endpoint.Config{
		Name: "bare", Provider: "custom", Transport: endpoint.TransportSDK, BaseURL: up.BaseURL(),
		Path: "chat/completions", APIKey: endpoint.NewSecret(secretKey),
	}, endpoint.WithSDK(sdkClosing(errClose, &closed))) // no WithLogger
	require.NoError(t, err)
	app := fx.New(fx.Supply(khive.Config{}), fx.Supply(log), fx.NopLogger, khive.Module, asGroup(bare))
	require.NoError(t, app.Start(context.Background()))
	require.ErrorIs(t, app.Stop(context.Background()), errClose)
	failures := logs.FilterMessage("endpoint close failed").All()
	require.Len(t, failures, 1)
	f := failures[0].ContextMap()
	assert.Equal(t, "endpoint", f["component"])
	assert.Equal(t, "bare", f["name"])
	assert.Equal(t, "custom", f["provider"])
	assert.Equal(t, "sdk", f["transport"])
	assert.Contains(t, f["error"], errClose.Error())
	assert.Equal(t, "khive.endpoint", failures[0].LoggerName)
}

func TestRegistryPrintsNoKey(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	var reg *khive.Registry
	app := fx.New(fx.Supply(khive.Config{Endpoints: map[string]khive.EndpointConfig{"chat": catalogEndpoint(up)}}),
		fx.Supply(zap.NewNop()), fx.NopLogger, khive.Module, fx.Populate(&reg))
	require.NoError(t, app.Err())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := sprintf(verb, reg)
		assert.NotContains(t, out, secretKey, verb)
		assert.NotContains(t, out, hexOf(secretKey), verb)
	}
	assert.Equal(t, "khive registry [chat]", sprintf("%v", reg))
}

func sprintf(verb string, v any) string { return fmt.Sprintf(verb, v) }

func hexOf(s string) string { return fmt.Sprintf("%x", s) }

func TestServicesCannotStopTheSharedExecutor(t *testing.T) {
	typ := reflect.TypeFor[executor.Executor]()
	for _, m := range []string{"Start", "Stop"} {
		_, declared := typ.MethodByName(m)
		assert.False(t, declared, "the executor services are handed has no %s: the module owns its lifecycle", m)
	}
}
