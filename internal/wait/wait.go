// Package wait is khive's one context-aware sleep.
package wait

import (
	"context"
	"fmt"
	"time"
)

// Sleep waits d or until ctx is done. It refuses at once, with an error
// wrapping context.DeadlineExceeded, when ctx's deadline comes before the
// wait would end: there is no point sleeping past it.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return fmt.Errorf("wait of %v does not fit before the context deadline: %w", d, context.DeadlineExceeded)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
