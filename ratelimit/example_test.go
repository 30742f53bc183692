package ratelimit_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/khive-go/khive/ratelimit"
)

func ExampleParse() {
	h := http.Header{}
	h.Set("x-ratelimit-remaining-tokens", "1200")
	h.Set("x-ratelimit-reset-tokens", "6m0s")
	h.Set("retry-after", "2")
	rl := ratelimit.Parse(h, time.Now())
	fmt.Println(rl.Tokens.Remaining, rl.Tokens.Reset, rl.RetryAfter)
	// Output: 1200 6m0s 2s
}
