package endpoint_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
)

// bucketProvider is an in-process provider for tests in fake time: a token
// bucket of rate per second holding burst, its rate-limit headers in
// OpenAI's meaning (reset = time until full) or Anthropic's (reset = the
// RFC 3339 instant it is full), 429 with retry-after-ms beyond it, and a
// fixed latency.
type bucketProvider struct {
	rate, burst float64
	latency     time.Duration
	anthropic   bool

	mu       sync.Mutex
	tokens   float64
	last     time.Time
	arrivals []time.Time
	limited  int
	script   []int // statuses answered first, one per request, before the bucket
}

func newBucketProvider(rate float64, burst int, latency time.Duration) *bucketProvider {
	return &bucketProvider{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now(), latency: latency}
}

func (p *bucketProvider) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	now := time.Now()
	p.mu.Lock()
	p.arrivals = append(p.arrivals, now)
	p.tokens = min(p.burst, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	p.last = now
	status := http.StatusOK
	if len(p.script) > 0 {
		status, p.script = p.script[0], p.script[1:]
	} else if p.tokens >= 1 {
		p.tokens--
	} else {
		status = http.StatusTooManyRequests
		p.limited++
	}
	left := p.tokens
	p.mu.Unlock()

	h := http.Header{"Content-Type": {"application/json"}}
	toFull := time.Duration((p.burst - left) / p.rate * float64(time.Second))
	remaining := strconv.Itoa(int(left))
	if p.anthropic {
		h.Set("anthropic-ratelimit-requests-limit", strconv.Itoa(int(p.burst)))
		h.Set("anthropic-ratelimit-requests-remaining", remaining)
		h.Set("anthropic-ratelimit-requests-reset", now.Add(toFull).UTC().Format(time.RFC3339Nano))
	} else {
		h.Set("x-ratelimit-limit-requests", strconv.Itoa(int(p.burst)))
		h.Set("x-ratelimit-remaining-requests", remaining)
		h.Set("x-ratelimit-reset-requests", toFull.String())
	}
	body := `{"id":"x","usage":{"total_tokens":12}}`
	if status == http.StatusTooManyRequests {
		wait := time.Duration((1 - left) / p.rate * float64(time.Second))
		h.Set("retry-after-ms", strconv.FormatInt(wait.Milliseconds()+1, 10))
		body = `{"error":{"message":"Rate limit reached for requests","type":"requests"}}`
	} else if status != http.StatusOK {
		body = `{"error":{"message":"scripted"}}`
	}
	if p.latency > 0 {
		t := time.NewTimer(p.latency)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		}
	}
	return &http.Response{
		StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: req, ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

func (p *bucketProvider) stats() (arrivals []time.Time, limited int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.arrivals...), p.limited
}

func TestRetryAfterA429PassesTheLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newBucketProvider(1000, 1000, 0)
		p.script = []int{http.StatusTooManyRequests} // the first answer is a 429 that asks for 11 ms
		cfg := endpoint.Config{
			Name: "limited", BaseURL: "http://127.0.0.1/v1", Path: "chat/completions", APIKey: endpoint.NewSecret(testKey),
			Limits: endpoint.Limits{RequestsPerMinute: 60, Burst: 1}, // one a second
		}
		e := start(t, cfg, endpoint.WithRoundTripper(p))
		began := time.Now()
		resp, err := e.Call(context.Background(), endpoint.Request{Body: []byte(`{}`)})
		require.NoError(t, err)
		assert.Equal(t, 2, resp.Attempts)
		arrivals, _ := p.stats()
		require.Len(t, arrivals, 2)
		assert.InDelta(t, float64(time.Second), float64(arrivals[1].Sub(began)), float64(time.Microsecond),
			"the retry waited for its own admission (1/s, x/time/rate's float arithmetic aside), not only the server's 11 ms hint")
		assert.Equal(t, int64(2), e.Stats().Submitted, "one admission per attempt")
	})
}

// TestOpenLoopAtTwiceTheProvidersRate offers 100 calls/s, open loop, to a
// provider whose bucket allows 50/s, for 20 s of fake time, through an
// adaptive endpoint with no configured ceiling.
func TestOpenLoopAtTwiceTheProvidersRate(t *testing.T) {
	for _, family := range []string{"openai", "anthropic"} {
		t.Run(family, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const (
					rate, burst = 50, 10
					offered     = 100
					duration    = 20 * time.Second
					maxWait     = time.Second
					latency     = 40 * time.Millisecond
				)
				p := newBucketProvider(rate, burst, latency)
				p.anthropic = family == "anthropic"
				cfg := endpoint.Config{
					Name: "adaptive", BaseURL: "http://127.0.0.1/v1", Path: "chat/completions", APIKey: endpoint.NewSecret(testKey),
					Limits: endpoint.Limits{Adaptive: true, MaxWait: maxWait},
				}
				e := start(t, cfg, endpoint.WithRoundTripper(p))

				type outcome struct {
					err  error
					took time.Duration
				}
				n := int(offered * duration / time.Second)
				out := make([]outcome, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						began := time.Now()
						_, err := e.Call(context.Background(), endpoint.Request{Body: []byte(`{"model":"m"}`)})
						out[i] = outcome{err, time.Since(began)}
					})
					time.Sleep(time.Second / offered)
				}
				wg.Wait()

				arrivals, limited := p.stats()
				served, shed, late := 0, 0, 0
				for i, o := range out {
					switch {
					case o.err == nil:
						served++
						if o.took > maxWait+latency {
							late++ // only a call that met a 429 waits its hint on top
						}
					case errors.Is(o.err, executor.ErrOverloaded):
						shed++
						var oe *executor.OverloadError
						require.ErrorAs(t, o.err, &oe)
						assert.Positive(t, oe.RetryAfter)
						if o.took >= maxWait {
							late++
						}
					default:
						t.Errorf("call %d: %v", i, o.err)
					}
				}
				span := arrivals[len(arrivals)-1].Sub(arrivals[0])
				allowed := burst + rate*span.Seconds()
				t.Logf("%s: served %d (%.1f %% of %.0f allowed), shed %d, upstream %d requests, %d answered 429",
					family, served, float64(served)/allowed*100, allowed, shed, len(arrivals), limited)
				assert.GreaterOrEqual(t, float64(served), 0.95*allowed, "served >= 95 % of what the provider allows")
				assert.LessOrEqual(t, float64(limited), 0.01*float64(len(arrivals)), "<= 1 % of upstream requests answered 429")
				assert.Equal(t, n, served+shed, fmt.Sprintf("every call got its result or the typed refusal (%d calls)", n))
				assert.LessOrEqual(t, late, limited, "served within max_wait + the upstream's latency, refused before max_wait, unless a 429 added its hint")
			})
		})
	}
}
