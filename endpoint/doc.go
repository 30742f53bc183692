// Package endpoint manages one configured API endpoint: its HTTP or SDK
// client, auth headers, rate and concurrency limits, retries, circuit
// breaker, response cache and server-sent-event streams.
//
// # Lifecycle
//
// New validates a Config and builds the endpoint without opening anything.
// Start creates the client (one *http.Client on the endpoint's own
// *http.Transport, or an SDK client from WithSDK built on that client) and
// the endpoint's executor.Pools (one admits attempts, one tracks calls for the
// drain). Stop refuses new calls with ErrClosed, waits
// for in-flight calls and open streams until its ctx is done, cancels what is
// left and waits for it, then releases the client (CloseIdleConnections; for
// an SDK also whichever Close it has) and clears the reference. A close
// failure or panic is logged once at Error with the fields component, name,
// provider, transport and error, and returned; cleanup goes on regardless.
//
// # Call path
//
// Call: closed check → cache (requests that opt in) → per attempt, the first
// and every retry: admission (the request and token limits, adaptive ones
// learning the provider's bucket from its rate-limit headers, then a
// concurrency slot; a wait over Limits.MaxWait is refused at once with an
// *executor.OverloadError) → circuit breaker → transport with the attempt
// timeout → the answer's headers and usage fed back to the limits →
// classify. A retry waits its backoff (full jitter) or the server's
// Retry-After / retry-after-ms / x-ratelimit-reset hint, obeyed exactly and
// capped by MaxRetryAfter, and then for its own admission, so refused
// callers come back spread by the limiter. Streams retry only before they
// are handed to the caller, hold their admission through a lease until
// Close, and are cut (Next reports the error) when the caller's ctx ends or
// Stop's deadline passes.
//
// # Errors
//
// ErrClosed, ErrNotStarted, *CircuitOpenError (matches ErrCircuitOpen),
// *executor.OverloadError (matches executor.ErrOverloaded) and
// executor.ErrQueueFull for admissions refused,
// *StatusError (status, the provider's error type and message, retry hint,
// body up to 4 KiB) and *StreamError. Every error names the endpoint; none
// holds the API key, which is a Secret that prints as [redacted].
package endpoint
