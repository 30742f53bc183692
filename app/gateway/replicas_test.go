package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/app/gateway/admission"
	"github.com/khive-go/khive/internal/redistest"
	"github.com/khive-go/khive/khivetest"
)

func startRedis(t testing.TB) *redistest.Server { return redistest.Start(t) }

// replicas starts n gateways sharing one store, each with the key.
func replicas(t *testing.T, n int, store admission.StoreConfig, key admission.ClientKey) []*env {
	var es []*env
	for range n {
		es = append(es, newEnv(t, withKeys(key), func(_ *khive.Config, g *gateway.Config) { g.Store = store }))
	}
	return es
}

// openLoop sends rate requests a second, spread over the replicas, for d,
// each on schedule whatever the answers; it returns the statuses by send
// time and the span from the first send to the last.
func openLoop(t *testing.T, es []*env, key string, perSecond int, d time.Duration, at func(time.Duration)) (map[int]int, time.Duration) {
	return openLoopAs(t, es, key, "fast", perSecond, d, at)
}

// openLoopModel is openLoop with the plain client key, to model.
func openLoopModel(t *testing.T, es []*env, model string, perSecond int, d time.Duration) (map[int]int, time.Duration) {
	return openLoopAs(t, es, teamKey, model, perSecond, d, nil)
}

func openLoopAs(t *testing.T, es []*env, key, model string, perSecond int, d time.Duration, at func(time.Duration)) (map[int]int, time.Duration) {
	client := &http.Client{Timeout: 5 * time.Second}
	n := int(d.Seconds() * float64(perSecond))
	interval := time.Second / time.Duration(perSecond)
	var mu sync.Mutex
	statuses := map[int]int{}
	var hung atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	var last time.Duration
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		if at != nil {
			at(time.Since(start))
		}
		last = time.Since(start)
		e := es[i%len(es)]
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, e.url("/v1/chat/completions"),
				strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := client.Do(req)
			if err != nil {
				hung.Add(1)
				return
			}
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Zero(t, hung.Load(), "every request was answered")
	return statuses, last
}

func TestReplicasShareAKeyOnRedis(t *testing.T) {
	r := startRedis(t)
	key := admission.ClientKey{Key: teamKey, Name: "team", RequestsPerMinute: 6000} // 100/s, burst 100
	es := replicas(t, 3, admission.StoreConfig{Type: "redis", URL: r.URL()}, key)

	statuses, span := openLoop(t, es, teamKey, 300, 5*time.Second, nil)
	allowed := 100 + 100*span.Seconds()
	t.Logf("statuses %v over %v; allowed %.0f", statuses, span.Round(time.Millisecond), allowed)
	assert.InDelta(t, allowed, float64(statuses[http.StatusOK]), allowed*0.03, "three replicas admit one key's limit, not three")
	assert.Equal(t, statuses[http.StatusOK]+statuses[http.StatusTooManyRequests], 1500, "nothing but 200 and 429")
	_, metrics := es[0].get("/metrics")
	assert.Contains(t, metrics, "khive_gateway_store_replicas 3")
	assert.Contains(t, metrics, "khive_gateway_store_up 1")
}

func TestReplicasSurviveRedisRestart(t *testing.T) {
	r := startRedis(t)
	key := admission.ClientKey{Key: teamKey, Name: "team", RequestsPerMinute: 6000}
	es := replicas(t, 3, admission.StoreConfig{Type: "redis", URL: r.URL()}, key)

	var killed, restarted bool
	var sawDown atomic.Bool
	statuses, _ := openLoop(t, es, teamKey, 300, 4500*time.Millisecond, func(at time.Duration) {
		switch {
		case at > 500*time.Millisecond && !killed:
			killed = true
			r.Kill()
		case at > 1500*time.Millisecond && !restarted:
			restarted = true
			_, m := es[0].get("/metrics")
			sawDown.Store(strings.Contains(m, "khive_gateway_store_up 0"))
			r.Restart()
		}
	})
	t.Logf("statuses %v", statuses)
	assert.True(t, sawDown.Load(), "metrics said the store was down")
	assert.Positive(t, statuses[http.StatusOK])
	for _, e := range es {
		_, m := e.get("/metrics")
		assert.Contains(t, m, "khive_gateway_store_up 1", "a heartbeat found Redis back")
		assert.NotContains(t, m, "khive_gateway_store_fallback_total 0\n")
	}
	// Sharing resumed: the key's count lives in Redis again.
	n, err := r.Client().Exists(context.Background(), "khive:key:team").Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
}

func TestReplicasShareAnEndpointsLimitOnRedis(t *testing.T) {
	r := startRedis(t)
	var es []*env
	for range 3 {
		es = append(es, newEnv(t, withKeys(admission.ClientKey{Key: teamKey}), func(c *khive.Config, g *gateway.Config) {
			g.Store = admission.StoreConfig{Type: "redis", URL: r.URL()}
			up := c.Endpoints["up"]
			up.Limits.RequestsPerMinute, up.Limits.Burst, up.Limits.MaxWait = 6000, 100, 300*time.Millisecond // 100/s for all replicas
			c.Endpoints["up"] = up
		}))
	}
	statuses, span := openLoopModel(t, es, "up/gpt-4o-mini", 300, 3*time.Second)
	var upstream int64
	for _, e := range es {
		upstream += e.ups["up"].Requests()
	}
	// Bookings up to nine tenths of max_wait ahead are served after the last send.
	low, high := 100+100*span.Seconds()*0.97, 100+100*(span.Seconds()+0.27)*1.03
	t.Logf("statuses %v over %v; upstream saw %d (allowed %.0f..%.0f)", statuses, span.Round(time.Millisecond), upstream, low, high)
	assert.GreaterOrEqual(t, float64(upstream), low)
	assert.LessOrEqual(t, float64(upstream), high, "three replicas send the provider one endpoint's limit, not three")
	assert.Equal(t, int(upstream), statuses[http.StatusOK])
	assert.Equal(t, 900, statuses[http.StatusOK]+statuses[http.StatusTooManyRequests], "shed requests get 429")
}

// TestReplicasShareAnAdaptiveBucket: three replicas learn one provider's
// bucket from its headers; each claims a third of it, so together they do
// not overrun it at twice its rate.
func TestReplicasShareAnAdaptiveBucket(t *testing.T) {
	r := startRedis(t)
	provider := khivetest.New()
	provider.Key = upstreamKey
	t.Cleanup(provider.Close)
	provider.Enforce(50, 10) // 50/s, a bucket of 10, 429 with OpenAI's headers beyond
	var es []*env
	for range 3 {
		es = append(es, newEnv(t, withKeys(admission.ClientKey{Key: teamKey}), func(c *khive.Config, g *gateway.Config) {
			g.Store = admission.StoreConfig{Type: "redis", URL: r.URL()}
			up := c.Endpoints["up"]
			up.BaseURL = provider.BaseURL()
			// A ceiling above the provider's rate: it binds only until the bucket is
			// learned (a ceiling below it binds always: it is never exceeded).
			up.Limits.Adaptive, up.Limits.MaxWait, up.Limits.RequestsPerMinute, up.Limits.Burst = true, time.Second, 6000, 3
			c.Endpoints["up"] = up
		}))
	}
	// Steady state: every replica has seen the others (heartbeats every 2 s).
	require.Eventually(t, func() bool {
		for _, e := range es {
			if _, m := e.get("/metrics"); !strings.Contains(m, "khive_gateway_store_replicas 3") {
				return false
			}
		}
		return true
	}, 5*time.Second, 50*time.Millisecond)
	statuses, span := openLoopModel(t, es, "up/gpt-4o-mini", 100, 3*time.Second)
	sent, limited := provider.Requests(), provider.Limited()
	t.Logf("statuses %v over %v; the provider saw %d, answered 429 to %d", statuses, span.Round(time.Millisecond), sent, limited)
	assert.LessOrEqual(t, float64(limited), 0.05*float64(sent), "few requests overrun the shared bucket")
	assert.GreaterOrEqual(t, float64(statuses[http.StatusOK]), 0.7*(10+50*span.Seconds()), "most of what the provider allows is served")
}
