package fxmodule_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest/observer"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/khivetest"
)

// The scenarios of a task that ignores its context, as a new user meets
// them: an fx service with the shared executor and three endpoints, two of
// which fail to close (one by panicking), and app.Stop with 1 s. They run
// in CI with -count=20.

// panicSDK's Close panics.
type panicSDK struct{ hc *http.Client }

func (s *panicSDK) Do(req *http.Request) (*http.Response, error) { return s.hc.Do(req) }
func (s *panicSDK) Close() error                                 { panic("close exploded") }

// stuckScene is the app: endpoints "chat" (config, healthy upstream),
// "broken" (Close fails) and "panicky" (Close panics), the last two on the
// upstream hang when asked.
type stuckScene struct {
	app    *fx.App
	reg    *khive.Registry
	exec   executor.Executor
	logs   *observer.ObservedLogs
	up     *khivetest.Server // healthy
	hang   *khivetest.Server // never answers
	closed atomic.Int64
}

func newStuckScene(t *testing.T) *stuckScene {
	t.Helper()
	s := &stuckScene{up: khivetest.New(), hang: khivetest.New()}
	t.Cleanup(s.up.Close)
	t.Cleanup(s.hang.Close)
	s.hang.Always(khivetest.Fault{Kind: khivetest.Hang})
	log, logs := logged()
	s.logs = logs
	panicky := userEndpoint(t, s.hang, "panicky", func(_ context.Context, _ endpoint.Config, hc *http.Client) (endpoint.SDKClient, error) {
		return &panicSDK{hc: hc}, nil
	}, log)
	s.app = fx.New(
		fx.Supply(khive.Config{Endpoints: map[string]khive.EndpointConfig{"chat": catalogEndpoint(s.up)}}),
		fx.Supply(log), fx.NopLogger, khive.Module,
		asGroup(userEndpoint(t, s.hang, "broken", sdkClosing(errClose, &s.closed), log)), asGroup(panicky),
		fx.Populate(&s.reg, &s.exec),
	)
	require.NoError(t, s.app.Err())
	require.NoError(t, s.app.Start(context.Background()))
	return s
}

func (s *stuckScene) endpoint(t *testing.T, name string) *endpoint.Endpoint {
	e, ok := s.reg.Get(name)
	require.True(t, ok, name)
	return e
}

// stuck is a user's task that ignores its context until released.
type stuck struct {
	release chan struct{}
	ended   chan struct{}
}

func newStuck() *stuck { return &stuck{release: make(chan struct{}), ended: make(chan struct{})} }

func (s *stuck) run(context.Context) error {
	defer close(s.ended)
	<-s.release
	return nil
}

var body = []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)

// stop runs app.Stop with a 1 s budget and returns how long it took, how
// many log lines there were when it returned, and its error.
func (s *stuckScene) stop() (took time.Duration, linesAtReturn int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	began := time.Now()
	err = s.app.Stop(ctx)
	took = time.Since(began)
	return took, s.logs.Len(), err
}

// assertStopped checks what must hold once app.Stop has returned: its
// error carries both close failures, every component refuses work with its
// ErrClosed, the close failures are logged with their fields, and nothing
// of khive's runs (goleak, the user's stuck goroutine aside).
func (s *stuckScene) assertStopped(t *testing.T, err error, took time.Duration, extraLeak ...goleak.Option) {
	t.Helper()
	t.Logf("app.Stop returned after %v", took.Round(time.Millisecond))
	assert.Less(t, took, time.Second, "app.Stop returns before its deadline")
	assert.NotEqual(t, context.DeadlineExceeded, err, "fx ran khive's hook to its end: the error is the hook's")
	assert.ErrorIs(t, err, errClose, "the failing close is in app.Stop's error")
	assert.ErrorContains(t, err, `endpoint "panicky": close client: close panicked: close exploded`, "the panicking close too")
	assert.Equal(t, int64(1), s.closed.Load())
	for _, e := range s.reg.All() {
		_, callErr := e.Call(context.Background(), endpoint.Request{Body: body})
		assert.ErrorIs(t, callErr, endpoint.ErrClosed, "%s refuses calls", e.Name())
	}
	assert.ErrorIs(t, s.exec.Go(context.Background(), func(context.Context) error { return nil }), executor.ErrClosed)
	for _, name := range []string{"broken", "panicky"} {
		var found bool
		for _, l := range s.logs.FilterMessage("endpoint close failed").All() {
			f := l.ContextMap()
			if f["name"] == name {
				found = true
				assert.Equal(t, "endpoint", f["component"])
				assert.Equal(t, "custom", f["provider"])
				assert.Equal(t, "sdk", f["transport"])
				assert.NotEmpty(t, f["error"])
			}
		}
		assert.True(t, found, "%s's close failure is logged", name)
	}
	goleak.VerifyNone(t, append(ignoreUpstream, extraLeak...)...)
	assertNoSecret(t, s.logs, err)
}

// The stuck task sits on the shared executor and ignores its ctx.
func TestShutdownScenarioTaskIgnoresItsContext(t *testing.T) {
	s := newStuckScene(t)
	task := newStuck()
	require.NoError(t, s.exec.Go(context.Background(), task.run))

	took, lines, err := s.stop()
	s.assertStopped(t, err, took, goleak.IgnoreAnyFunction("github.com/khive-go/khive/fxmodule_test.(*stuck).run"))
	var se *executor.StopError
	require.ErrorAs(t, err, &se, "the executor's drain outcome is in app.Stop's error")
	assert.Equal(t, executor.StopError{Pool: "khive", InFlight: 1, Cancelled: 0, Abandoned: 1}, *se)
	assert.ErrorContains(t, err, "1 tasks ignored their cancelled ctx and were abandoned")

	close(task.release) // the user's goroutine ends on its own time...
	<-task.ended
	_, callErr := s.endpoint(t, "chat").Call(context.Background(), endpoint.Request{Body: body})
	assert.ErrorIs(t, callErr, endpoint.ErrClosed)
	goleak.VerifyNone(t, ignoreUpstream...)
	assert.Equal(t, lines, s.logs.Len(), "and khive logged nothing after app.Stop returned")
}

// The stuck work is an endpoint call on an upstream that never answers,
// made by a task and by a caller of the endpoint's own.
func TestShutdownScenarioCallOnAHangingUpstream(t *testing.T) {
	s := newStuckScene(t)
	broken := s.endpoint(t, "broken")
	taskErr := make(chan error, 1)
	require.NoError(t, s.exec.Go(context.Background(), func(ctx context.Context) error {
		_, err := broken.Call(ctx, endpoint.Request{Body: body})
		return err
	}, executor.OnDone(func(err error) { taskErr <- err })))
	callerErr := make(chan error, 1)
	go func() {
		_, err := s.endpoint(t, "panicky").Call(context.Background(), endpoint.Request{Body: body})
		callerErr <- err
	}()
	for s.hang.InFlight() < 2 {
		time.Sleep(time.Millisecond)
	}

	took, lines, err := s.stop()
	s.assertStopped(t, err, took)
	var se *executor.StopError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, executor.StopError{Pool: "khive", InFlight: 1, Cancelled: 1}, *se, "the task honoured its ctx: nothing abandoned")
	assert.ErrorIs(t, <-taskErr, context.Canceled, "the task's call ended with the task's ctx")
	cut := <-callerErr
	assert.ErrorIs(t, cut, endpoint.ErrClosed, "a call cut by shutdown is ErrClosed")
	assert.ErrorContains(t, cut, `endpoint "panicky" is stopping`)
	assert.NotContains(t, cut.Error(), "context canceled")
	assert.Equal(t, lines, s.logs.Len(), "khive logged nothing after app.Stop returned")
}

// The deadline lands while the executor drains: tasks that finish in time
// have their endpoint calls served though the executor is stopping; those
// still waiting are cancelled.
func TestShutdownScenarioDeadlineWhileDraining(t *testing.T) {
	s := newStuckScene(t)
	chat := s.endpoint(t, "chat")
	var served, cut atomic.Int64
	var wg sync.WaitGroup
	started := make(chan struct{}, 8)
	for i := range 8 {
		wg.Add(1)
		require.NoError(t, s.exec.Go(context.Background(), func(ctx context.Context) error {
			started <- struct{}{}
			wait := 200 * time.Millisecond // within the drain
			if i >= 5 {
				wait = time.Hour // past it
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				cut.Add(1)
				return ctx.Err()
			}
			_, err := chat.Call(ctx, endpoint.Request{Body: body})
			if err == nil {
				served.Add(1)
			}
			return err
		}, executor.OnDone(func(error) { wg.Done() })))
	}
	for range 8 {
		<-started
	}

	took, lines, err := s.stop()
	wg.Wait()
	s.assertStopped(t, err, took)
	assert.Equal(t, int64(5), served.Load(), "the endpoints served the draining tasks' calls")
	assert.Equal(t, int64(3), cut.Load())
	var se *executor.StopError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, executor.StopError{Pool: "khive", InFlight: 3, Cancelled: 3}, *se)
	assert.Equal(t, lines, s.logs.Len(), "khive logged nothing after app.Stop returned")
	assert.False(t, errors.Is(err, context.Canceled))
}
