package endpoint_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/internal/hooks"
)

func TestStopWithCallsAndStreamsInFlight(t *testing.T) {
	var stuck, openStreams, slowIn atomic.Int64
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Kind string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		switch body.Kind {
		case "quick":
			okJSON(w, r)
		case "slow": // finishes inside the drain window
			slowIn.Add(1)
			time.Sleep(100 * time.Millisecond)
			okJSON(w, r)
		case "stuck":
			stuck.Add(1)
			<-r.Context().Done()
		case "stream":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: first\n\n")
			http.NewResponseController(w).Flush()
			openStreams.Add(1)
			<-r.Context().Done()
		}
	})
	cfg := baseConfig(u)
	cfg.Breaker.Disabled = true
	log, logs := logged()
	e := start(t, cfg, endpoint.WithLogger(log))

	type outcome struct {
		kind string
		err  error
	}
	results := make(chan outcome, 100)
	var wg sync.WaitGroup
	call := func(kind string) {
		wg.Go(func() {
			_, err := e.Call(context.Background(), endpoint.Request{Body: map[string]any{"kind": kind}})
			results <- outcome{kind, err}
		})
	}
	for range 40 {
		call("quick")
	}
	for range 40 {
		call("stuck")
	}
	var streams []*endpoint.Stream
	for range 10 {
		s, err := e.Stream(context.Background(), endpoint.Request{Body: map[string]any{"kind": "stream"}})
		require.NoError(t, err)
		require.True(t, s.Next())
		streams = append(streams, s)
	}
	for stuck.Load() < 40 || openStreams.Load() < 10 {
		time.Sleep(time.Millisecond)
	}
	for range 20 {
		call("slow")
	}
	for slowIn.Load() < 20 { // the slow calls have reached the upstream
		time.Sleep(time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	began := time.Now()
	err := e.Stop(ctx)
	took := time.Since(began)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "50 cancelled", "40 stuck calls and 10 open streams")
	assert.Less(t, took, 2*time.Second, "Stop returns soon after its deadline")

	wg.Wait()
	close(results)
	counts := map[string][2]int{}
	for r := range results {
		c := counts[r.kind]
		if r.err == nil {
			c[0]++
		} else {
			c[1]++
		}
		counts[r.kind] = c
	}
	assert.Equal(t, map[string][2]int{"quick": {40, 0}, "slow": {20, 0}, "stuck": {0, 40}}, counts)
	for _, s := range streams {
		assert.False(t, s.Next())
		assert.Error(t, s.Err(), "a stream cut by Stop reports an error")
		s.Close()
	}
	_, err = e.Call(context.Background(), endpoint.Request{})
	assert.ErrorIs(t, err, endpoint.ErrClosed)
	assertNoKey(t, logs, err)
}

// testSDK is a stand-in SDK client on the endpoint's own *http.Client.
type testSDK struct {
	hc     *http.Client
	closed atomic.Int64
}

func (c *testSDK) Do(req *http.Request) (*http.Response, error) { return c.hc.Do(req) }

type closeErrSDK struct{ testSDK }

func (c *closeErrSDK) Close() error { c.closed.Add(1); return errors.New("socket already gone") }

type closeCtxSDK struct{ testSDK }

func (c *closeCtxSDK) Close(ctx context.Context) error { c.closed.Add(1); return ctx.Err() }

type closePanicSDK struct{ testSDK }

func (c *closePanicSDK) Close() error { panic("close exploded") }

type idleSDK struct{ testSDK }

func (c *idleSDK) CloseIdleConnections() { c.closed.Add(1); c.hc.CloseIdleConnections() }

func sdkFactory[T endpoint.SDKClient](made *T, build func(hc *http.Client) T) endpoint.SDKFactory {
	return func(_ context.Context, cfg endpoint.Config, hc *http.Client) (endpoint.SDKClient, error) {
		*made = build(hc)
		return *made, nil
	}
}

func TestSDKSeam(t *testing.T) {
	u := newUpstream(t, okJSON)
	cfg := baseConfig(u)
	cfg.Transport = endpoint.TransportSDK

	t.Run("calls go through the SDK client", func(t *testing.T) {
		var c *idleSDK
		e, err := endpoint.New(cfg, endpoint.WithSDK(sdkFactory(&c, func(hc *http.Client) *idleSDK { return &idleSDK{testSDK{hc: hc}} })))
		require.NoError(t, err)
		assert.Nil(t, e.SDKClient(), "no client before Start")
		require.NoError(t, e.Start(context.Background()))
		assert.Same(t, c, e.SDKClient())
		r, err := e.Call(context.Background(), endpoint.Request{Body: map[string]any{}})
		require.NoError(t, err)
		assert.Equal(t, 200, r.Status)
		require.NoError(t, e.Stop(context.Background()))
		assert.Equal(t, int64(1), c.closed.Load(), "CloseIdleConnections called")
		assert.Nil(t, e.SDKClient(), "reference cleared")
	})

	t.Run("Close(ctx) gets Stop's ctx", func(t *testing.T) {
		var c *closeCtxSDK
		e := start(t, cfg, endpoint.WithSDK(sdkFactory(&c, func(hc *http.Client) *closeCtxSDK { return &closeCtxSDK{testSDK{hc: hc}} })))
		require.NoError(t, e.Stop(context.Background()))
		assert.Equal(t, int64(1), c.closed.Load())
	})

	for _, tt := range []struct {
		name    string
		factory func() endpoint.SDKFactory
		wantErr string
	}{
		{"close error", func() endpoint.SDKFactory {
			var c *closeErrSDK
			return sdkFactory(&c, func(hc *http.Client) *closeErrSDK { return &closeErrSDK{testSDK{hc: hc}} })
		}, "socket already gone"},
		{"close panic", func() endpoint.SDKFactory {
			var c *closePanicSDK
			return sdkFactory(&c, func(hc *http.Client) *closePanicSDK { return &closePanicSDK{testSDK{hc: hc}} })
		}, "close panicked: close exploded"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			log, logs := logged()
			e := start(t, cfg, endpoint.WithSDK(tt.factory()), endpoint.WithLogger(log))
			_, err := e.Call(context.Background(), endpoint.Request{})
			require.NoError(t, err)
			err = e.Stop(context.Background())
			require.Error(t, err)
			assert.ErrorContains(t, err, `endpoint "test": close client: `+tt.wantErr)
			assert.Nil(t, e.SDKClient(), "the reference is cleared anyway")

			entries := logs.FilterMessage("endpoint close failed").All()
			require.Len(t, entries, 1, "logged once")
			f := entries[0].ContextMap()
			assert.Equal(t, "endpoint", f["component"])
			assert.Equal(t, "test", f["name"])
			assert.Equal(t, "openai", f["provider"])
			assert.Equal(t, "sdk", f["transport"])
			assert.Contains(t, f["error"], tt.wantErr)
			assert.Equal(t, "error", entries[0].Level.String())

			assert.Equal(t, err, e.Stop(context.Background()), "a second Stop returns the first result")
			assert.Equal(t, 1, logs.FilterMessage("endpoint close failed").Len(), "and logs nothing more")
			assertNoKey(t, logs, err)
		})
	}

	t.Run("factory failure fails Start and leaves nothing open", func(t *testing.T) {
		e, err := endpoint.New(cfg, endpoint.WithSDK(func(context.Context, endpoint.Config, *http.Client) (endpoint.SDKClient, error) {
			return nil, errors.New("no such model family")
		}))
		require.NoError(t, err)
		err = e.Start(context.Background())
		assert.ErrorContains(t, err, `endpoint "test": start sdk client: no such model family`)
		_, err = e.Call(context.Background(), endpoint.Request{})
		assert.ErrorIs(t, err, endpoint.ErrNotStarted)
		assert.NoError(t, e.Stop(context.Background()))
	})

	t.Run("factory sees the config with the key", func(t *testing.T) {
		var gotKey string
		var gotClient *http.Client
		e := start(t, cfg, endpoint.WithSDK(func(_ context.Context, c endpoint.Config, hc *http.Client) (endpoint.SDKClient, error) {
			gotKey, gotClient = c.APIKey.Reveal(), hc
			return &testSDK{hc: hc}, nil
		}))
		assert.Equal(t, testKey, gotKey)
		assert.NotSame(t, http.DefaultClient, gotClient, "the endpoint's own client")
		require.NoError(t, e.Stop(context.Background()))
	})
}

func TestStopIsSafeConcurrentlyWithCalls(t *testing.T) {
	u := newUpstream(t, okJSON)
	e := start(t, baseConfig(u))
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 50 {
				_, err := e.Call(context.Background(), endpoint.Request{})
				if err != nil {
					assert.ErrorIs(t, err, endpoint.ErrClosed)
					return
				}
			}
		})
	}
	for range 3 {
		wg.Go(func() { assert.NoError(t, e.Stop(context.Background())) })
	}
	wg.Wait()
}

func TestBreakerOpensOnFailingUpstreamAndRecovers(t *testing.T) {
	var healthy atomic.Bool
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if healthy.Load() {
			okJSON(w, r)
			return
		}
		status(500)(w, r)
	})
	cfg := baseConfig(u)
	cfg.Retry.MaxAttempts = 1
	cfg.Breaker = endpoint.BreakerConfig{ConsecutiveFailures: 3, OpenFor: 50 * time.Millisecond}
	log, logs := logged()
	e := start(t, cfg, endpoint.WithLogger(log))
	for range 3 {
		_, err := e.Call(context.Background(), endpoint.Request{})
		var se *endpoint.StatusError
		require.ErrorAs(t, err, &se)
	}
	_, err := e.Call(context.Background(), endpoint.Request{})
	require.ErrorIs(t, err, endpoint.ErrCircuitOpen)
	var coe *endpoint.CircuitOpenError
	require.ErrorAs(t, err, &coe)
	assert.Positive(t, coe.Remaining)
	assert.Equal(t, int64(3), u.requests.Load(), "an open circuit sends nothing")

	healthy.Store(true)
	require.Eventually(t, func() bool { return e.BreakerState() == endpoint.BreakerHalfOpen }, time.Second, 5*time.Millisecond,
		"half-open once OpenFor has passed (the state machine's timing is tested with synctest in breaker_test.go)")
	_, err = e.Call(context.Background(), endpoint.Request{})
	require.NoError(t, err)
	assert.Equal(t, endpoint.BreakerClosed, e.BreakerState())
	changes := logs.FilterMessage("circuit breaker state changed").All()
	require.Len(t, changes, 3)
	assert.Equal(t, "open", changes[0].ContextMap()["to"])
	assert.Equal(t, "closed", changes[2].ContextMap()["to"])
}

// countingRT is a user-supplied round tripper.
type countingRT struct {
	rt    http.RoundTripper
	calls atomic.Int64
	idle  atomic.Int64
}

func (c *countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return c.rt.RoundTrip(r)
}

func (c *countingRT) CloseIdleConnections() { c.idle.Add(1) }

func TestWithRoundTripper(t *testing.T) {
	u := newUpstream(t, okJSON)
	rt := &countingRT{rt: http.DefaultTransport.(*http.Transport).Clone()}
	defer rt.rt.(*http.Transport).CloseIdleConnections()
	cfg := baseConfig(u)
	cfg.Timeout = time.Second
	e := start(t, cfg, endpoint.WithRoundTripper(rt))
	_, err := e.Call(context.Background(), endpoint.Request{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), rt.calls.Load())
	require.NoError(t, e.Stop(context.Background()))
	assert.Equal(t, int64(1), rt.idle.Load(), "Stop reaches the user's transport")
}

// An application that wrapped http.DefaultTransport (tracing and recording
// libraries do) still starts endpoints: the endpoint builds a transport of
// net/http's default settings instead of asserting the type.
func TestWrappedDefaultTransport(t *testing.T) {
	u := newUpstream(t, okJSON)
	orig := http.DefaultTransport
	wrapped := &countingRT{rt: orig}
	http.DefaultTransport = wrapped
	defer func() { http.DefaultTransport = orig }()
	e := start(t, baseConfig(u))
	resp, err := e.Call(context.Background(), endpoint.Request{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.Status)
	assert.Zero(t, wrapped.calls.Load(), "the endpoint owns its transport: the wrapper is not in its path")
	require.NoError(t, e.Stop(context.Background()))
}

// A call under a context its caller cuts (the gateway's requests) is still
// Stop's to wait for, but not Stop's to cut: Stop reports it as left to
// its caller, and it ends when the caller's ctx does.
func TestStopLeavesACallerCutCallToItsCaller(t *testing.T) {
	arrived := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // read: net/http then sees the client go
		close(arrived)
		<-r.Context().Done()
	})
	log, logs := logged()
	e := start(t, baseConfig(u), endpoint.WithLogger(log))

	caller, cut := context.WithCancel(hooks.WithCallerCuts(context.Background()))
	defer cut()
	done := make(chan error, 1)
	go func() {
		_, err := e.Call(caller, endpoint.Request{Body: map[string]any{"model": "m"}})
		done <- err
	}()
	<-arrived

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := e.Stop(ctx)
	require.Error(t, err, "the call was still running at Stop's deadline: Stop waited for it")
	assert.ErrorContains(t, err, "abandoned")
	select {
	case err := <-done:
		t.Fatalf("Stop cut a call its caller cuts: %v", err)
	default:
	}
	cut()
	err = <-done
	assert.ErrorIs(t, err, context.Canceled, "the caller's cut ended it")
	assertNoKey(t, logs, err)
}
