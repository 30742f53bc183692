package endpoint

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type transitions struct {
	mu sync.Mutex
	s  []string
}

func (tr *transitions) record(from, to BreakerState) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.s = append(tr.s, from.String()+"->"+to.String())
}

func callWith(t *testing.T, b *breaker, o outcome) {
	t.Helper()
	_, ok := b.allow(time.Now())
	require.True(t, ok)
	b.done(time.Now(), o)
}

func TestBreakerConsecutiveFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &transitions{}
		b := newBreaker(BreakerConfig{ConsecutiveFailures: 3, Window: time.Minute, MinCalls: 10, OpenFor: 10 * time.Second, HalfOpenCalls: 2}, tr.record)

		callWith(t, b, outcomeFailure)
		callWith(t, b, outcomeFailure)
		callWith(t, b, outcomeSuccess) // resets the run
		callWith(t, b, outcomeIgnore)  // 429s and cancellations say nothing
		callWith(t, b, outcomeFailure)
		callWith(t, b, outcomeFailure)
		assert.Equal(t, BreakerClosed, b.State())
		callWith(t, b, outcomeFailure)
		assert.Equal(t, BreakerOpen, b.State())

		time.Sleep(4 * time.Second)
		rem, ok := b.allow(time.Now())
		assert.False(t, ok)
		assert.Equal(t, 6*time.Second, rem, "the refusal says how long the circuit stays open")

		time.Sleep(6 * time.Second)
		assert.Equal(t, BreakerHalfOpen, b.State())
		_, ok1 := b.allow(time.Now())
		_, ok2 := b.allow(time.Now())
		_, ok3 := b.allow(time.Now())
		assert.True(t, ok1)
		assert.True(t, ok2)
		assert.False(t, ok3, "half-open admits only HalfOpenCalls trials")
		b.done(time.Now(), outcomeSuccess)
		assert.Equal(t, BreakerHalfOpen, b.State(), "one success of two is not enough")
		b.done(time.Now(), outcomeSuccess)
		assert.Equal(t, BreakerClosed, b.State())

		assert.Equal(t, []string{"closed->open", "open->half-open", "half-open->closed"}, tr.s)
	})
}

func TestBreakerHalfOpenFailureReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(BreakerConfig{ConsecutiveFailures: 1, Window: time.Minute, MinCalls: 10, OpenFor: time.Second, HalfOpenCalls: 1}, nil)
		callWith(t, b, outcomeFailure)
		time.Sleep(time.Second)
		callWith(t, b, outcomeFailure)
		assert.Equal(t, BreakerOpen, b.State())
		rem, ok := b.allow(time.Now())
		assert.False(t, ok)
		assert.Equal(t, time.Second, rem, "reopened for a full OpenFor")
	})
}

func TestBreakerFailureRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(BreakerConfig{ConsecutiveFailures: 100, FailureRate: 0.5, Window: 10 * time.Second, MinCalls: 10, OpenFor: time.Second, HalfOpenCalls: 1}, nil)
		// Alternate: 50% failures, never 2 in a row. Opens on the 10th call.
		for i := range 9 {
			callWith(t, b, []outcome{outcomeSuccess, outcomeFailure}[i%2])
			assert.Equal(t, BreakerClosed, b.State(), "fewer than MinCalls calls")
		}
		callWith(t, b, outcomeFailure)
		assert.Equal(t, BreakerOpen, b.State())
	})
}

func TestBreakerRateWindowRolls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(BreakerConfig{ConsecutiveFailures: 100, FailureRate: 0.7, Window: 10 * time.Second, MinCalls: 4, OpenFor: time.Second, HalfOpenCalls: 1}, nil)
		for range 6 {
			callWith(t, b, outcomeSuccess)
		}
		time.Sleep(11 * time.Second) // those successes leave the window
		for range 3 {
			callWith(t, b, outcomeFailure)
			assert.Equal(t, BreakerClosed, b.State(), "fewer than MinCalls in the window")
		}
		// 4 of 4 in the window; had the old successes counted it would be 4 of 10.
		callWith(t, b, outcomeFailure)
		assert.Equal(t, BreakerOpen, b.State())
	})
}
