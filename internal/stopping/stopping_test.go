package stopping_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/khive-go/khive/internal/stopping"
)

func TestReserve(t *testing.T) {
	for _, tt := range []struct{ left, want time.Duration }{
		{-time.Second, 0}, {30 * time.Millisecond, 30 * time.Millisecond}, {100 * time.Millisecond, 100 * time.Millisecond}, {200 * time.Millisecond, 100 * time.Millisecond},
		{time.Second, 250 * time.Millisecond}, {time.Minute, 2 * time.Second},
	} {
		assert.Equal(t, tt.want, stopping.Reserve(tt.left), "left %v", tt.left)
	}
}

// The phases of a 1 s stop: drain until 750 ms, cancelled work waited for
// until 937.5 ms, closes done by 968.75 ms; a component planned After another
// begins when that one has drained.
func TestPlanPhases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		plan, release := stopping.New(ctx)
		defer release()
		assert.Equal(t, start.Add(968750*time.Microsecond), plan.CloseBy())

		first := make(chan struct{})
		drainedAt := make(chan time.Duration, 1)
		go func() {
			assert.True(t, plan.Drain(first), "its work ended before the drain did")
			drainedAt <- time.Since(start)
		}()
		began := make(chan time.Duration, 1)
		go func() {
			plan.After(first).Begin()
			began <- time.Since(start)
		}()
		time.Sleep(100 * time.Millisecond)
		close(first)
		assert.Equal(t, 100*time.Millisecond, <-drainedAt)
		assert.Equal(t, 100*time.Millisecond, <-began, "the later component begins once the first has drained")

		never := make(chan struct{})
		assert.False(t, plan.Drain(never))
		assert.Equal(t, 750*time.Millisecond, time.Since(start), "the drain ends at the deadline less the reserve")
		plan.After(never).Begin() // the drain's end begins every component
		assert.False(t, plan.WaitCancelled(never))
		assert.Equal(t, 937500*time.Microsecond, time.Since(start), "cancelled work is abandoned with a quarter of the reserve left")

		cctx, ccancel := plan.CloseContext(ctx)
		defer ccancel()
		dl, ok := cctx.Deadline()
		assert.True(t, ok)
		assert.Equal(t, plan.CloseBy(), dl)
	})
}

func TestPlanTravelsInTheContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		plan, release := stopping.New(ctx)
		defer release()
		time.Sleep(500 * time.Millisecond)
		got, _ := stopping.From(stopping.With(ctx, plan))
		assert.Equal(t, plan.CloseBy(), got.CloseBy(), "the carried plan, not a new one from what is left")
		fresh, freshRelease := stopping.From(ctx)
		defer freshRelease()
		assert.NotEqual(t, plan.CloseBy(), fresh.CloseBy())
	})
}

func TestPlanWithoutDeadlineWaitsForTheWork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		plan, release := stopping.New(ctx)
		defer release()
		done := make(chan struct{})
		go func() { time.Sleep(time.Hour); cancel() }()
		assert.False(t, plan.Drain(done), "the drain lasts until ctx ends")
		go func() { time.Sleep(time.Hour); close(done) }()
		assert.True(t, plan.WaitCancelled(done), "and cancelled work is waited for until it returns")
		assert.True(t, plan.CloseBy().IsZero())
	})
}

func TestPlanOfAnExpiredContextWaitsALittle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		time.Sleep(time.Second)
		start := time.Now()
		plan, release := stopping.New(ctx)
		defer release()
		never := make(chan struct{})
		assert.False(t, plan.Drain(never))
		assert.False(t, plan.WaitCancelled(never))
		assert.Equal(t, stopping.MinCancelWait, time.Since(start))
	})
}

func TestPlanCutAndDrainEndOfItsOwn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		plan, release := stopping.New(ctx)
		defer release()
		cut := make(chan struct{})
		first := plan.OnCut(func() { close(cut) })
		later := plan.EndDrainWith(cut)
		never := make(chan struct{})
		start := time.Now()
		go func() {
			first.Drain(never)
			time.Sleep(time.Millisecond) // its cancelling takes a moment
			first.Cut()
		}()
		assert.False(t, later.Drain(never))
		assert.Equal(t, 751*time.Millisecond, time.Since(start), "the later component's drain ends when the first has cut its work")
		plan.Cut() // without OnCut: nothing
		assert.NotNil(t, plan.Inner().DrainEnd(), "Inner keeps the drain's end")
	})
}
