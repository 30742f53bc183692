package admission

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/internal/redistest"
)

func TestRedisLeaseIsRenewedWhileHeldAndExpiresWhenItsReplicaDies(t *testing.T) {
	m := miniredis.RunT(t)
	t0 := time.Unix(1_800_000_000, 0)
	m.SetTime(t0)
	cfg := StoreConfig{URL: "redis://" + m.Addr(), LeaseTTL: 3 * time.Second}
	a, _ := openRedis(t, cfg)
	b, _ := openRedis(t, cfg)
	c := ClientKey{Name: "team", MaxConcurrency: 1}
	ka, kb := key(t, c), key(t, c) // the same key on two replicas
	ctx := context.Background()

	held, err := a.Admit(ctx, ka, 0)
	require.NoError(t, err)
	m.SetTime(t0.Add(2 * time.Second))
	a.beat(ctx) // a's heartbeat renews its slot for another 3 s
	m.SetTime(t0.Add(4 * time.Second))
	_, err = b.Admit(ctx, kb, 0)
	assert.True(t, limitError(t, err).Concurrency(), "a renewed slot outlives its first TTL")
	held.End(0)
	lb, err := b.Admit(ctx, kb, 0)
	require.NoError(t, err, "a slot given back is free at once")
	lb.End(0)

	// a takes the slot and dies: its lease expires a TTL after its last
	// renewal.
	_, err = a.Admit(ctx, ka, 0)
	require.NoError(t, err)
	require.NoError(t, a.Stop(ctx)) // renews once more, then is gone
	m.SetTime(t0.Add(4*time.Second + 2900*time.Millisecond))
	_, err = b.Admit(ctx, kb, 0)
	assert.True(t, limitError(t, err).Concurrency(), "held until its TTL")
	m.SetTime(t0.Add(7*time.Second + 100*time.Millisecond))
	lb, err = b.Admit(ctx, kb, 0)
	require.NoError(t, err, "the dead replica's slot expired")
	lb.End(0)
}

func TestRedisSlotOfAnAdmissionWhoseCallerLeftIsRemoved(t *testing.T) {
	m := miniredis.RunT(t)
	s, _ := openRedis(t, StoreConfig{URL: "redis://" + m.Addr()})
	k := key(t, ClientKey{Name: "team", MaxConcurrency: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Admit(ctx, k, 0)
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, k.inFlight.Load())
	_, lost := s.slots.counts()
	assert.Equal(t, 1, lost, "the slot Redis may have granted is remembered")
	s.beat(context.Background())
	_, lost = s.slots.counts()
	assert.Zero(t, lost, "and removed at the next heartbeat")
	l, err := s.Admit(context.Background(), k, 0)
	require.NoError(t, err)
	l.End(0)
}

// churn admits and ends requests of k from 20 goroutines until stop is
// closed, counting the admissions.
func churn(s Store, k *Key, stop <-chan struct{}) (wait func() int64) {
	var wg sync.WaitGroup
	var admitted atomic.Int64
	for range 20 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				l, err := s.Admit(context.Background(), k, 0)
				if err != nil {
					time.Sleep(time.Millisecond)
					continue
				}
				admitted.Add(1)
				time.Sleep(2 * time.Millisecond)
				l.End(0)
			}
		})
	}
	return func() int64 { wg.Wait(); return admitted.Load() }
}

// requireSlotsFree waits (within the lease TTL) until Redis holds none of
// k's slots and the store remembers none, then admits max_concurrency
// requests at once.
func requireSlotsFree(t *testing.T, r *redistest.Server, s *redisStore, k *Key, within time.Duration) {
	t.Helper()
	rc := r.Client()
	slotKey := s.slotKey(k)
	var inRedis int64
	require.Eventually(t, func() bool {
		inRedis = rc.ZCard(context.Background(), slotKey).Val()
		held, lost := s.slots.counts()
		return inRedis == 0 && held == 0 && lost == 0
	}, within, 20*time.Millisecond, "slots still in Redis with nothing in flight")
	var leases []*Lease
	for i := range k.maxConc {
		l, err := s.Admit(context.Background(), k, 0)
		require.NoError(t, err, "admission %d after the fault", i)
		leases = append(leases, l)
	}
	assert.Equal(t, k.maxConc, rc.ZCard(context.Background(), slotKey).Val(), "every slot shared in Redis again")
	for _, l := range leases {
		l.End(0)
	}
}

func TestRedisSlotsReturnAfterRedisStallsUnderLoad(t *testing.T) {
	r := redistest.Start(t)
	s, _ := openRedis(t, StoreConfig{URL: r.URL(), LeaseTTL: 1500 * time.Millisecond})
	k := key(t, ClientKey{Name: "team", MaxConcurrency: 20})
	stop := make(chan struct{})
	wait := churn(s, k, stop)
	time.Sleep(200 * time.Millisecond)
	// Redis blocks for 2 s: round trips time out on the gateway's side
	// while Redis queues them, and runs them when it wakes.
	require.NoError(t, r.Client().Do(context.Background(), "DEBUG", "SLEEP", "2").Err())
	time.Sleep(200 * time.Millisecond)
	close(stop)
	admitted := wait()
	assert.Positive(t, admitted)
	assert.Positive(t, s.Health().Errors, "the round trips in the sleep failed")
	assert.Positive(t, s.Health().Fallbacks, "and were decided locally (allow)")
	requireSlotsFree(t, r, s, k, 1500*time.Millisecond)
}

func TestRedisSlotsReturnAfterABlockedConnection(t *testing.T) {
	r := redistest.Start(t)
	p := redistest.NewProxy(t, r.Addr())
	s, _ := openRedis(t, StoreConfig{URL: "redis://" + p.Addr(), LeaseTTL: 1500 * time.Millisecond})
	k := key(t, ClientKey{Name: "team", MaxConcurrency: 20})
	stop := make(chan struct{})
	wait := churn(s, k, stop)
	time.Sleep(200 * time.Millisecond)
	// The network holds every byte for a second, then delivers it: slots
	// the gateway gave up waiting for are granted late.
	p.Stall()
	time.Sleep(time.Second)
	p.Resume()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wait()
	assert.Positive(t, s.Health().Errors)
	requireSlotsFree(t, r, s, k, 1500*time.Millisecond)
}
