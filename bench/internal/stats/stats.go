// Package stats summarises latency samples.
package stats

import (
	"slices"
	"time"
)

// Summary of a sample.
type Summary struct {
	N              int
	Mean, P50, P99 time.Duration
	Max            time.Duration
}

// Of summarises d (which it sorts).
func Of(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return Summary{N: len(d), Mean: sum / time.Duration(len(d)), P50: at(0.50), P99: at(0.99), Max: d[len(d)-1]}
}
