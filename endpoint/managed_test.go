package endpoint_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/khivetest"
)

// The managed client as a plain net/http caller uses it: a request built
// with http.NewRequest is one call of the endpoint.

func managedEndpoint(t *testing.T, up *khivetest.Server, edit func(*endpoint.Config), opts ...endpoint.Option) *endpoint.Endpoint {
	t.Helper()
	cfg := endpoint.Config{
		Name: "managed", Provider: "openai", BaseURL: up.BaseURL(), Path: "chat/completions",
		APIKey: endpoint.NewSecret(testKey),
		Retry:  endpoint.RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond},
	}
	if edit != nil {
		edit(&cfg)
	}
	return start(t, cfg, opts...)
}

func chatRequest(t *testing.T, ctx context.Context, e *endpoint.Endpoint, stream bool) *http.Request {
	t.Helper()
	body := fmt.Sprintf(`{"model":"m","stream":%v,"messages":[{"role":"user","content":"hi"}]}`, stream)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.Config().BaseURL+"/chat/completions", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	return req
}

func TestHTTPClientRetriesAsTheEndpointDoes(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	up.Key = testKey
	var waits []time.Duration
	e := managedEndpoint(t, up, nil, endpoint.WithSleep(func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}))
	up.Script(khivetest.Fault{Kind: khivetest.Status, Status: 429, Headers: map[string]string{"Retry-After": "2"}})
	resp, err := e.HTTPClient().Do(chatRequest(t, context.Background(), e, false))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, string(body), "echo: hi")
	assert.EqualValues(t, 2, up.Requests(), "the 429, then the retry")
	assert.EqualValues(t, 1, e.Retries())
	assert.Equal(t, []time.Duration{2 * time.Second}, waits, "the retry waited the server's Retry-After")
	assert.Equal(t, "Bearer "+testKey, up.Last().Header.Get("Authorization"), "the endpoint's auth, though the request carried none")
}

// A status error, once retries are spent, is the provider's answer: the
// caller (an SDK) builds its own error from it, with the key scrubbed.
func TestHTTPClientGivesBackTheFinalStatusAnswer(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":"bad key %s","type":"invalid_request_error"}}`, testKey)
	})
	e := start(t, baseConfig(u))
	req, err := http.NewRequest(http.MethodPost, u.URL+"/v1/chat/completions", strings.NewReader(`{}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer someone-elses-key")
	resp, err := e.HTTPClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, int64(len(body)), resp.ContentLength)
	assert.Contains(t, string(body), "invalid_request_error")
	assert.NotContains(t, string(body), testKey, "scrubbed")
	assert.EqualValues(t, 1, u.requests.Load(), "a 400 is not retried")
}

func TestHTTPClientHoldsTheConcurrencyLimit(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	up.SetLatency(5 * time.Millisecond)
	cnt := &khivetest.Counting{}
	e := managedEndpoint(t, up, func(c *endpoint.Config) { c.Limits.MaxConcurrency, c.Limits.QueueSize = 2, 32 },
		endpoint.WithRoundTripper(cnt))
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			resp, err := e.HTTPClient().Do(chatRequest(t, context.Background(), e, false))
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, 20, up.Requests())
	assert.LessOrEqual(t, cnt.Peak(), int64(2), "never more than max_concurrency out at once")
	assert.Zero(t, cnt.Open())
}

// A stream holds its slot until its body is closed: with one slot and a
// short max_wait, a second request is shed while the first is open.
func TestHTTPClientStreamHoldsItsSlotUntilClosed(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	e := managedEndpoint(t, up, func(c *endpoint.Config) {
		c.Limits.MaxConcurrency, c.Limits.QueueSize, c.Limits.MaxWait = 1, 4, 20*time.Millisecond
	})
	resp, err := e.HTTPClient().Do(chatRequest(t, context.Background(), e, true))
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	sc := bufio.NewScanner(resp.Body)
	var data []string
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
		}
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, data)
	assert.Equal(t, "[DONE]", data[len(data)-1])
	assert.EqualValues(t, 1, e.Stats().Running, "read to its end, not closed: the slot is held")

	_, err = e.HTTPClient().Do(chatRequest(t, context.Background(), e, false))
	require.ErrorIs(t, err, executor.ErrOverloaded)

	require.NoError(t, resp.Body.Close())
	assert.EqualValues(t, 0, e.Stats().Running)
	next, err := e.HTTPClient().Do(chatRequest(t, context.Background(), e, false))
	require.NoError(t, err)
	next.Body.Close()
}

func TestHTTPClientShedsWhenTheRateLimitIsFull(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	e := managedEndpoint(t, up, func(c *endpoint.Config) {
		c.Limits.RequestsPerSecond, c.Limits.Burst, c.Limits.MaxWait = 1, 1, 50*time.Millisecond
	})
	first, err := e.HTTPClient().Do(chatRequest(t, context.Background(), e, false))
	require.NoError(t, err)
	first.Body.Close()
	_, err = e.HTTPClient().Do(chatRequest(t, context.Background(), e, false))
	var oe *executor.OverloadError
	require.ErrorAs(t, err, &oe)
	assert.ErrorIs(t, err, executor.ErrOverloaded)
	assert.EqualValues(t, 1, up.Requests(), "the shed request never went out")
}

func TestHTTPClientOutsideStartedState(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	e, err := endpoint.New(endpoint.Config{Name: "managed", Provider: "openai", BaseURL: up.BaseURL(), Path: "chat/completions", Auth: endpoint.AuthNone})
	require.NoError(t, err)
	_, err = e.HTTPClient().Do(chatRequest(t, context.Background(), e, false))
	require.ErrorIs(t, err, endpoint.ErrNotStarted)

	require.NoError(t, e.Start(context.Background()))
	resp, err := e.HTTPClient().Do(chatRequest(t, context.Background(), e, false))
	require.NoError(t, err)
	resp.Body.Close()
	require.NoError(t, e.Stop(context.Background()))
	_, err = e.HTTPClient().Do(chatRequest(t, context.Background(), e, false))
	require.ErrorIs(t, err, endpoint.ErrClosed)
	assert.Contains(t, err.Error(), `endpoint "managed"`)
	assert.EqualValues(t, 1, up.Requests())
}

// Stop waits for a stream open through the managed client, then cuts it
// at its deadline (and says so): the reader's next read fails with
// ErrClosed.
func TestHTTPClientStreamCutByStop(t *testing.T) {
	opened := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"choices\":[]}\n\n")
		w.(http.Flusher).Flush()
		close(opened)
		<-r.Context().Done()
	})
	e := start(t, baseConfig(u))
	resp, err := e.HTTPClient().Do(chatRequest(t, context.Background(), e, true))
	require.NoError(t, err)
	defer resp.Body.Close()
	<-opened
	rd := bufio.NewReader(resp.Body)
	line, err := rd.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "data: {\"choices\":[]}\n", line)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = e.Stop(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "Stop had to cut the stream")
	assert.ErrorContains(t, err, "1 cancelled")
	_, err = io.ReadAll(rd)
	require.ErrorIs(t, err, endpoint.ErrClosed)
	assert.Contains(t, err.Error(), "cut by shutdown")
}

func TestHTTPClientRefusesAnotherHost(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	e := managedEndpoint(t, up, nil)
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.2:1/v1/models", nil)
	require.NoError(t, err)
	_, err = e.HTTPClient().Do(req)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `endpoint "managed": a request to http://127.0.0.2:1 is outside the endpoint's base URL`)
	assert.NotContains(t, err.Error(), testKey)

	// A relative URL is resolved below the base URL.
	rel, err := http.NewRequest(http.MethodPost, "chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"rel"}]}`))
	require.NoError(t, err)
	rel.URL.Scheme, rel.URL.Host = "", ""
	resp, err := managedTransportOf(e).RoundTrip(rel)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "/v1/chat/completions", up.Last().Path)
}

// managedTransportOf is the managed client's round tripper, for a request
// http.Client.Do would refuse (a relative URL).
func managedTransportOf(e *endpoint.Endpoint) http.RoundTripper { return e.HTTPClient().Transport }

func TestHTTPClientStreamEventOverTheLimit(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	e := managedEndpoint(t, up, func(c *endpoint.Config) { c.Read.MaxEventBytes = 64 << 10 })
	up.Script(khivetest.Fault{Kind: khivetest.EndlessLine})
	resp, err := e.HTTPClient().Do(chatRequest(t, context.Background(), e, true))
	require.NoError(t, err)
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	var rl *endpoint.ReadLimitError
	require.ErrorAs(t, err, &rl)
	assert.Equal(t, "event", rl.What)
	assert.LessOrEqual(t, n, int64(64<<10), "nothing past the limit was handed over")
}

func TestHTTPClientAdaptiveLearnsFromHeaders(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	up.SetHeaders(func(h http.Header) {
		h.Set("x-ratelimit-limit-requests", "120")
		h.Set("x-ratelimit-remaining-requests", "100")
		h.Set("x-ratelimit-reset-requests", "10s")
	})
	e := managedEndpoint(t, up, func(c *endpoint.Config) { c.Limits.Adaptive = true })
	before := e.RequestRate()
	resp, err := e.HTTPClient().Do(chatRequest(t, context.Background(), e, false))
	require.NoError(t, err)
	resp.Body.Close()
	assert.NotEqual(t, before, e.RequestRate(), "the learned rate follows the answer's headers")
	assert.InDelta(t, 120.0/60, e.RequestRate(), 0.5, "about 120 a minute")
}
