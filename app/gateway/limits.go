package gateway

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// defaultMaxConnections is half the process's open-file limit: the other
// half is left for upstream connections and files. 512 when the limit
// cannot be read.
func defaultMaxConnections() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 512
	}
	return max(int(min(rl.Cur, 1<<20)/2), 16)
}

// smallBody is what a request may hold without a share of
// MaxInflightBodyBytes: max_connections bounds the total of these.
const smallBody = 64 << 10

// bodyBudget bounds the request bodies held in memory at once.
type bodyBudget struct {
	mu    sync.Mutex
	limit int64
	used  int64
}

// share is what a body of n bytes takes of the budget: nothing up to
// smallBody, all of it beyond.
func share(n int64) int64 {
	if n <= smallBody {
		return 0
	}
	return n
}

// grow takes what a body growing from held to n bytes adds to its share,
// or reports false when that does not fit now (a body alone is admitted
// whatever its size: max_body_bytes bounds it).
func (b *bodyBudget) grow(held, n int64) bool {
	d := share(n) - share(held)
	if d <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+d > b.limit && b.used > share(held) {
		return false
	}
	b.used += d
	return true
}

// give returns a body's share of n bytes.
func (b *bodyBudget) give(n int64) {
	if share(n) == 0 {
		return
	}
	b.mu.Lock()
	b.used -= share(n)
	b.mu.Unlock()
}

func busyError() *apiError {
	return &apiError{status: http.StatusServiceUnavailable, typ: "server_error", code: "busy",
		message: "the gateway holds too many request bodies right now; retry shortly",
		header:  http.Header{"Retry-After": {strconv.Itoa(1)}, "Retry-After-Ms": {strconv.Itoa(int(time.Second / time.Millisecond))}}}
}

// deadlineBody ends the read deadline once the body has been read whole,
// so a long stream is not cut by it (net/http's background read cancels
// the request when a read deadline passes).
type deadlineBody struct {
	body interface {
		Read([]byte) (int, error)
		Close() error
	}
	rc       *http.ResponseController
	done     bool // read whole
	timedOut bool // cut by the read deadline (which also cancels the request's ctx)
}

func (d *deadlineBody) Read(p []byte) (int, error) {
	n, err := d.body.Read(p)
	if err == io.EOF && !d.done {
		d.done = true
		_ = d.rc.SetReadDeadline(time.Time{})
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		d.timedOut = true
	}
	return n, err
}

func (d *deadlineBody) Close() error { return d.body.Close() }
