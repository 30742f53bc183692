package endpoint_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers/anthropic"
)

// waits records the retry waits an endpoint asks for, without sleeping.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = append(w.d, d)
	return ctx.Err()
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

// failThen answers the first n requests with fail, then 200.
func failThen(n int64, fail func(w http.ResponseWriter, r *http.Request)) (http.HandlerFunc, *[]string) {
	var mu sync.Mutex
	var bodies []string
	var count int64
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		count++
		c := count
		mu.Unlock()
		if c <= n {
			fail(w, r)
			return
		}
		okJSON(w, r)
	}, &bodies
}

func status(code int, headers ...string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"error":{"message":"upstream said no","type":"server_error"}}`)
	}
}

func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

func TestRetryTable(t *testing.T) {
	retried := []int{408, 409, 429, 500, 502, 503, 504}
	notRetried := []int{400, 401, 403, 404, 422, 501, 529}
	type tc struct {
		name     string
		fail     func(w http.ResponseWriter, r *http.Request)
		wantHits int64 // upstream requests for a call that fails twice then would succeed
		wantOK   bool
		dialect  endpoint.Dialect
	}
	var cases []tc
	for _, c := range retried {
		cases = append(cases, tc{http.StatusText(c), status(c), 3, true, nil})
	}
	for _, c := range notRetried {
		cases = append(cases, tc{fmt.Sprintf("%d %s", c, http.StatusText(c)), status(c), 1, false, nil})
	}
	cases = append(cases,
		tc{"x-should-retry false on 503", status(503, "x-should-retry", "false"), 1, false, nil},
		tc{"x-should-retry true on 400", status(400, "x-should-retry", "true"), 3, true, nil},
		tc{"connection closed before response", hangUp, 3, true, nil},
		tc{"attempt timeout", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, 3, true, nil},
		tc{"529 in Anthropic's dialect", status(529), 3, true, anthropic.Dialect},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, bodies := failThen(2, c.fail)
			u := newUpstream(t, h)
			cfg := baseConfig(u)
			cfg.Timeout = 200 * time.Millisecond
			cfg.Breaker.Disabled = true
			w := &waits{}
			e := start(t, cfg, endpoint.WithSleep(w.sleep), endpoint.WithDialect(c.dialect))
			resp, err := e.Call(context.Background(), endpoint.Request{Body: map[string]any{"n": 1, "s": "x"}})
			assert.Equal(t, c.wantHits, u.requests.Load())
			if c.wantOK {
				require.NoError(t, err)
				assert.Equal(t, 3, resp.Attempts)
				assert.Len(t, w.all(), 2)
				assert.Equal(t, int64(2), e.Retries())
			} else {
				require.Error(t, err)
				assert.Empty(t, w.all())
			}
			for _, b := range *bodies {
				assert.JSONEq(t, `{"n":1,"s":"x"}`, b, "the body is re-sent intact")
			}
		})
	}
}

func TestRetriesGiveUpAfterMaxAttempts(t *testing.T) {
	u := newUpstream(t, status(503))
	cfg := baseConfig(u)
	cfg.Breaker.Disabled = true
	cfg.Retry.MaxAttempts = 4
	w := &waits{}
	e := start(t, cfg, endpoint.WithSleep(w.sleep), endpoint.WithRand(func() float64 { return 1 }))
	_, err := e.Call(context.Background(), endpoint.Request{})
	var se *endpoint.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 503, se.Status)
	assert.Equal(t, 4, se.Attempts)
	assert.Equal(t, "upstream said no", se.Message)
	// Full jitter at its top: base 500 ms doubling.
	assert.Equal(t, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}, w.all())
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	u := newUpstream(t, status(500))
	cfg := baseConfig(u)
	cfg.Breaker.Disabled = true
	cfg.Retry = endpoint.RetryConfig{MaxAttempts: 8, BaseDelay: time.Second, MaxDelay: 5 * time.Second}
	w := &waits{}
	e := start(t, cfg, endpoint.WithSleep(w.sleep), endpoint.WithRand(func() float64 { return 0.5 }))
	_, err := e.Call(context.Background(), endpoint.Request{})
	require.Error(t, err)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	assert.Equal(t, []time.Duration{ms(500), ms(1000), ms(2000), ms(2500), ms(2500), ms(2500), ms(2500)}, w.all())
}

func TestServerHints(t *testing.T) {
	now := time.Now().UTC()
	for _, tt := range []struct {
		name    string
		headers []string
		want    time.Duration
	}{
		{"retry-after seconds", []string{"retry-after", "2"}, 2 * time.Second},
		{"retry-after-ms wins", []string{"retry-after-ms", "150", "retry-after", "9"}, 150 * time.Millisecond},
		{"x-ratelimit-reset on 429", []string{"x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "3s"}, 3 * time.Second},
		{"anthropic reset on 429", []string{"anthropic-ratelimit-tokens-remaining", "0", "anthropic-ratelimit-tokens-reset", now.Add(20 * time.Second).Format(time.RFC3339)}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := failThen(1, status(429, tt.headers...))
			u := newUpstream(t, h)
			cfg := baseConfig(u)
			w := &waits{}
			e := start(t, cfg, endpoint.WithSleep(w.sleep), endpoint.WithRand(func() float64 { return 0 }))
			_, err := e.Call(context.Background(), endpoint.Request{})
			require.NoError(t, err)
			got := w.all()
			require.Len(t, got, 1)
			if tt.want == 0 { // an RFC 3339 reset is whole seconds from now
				assert.InDelta(t, 20*time.Second, got[0], float64(1500*time.Millisecond))
				return
			}
			assert.Equal(t, tt.want, got[0], "the hint is obeyed exactly, not jittered (rand is 0)")
		})
	}
}

func TestHintAboveCapFailsAtOnce(t *testing.T) {
	u := newUpstream(t, status(429, "retry-after", "120"))
	cfg := baseConfig(u)
	cfg.Retry.MaxRetryAfter = 10 * time.Second
	w := &waits{}
	e := start(t, cfg, endpoint.WithSleep(w.sleep))
	_, err := e.Call(context.Background(), endpoint.Request{})
	var se *endpoint.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 10*time.Second, se.RetryAfter, "the caller is told at most the cap, as the limits are")
	assert.ErrorContains(t, err, "retry after 10s")
	assert.Empty(t, w.all())
	assert.Equal(t, int64(1), u.requests.Load())
}

func TestRetryNeverSleepsPastTheDeadline(t *testing.T) {
	u := newUpstream(t, status(503, "retry-after", "5"))
	e := start(t, baseConfig(u)) // the real sleeper
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := e.Call(ctx, endpoint.Request{})
	var se *endpoint.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 503, se.Status)
	assert.Less(t, time.Since(start), 2*time.Second, "returned without waiting for a hint that outlives the deadline")
	assert.Equal(t, int64(1), u.requests.Load())
}

func TestNoRetryAfterCallerCancels(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		cancel()
		<-r.Context().Done()
	})
	w := &waits{}
	e := start(t, baseConfig(u), endpoint.WithSleep(w.sleep))
	_, err := e.Call(ctx, endpoint.Request{})
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.Empty(t, w.all())
	assert.Equal(t, endpoint.BreakerClosed, e.BreakerState(), "the caller's cancellation is not an upstream failure")
}

// A probe is sent once and the breaker neither counts nor refuses it; the
// same failures from calls open the circuit.
func TestProbeIsNotCountedByTheBreaker(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	cfg := baseConfig(u)
	cfg.Retry = endpoint.RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
	cfg.Breaker = endpoint.BreakerConfig{ConsecutiveFailures: 2, OpenFor: time.Hour}
	e := start(t, cfg)
	for range 5 {
		_, err := e.Call(context.Background(), endpoint.Request{Probe: true})
		var se *endpoint.StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 1, se.Attempts, "a probe is not retried")
	}
	assert.Equal(t, int64(5), u.requests.Load())
	assert.Equal(t, endpoint.BreakerClosed, e.BreakerState())
	_, err := e.Call(context.Background(), endpoint.Request{})
	assert.Error(t, err)
	assert.Equal(t, endpoint.BreakerOpen, e.BreakerState(), "a call's failures do count")
	_, err = e.Call(context.Background(), endpoint.Request{Probe: true})
	var se *endpoint.StatusError
	assert.ErrorAs(t, err, &se, "an open circuit does not refuse a probe: it reaches the upstream")
}
