package gateway_test

import (
	"encoding/json"
	"fmt"
	"math"
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
)

// budgetReplica is a gateway on store with the usage upstream priced so
// that every chat request costs exactly $0.01 (its 10000 tokens in at
// $0.50/M, cached ones too, and 1000 out at $5/M), a key with a $1 total
// budget and an admin key.
func budgetReplica(t *testing.T, upURL string, store admission.StoreConfig) *env {
	return newEnv(t, withUsageUpstream(upURL), withKeys(
		admission.ClientKey{Key: teamKey, Name: "team", Budget: &admission.Budget{USD: 1, Period: "total"}},
		admission.ClientKey{Key: "admin-key", Name: "ops", Admin: true},
	), func(_ *khive.Config, g *gateway.Config) {
		g.Store = store
		g.Prices = map[string]admission.Price{"u-chat": {InputPerMTok: 0.5, CachedInputPerMTok: 0.5, OutputPerMTok: 5}}
	})
}

// spent reads the team key's budget through e.
func spent(t *testing.T, e *env) admission.Spending {
	t.Helper()
	status, _, body := e.getAs("admin-key", "/v1/khive/spend")
	require.Equal(t, http.StatusOK, status, body)
	var list struct {
		Data []admission.Spending `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Len(t, list.Data, 1)
	return list.Data[0]
}

func TestBudgetHoldsAcrossReplicasOnRedis(t *testing.T) {
	for _, onErr := range []string{"deny", "allow"} {
		t.Run(onErr, func(t *testing.T) { budgetAcrossReplicas(t, onErr) })
	}
}

// budgetAcrossReplicas spends a $1 budget from 12 clients over three
// replicas, Redis killed (and restarted, with what it had written) after
// the first 30 requests.
func budgetAcrossReplicas(t *testing.T, onErr string) {
	r := redistest.StartPersistent(t)
	up := usageUpstream(t)
	store := admission.StoreConfig{Type: "redis", URL: r.URL(), OnStoreError: onErr, LeaseTTL: 2 * time.Second}
	var es []*env
	for range 3 {
		es = append(es, budgetReplica(t, up.URL, store))
	}
	// A replica's share while Redis fails is 1 / the replicas it has seen:
	// let each see the others (a heartbeat, every lease_ttl / 3 here).
	for _, e := range es {
		require.Eventually(t, func() bool {
			_, m := e.get("/metrics")
			return metricValue(t, m, "khive_gateway_store_replicas") == 3
		}, 3*time.Second, 10*time.Millisecond)
	}
	// Each request costs $0.01 and holds its worst case first: ~20 tokens
	// in and its max_tokens of 2000 out, $0.01001.
	const cost, worst = 0.01, 0.01001
	body := `{"model":"u-chat/m","max_tokens":2000,"messages":[{"role":"user","content":"hi"}]}`

	var ok, okWhileDown, refused, unavailable, other atomic.Int64
	var killed, restarted atomic.Bool
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for c := range 12 { // 12 concurrent clients over the replicas
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				status, h, b := es[(c+i)%3].post("/v1/chat/completions", body, "Authorization", "Bearer "+teamKey)
				switch {
				case status == http.StatusOK:
					ok.Add(1)
					if killed.Load() && !restarted.Load() {
						okWhileDown.Add(1)
					}
				case status == http.StatusTooManyRequests && h.Get("X-Should-Retry") == "false":
					refused.Add(1)
				case status == http.StatusServiceUnavailable:
					unavailable.Add(1)
					time.Sleep(5 * time.Millisecond) // it says Retry-After: 1; the test does not wait that long
				default:
					other.Add(1)
					t.Errorf("status %d: %s", status, b)
				}
				if ok.Load() >= 30 && !killed.Load() {
					killed.Store(true)
					r.Kill() // Redis dies with requests in flight: deny refuses until it is back
					time.AfterFunc(300*time.Millisecond, func() { r.Restart(); restarted.Store(true) })
				}
				if refused.Load() >= 30 && restarted.Load() {
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		close(stop)
		<-done
		t.Fatal("the budget was never spent")
	}
	require.True(t, restarted.Load())
	var got admission.Spending
	require.Eventually(t, func() bool {
		got = spent(t, es[0])
		return got.Held == 0 && math.Abs(got.Spent-float64(ok.Load())*cost) < 1e-9
	}, 5*time.Second, 20*time.Millisecond,
		"every hold settled at its cost, once, those of the outage too, once Redis was back: spent %v for %d admitted", got.Spent, ok.Load())
	t.Logf("%s: admitted %d (%d while Redis was down), refused by budget %d, store unavailable %d; spent $%.4f of $1",
		onErr, ok.Load(), okWhileDown.Load(), refused.Load(), unavailable.Load(), got.Spent)
	assert.GreaterOrEqual(t, got.Spent, 1-worst, "the budget is used to its end")
	if onErr == "deny" {
		assert.Positive(t, unavailable.Load(), "on_store_error: deny refused while Redis was down")
		assert.LessOrEqual(t, got.Spent, 1+worst, "the budget holds across replicas")
	} else {
		// Each replica decides alone from its first failed round trip to
		// the heartbeat that finds Redis back.
		var local float64
		for _, e := range es {
			_, m := e.get("/metrics")
			local += metricValue(t, m, "khive_gateway_store_fallback_total")
		}
		t.Logf("allow: %v admissions decided without Redis", local)
		assert.Positive(t, local)
		assert.Positive(t, okWhileDown.Load(), "allow admits while Redis is down, within the replica's share")
		// Each replica's share is of what was left when it last heard
		// from Redis; those views differ by at most the 12 requests in
		// flight when Redis died.
		assert.LessOrEqual(t, got.Spent, 1+worst+12*cost, "each replica spent at most its share of what was left")
	}

	// A replica started now (as one restarted mid-period) sees the spend
	// and refuses.
	fresh := budgetReplica(t, up.URL, store)
	assert.InDelta(t, got.Spent, spent(t, fresh).Spent, 1e-9)
	status, _, b := fresh.post("/v1/chat/completions", body, "Authorization", "Bearer "+teamKey)
	assert.Equal(t, http.StatusTooManyRequests, status, b)
	assert.Zero(t, other.Load())
}

// metricValue reads an unlabelled series from a /metrics page.
func metricValue(t *testing.T, metrics, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			require.NoError(t, err)
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}
