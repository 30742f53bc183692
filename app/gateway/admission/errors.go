package admission

import (
	"errors"
	"fmt"
	"time"
)

// LimitError is a refusal by one of a key's limits.
type LimitError struct {
	Key   string // the key's name, never the key
	Limit string // the config field: requests_per_minute, tokens_per_minute or max_concurrency
	// Max is max_concurrency's value; 0 for rates.
	Max int
	// RetryAfter is when the request would be admitted: a rate's next
	// token (what it lacks, at its rate); a second for concurrency.
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	if e.Limit == fieldConcurrency {
		return fmt.Sprintf("key %s has %d requests in progress, its max_concurrency", e.Key, e.Max)
	}
	return fmt.Sprintf("key %s is over its %s; retry after %v", e.Key, e.Limit, e.RetryAfter.Round(time.Millisecond))
}

// Concurrency reports whether max_concurrency refused the request (else a
// rate did).
func (e *LimitError) Concurrency() bool { return e.Limit == fieldConcurrency }

// ErrStoreUnavailable is on_store_error: deny's refusal while Redis fails,
// for every key with a limit, whichever kind.
var ErrStoreUnavailable = errors.New("the gateway cannot count this key's limits right now")
