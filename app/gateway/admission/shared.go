package admission

import (
	"context"
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
)

// For implements Store: an endpoint with configured rates (and not
// adaptive) books them in Redis, shared by every replica; nil otherwise.
func (s *redisStore) For(cfg endpoint.Config) executor.SharedLimiter {
	l := cfg.Limits
	rpm := l.RequestRate() * 60
	if l.Adaptive || (rpm <= 0 && l.TokensPerMinute <= 0) {
		return nil
	}
	sh := &sharedEndpoint{s: s}
	if rpm > 0 {
		sh.limits = append(sh.limits, newLimit(fieldRequests, "ep:req:"+cfg.Name, max(1, int(math.Ceil(rpm))), max(1, l.Burst)))
	}
	if l.TokensPerMinute > 0 {
		tpm := max(1, int(math.Ceil(l.TokensPerMinute)))
		burst := tpm
		if l.TokenBurst > 0 {
			burst = l.TokenBurst
		}
		sh.limits = append(sh.limits, newLimit(fieldTokens, "ep:tok:"+cfg.Name, tpm, burst))
	}
	return sh
}

// sharedEndpoint is one endpoint's configured rates in Redis.
type sharedEndpoint struct {
	s      *redisStore
	limits []*limit
}

// Reserve books the request and its tokens in Redis, for now or a time to
// come, within the store's timeout and ctx; while Redis fails, in local
// limiters at rate / replicas. A caller that leaves ends the round trip
// and gets ctx's error.
func (sh *sharedEndpoint) Reserve(ctx context.Context, now time.Time, _ string, cost int) (executor.Reservation, error) {
	s := sh.s
	costOf := func(l *limit) int { return l.cost(cost) }
	if !s.failing.Load() {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		res, err := s.runGCRA(rctx, sh.limits, true, costOf)
		cancel()
		switch {
		case err == nil && len(res) == 3:
			s.recovered()
			back := make([]int64, len(sh.limits))
			for i, l := range sh.limits {
				back[i] = max(1, l.interval().Microseconds()) * int64(costOf(l))
			}
			return &redisReservation{sh: sh, due: now.Add(time.Duration(max(0, res[2])) * time.Microsecond), back: back}, nil
		case ctx.Err() != nil:
			return nil, fmt.Errorf("shared limit in redis: %w", ctx.Err())
		case err != nil:
			s.failed(err)
		}
	}
	s.fallback.Add(1)
	rs := make(localReservations, 0, len(sh.limits))
	for _, l := range sh.limits {
		rs = append(rs, s.limiterOf(l).ReserveN(now, costOf(l)))
	}
	return rs, nil
}

// redisReservation is a booking in Redis; cancelling gives it back.
type redisReservation struct {
	sh   *sharedEndpoint
	due  time.Time
	back []int64 // µs per limit
	done bool
}

func (r *redisReservation) DelayFrom(now time.Time) time.Duration { return max(0, r.due.Sub(now)) }

func (r *redisReservation) CancelAt(now time.Time) {
	if r.done || !r.due.After(now) {
		return
	}
	r.done = true
	s := r.sh.s
	keys := make([]string, len(r.sh.limits))
	args := make([]any, len(r.back))
	for i, l := range r.sh.limits {
		keys[i], args[i] = s.cfg.Prefix+l.id, r.back[i]
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	if err := ungcra.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		s.failed(err)
	}
}

// localReservations are the fallback's, one per limit.
type localReservations []*rate.Reservation

func (rs localReservations) DelayFrom(now time.Time) time.Duration {
	var d time.Duration
	for _, r := range rs {
		d = max(d, r.DelayFrom(now))
	}
	return d
}

func (rs localReservations) CancelAt(now time.Time) {
	for _, r := range rs {
		r.CancelAt(now)
	}
}
