package admission

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPriceCostCountsCachedTokensAtTheirPrice(t *testing.T) {
	gpt, ok := ShippedPrice("openai", "gpt-4.1-mini-2025-04-14")
	require.True(t, ok, "a dated snapshot is priced as its alias")
	// 10k prompt tokens of which 8k cached, 1k completion: 2k × 0.40 + 8k × 0.10 + 1k × 1.60 per million.
	assert.InDelta(t, (2000*0.40+8000*0.10+1000*1.60)/1e6, gpt.Cost(Usage{Input: 10000, CachedInput: 8000, Output: 1000}), 1e-12)

	claude, ok := ShippedPrice("anthropic", "claude-sonnet-4-5-20250929")
	require.True(t, ok)
	// Anthropic: 100 uncached + 5000 read + 2000 written, 300 out.
	u := Usage{Input: 100 + 5000 + 2000, CachedInput: 5000, CacheWrite: 2000, Output: 300}
	assert.InDelta(t, (100*3.00+5000*0.30+2000*3.75+300*15.00)/1e6, claude.Cost(u), 1e-12)

	emb, ok := ShippedPrice("openai", "text-embedding-3-small")
	require.True(t, ok)
	assert.InDelta(t, 1000*0.02/1e6, emb.Cost(Usage{Input: 1000, CachedInput: 100}), 1e-12, "no cached price: cached tokens cost input")

	_, ok = ShippedPrice("openai", "gpt-unknown")
	assert.False(t, ok, "a model the table lacks has no price (unknown, never 0)")
	_, ok = ShippedPrice("groq", "gpt-4o")
	assert.False(t, ok, "prices are the provider's own")
}

func TestShippedPricesAreValid(t *testing.T) {
	require.NotEmpty(t, shipped()["openai"])
	require.NotEmpty(t, shipped()["anthropic"])
	for provider, models := range shipped() {
		for model, p := range models {
			assert.NoError(t, p.Validate(), "%s/%s", provider, model)
			assert.Positive(t, p.InputPerMTok, "%s/%s", provider, model)
		}
	}
	assert.Len(t, errorsOf(Price{InputPerMTok: -1, OutputPerMTok: -2}.Validate()), 2)
}

func TestPeriodsAreUTCCalendarOnes(t *testing.T) {
	now := time.Date(2026, 12, 1, 15, 4, 5, 0, time.FixedZone("X", -8*3600)) // 23:04:05 UTC, a Tuesday
	for kind, want := range map[string]struct {
		id  string
		end time.Time
	}{
		"day":   {"2026-12-01", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)},
		"week":  {"2026-W49", time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)},
		"month": {"2026-12", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		"total": {"total", time.Time{}},
	} {
		id, end := periodOf(kind, now)
		assert.Equal(t, want.id, id, kind)
		assert.True(t, want.end.Equal(end), "%s ends %v, want %v", kind, end, want.end)
	}
	id, end := periodOf("week", time.Date(2026, 12, 6, 23, 59, 0, 0, time.UTC)) // Sunday
	assert.Equal(t, "2026-W49", id)
	assert.Equal(t, time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), end)
}

func asBudgetError(t *testing.T, err error) *BudgetError {
	t.Helper()
	var be *BudgetError
	require.ErrorAs(t, err, &be)
	return be
}

func TestStoreBudgetsHoldTheWorstCaseAndSettleTheCost(t *testing.T) {
	for _, f := range stores(t, StoreConfig{}) {
		t.Run(f.name, func(t *testing.T) {
			teams := []Team{{Name: "research-" + f.name, Budget: &Budget{USD: 1.5, Period: "month"}}}
			keys := []ClientKey{
				{Key: "a", Name: "a-" + f.name, Team: teams[0].Name, Budget: &Budget{USD: 1, Period: "total"}},
				{Key: "b", Name: "b-" + f.name, Team: teams[0].Name},
				{Key: "c", Name: "free-" + f.name},
			}
			require.NoError(t, ValidateKeys(keys, teams))
			r := NewKeyring(keys, teams)
			a, b, free := r.Find("a"), r.Find("b"), r.Find("c")
			ctx := context.Background()

			h1, err := f.store.Reserve(ctx, a, 0.6)
			require.NoError(t, err)
			_, err = f.store.Reserve(ctx, a, 0.5)
			be := asBudgetError(t, err)
			assert.Equal(t, "key", be.Kind)
			assert.Equal(t, "total", be.Period)
			assert.Zero(t, be.RetryAfter, "a total budget never renews")
			assert.InDelta(t, 0.6, be.Held, 1e-9)
			assert.Contains(t, err.Error(), "budget of $1.00")

			h1.Settle(0.25) // it cost less than its worst case
			h1.Settle(5)    // once
			h2, err := f.store.Reserve(ctx, a, 0.5)
			require.NoError(t, err, "the settled cost freed the rest of the hold")

			// The team's budget counts both keys: a holds 0.5 and spent 0.25.
			_, err = f.store.Reserve(ctx, b, 0.8)
			be = asBudgetError(t, err)
			assert.Equal(t, "team", be.Kind)
			assert.Equal(t, teams[0].Name, be.Name)
			assert.Positive(t, be.RetryAfter, "a month budget renews at the month's end")
			assert.LessOrEqual(t, be.RetryAfter, 31*24*time.Hour)
			hb, err := f.store.Reserve(ctx, b, 0.7)
			require.NoError(t, err)

			nothing, err := f.store.Reserve(ctx, free, 100)
			require.NoError(t, err)
			assert.Nil(t, nothing, "a key without budgets holds nothing")
			nothing.Settle(1) // and settling nil is fine

			sp, err := f.store.Spending(ctx, r)
			require.NoError(t, err)
			byName := map[string]Spending{}
			for _, s := range sp {
				byName[s.Kind+"/"+s.Name] = s
			}
			require.Len(t, byName, 2, "a's budget and the team's, once")
			assert.InDelta(t, 0.25, byName["key/"+a.Name()].Spent, 1e-9)
			assert.InDelta(t, 0.5, byName["key/"+a.Name()].Held, 1e-9)
			team := byName["team/"+teams[0].Name]
			assert.InDelta(t, 0.25, team.Spent, 1e-9)
			assert.InDelta(t, 1.2, team.Held, 1e-9)
			assert.InDelta(t, 1.5, team.Budget, 1e-9)
			h2.Settle(0.5)
			hb.Settle(0.1)
			sp, err = f.store.Spending(ctx, r)
			require.NoError(t, err)
			for _, s := range sp {
				assert.Zero(t, s.Held, s.Name)
			}
		})
	}
}

func TestRedisBudgetHoldOfADeadReplicaExpires(t *testing.T) {
	m := miniredis.RunT(t)
	t0 := time.Now().Truncate(time.Second)
	m.SetTime(t0)
	cfg := StoreConfig{URL: "redis://" + m.Addr(), LeaseTTL: 3 * time.Second}
	a, _ := openRedis(t, cfg)
	b, _ := openRedis(t, cfg)
	c := []ClientKey{{Key: "k", Name: "team", Budget: &Budget{USD: 1, Period: "total"}}}
	ka, kb := NewKeyring(c, nil).Find("k"), NewKeyring(c, nil).Find("k")
	ctx := context.Background()
	_, err := a.Reserve(ctx, ka, 0.9)
	require.NoError(t, err)
	require.NoError(t, a.Stop(ctx)) // a dies holding 0.9
	_, err = b.Reserve(ctx, kb, 0.5)
	asBudgetError(t, err)
	m.SetTime(t0.Add(3100 * time.Millisecond))
	h, err := b.Reserve(ctx, kb, 0.5)
	require.NoError(t, err, "the dead replica's hold expired with its lease")
	h.Settle(0.5)
}

func TestRedisBudgetSettlementWaitsForRedis(t *testing.T) {
	m := miniredis.RunT(t)
	s, _ := openRedis(t, StoreConfig{URL: "redis://" + m.Addr(), OnStoreError: "allow"})
	r := NewKeyring([]ClientKey{{Key: "k", Name: "team", Budget: &Budget{USD: 1, Period: "day"}}}, nil)
	k := r.Find("k")
	ctx := context.Background()
	h, err := s.Reserve(ctx, k, 0.5)
	require.NoError(t, err)
	m.Close()
	h.Settle(0.4) // Redis is down: kept
	assert.Equal(t, 1, s.settlements.len())
	h2, err := s.Reserve(ctx, k, 0.5)
	require.NoError(t, err, "allow: admitted while Redis fails")
	h2.Settle(0.3)
	require.NoError(t, m.Restart())
	s.beat(ctx)
	assert.Zero(t, s.settlements.len(), "applied once Redis answers")
	sp, err := s.Spending(ctx, r)
	require.NoError(t, err)
	require.Len(t, sp, 1)
	assert.InDelta(t, 0.7, sp[0].Spent, 1e-9, "both costs counted")
	assert.Zero(t, sp[0].Held)
	ttl := m.TTL("khive:budget:key:team:" + sp[0].Period + ":spent")
	assert.Greater(t, ttl, 7*24*time.Hour, "a period's count outlives the period by a week")

	deny, _ := openRedis(t, StoreConfig{URL: "redis://" + m.Addr(), OnStoreError: "deny"})
	m.Close()
	_, err = deny.Reserve(ctx, k, 0.1)
	require.ErrorIs(t, err, ErrStoreUnavailable)
	require.NoError(t, m.Restart())
}

func TestUndatedStripsOnlySnapshotSuffixes(t *testing.T) {
	for in, want := range map[string]string{
		"claude-sonnet-4-5-20250929": "claude-sonnet-4-5",
		"gpt-4o-mini-2024-07-18":     "gpt-4o-mini",
		"gpt-4o":                     "gpt-4o",
		"model-2024":                 "model-2024",
		"x-2024-07-1a":               "x-2024-07-1a",
		"-20250929":                  "-20250929",
	} {
		got, _ := undated(in)
		assert.Equal(t, want, got, in)
	}
}
