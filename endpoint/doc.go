// Package endpoint manages one configured API endpoint: its HTTP or SDK
// client, auth headers, rate and concurrency limits, retries, circuit
// breaker, response cache and server-sent-event streams.
//
// # Three ways to call it, all managed
//
//   - The official SDKs' typed clients: openai.ClientOf(e) and
//     anthropic.ClientOf(e) (packages providers/openai and
//     providers/anthropic) build them on the endpoint's managed client.
//   - HTTPClient, the managed *http.Client: every request sent through it
//     is one call of the endpoint; any Go SDK that takes an *http.Client
//     becomes a managed client with it.
//   - Call and Stream, with a Request of raw JSON (any value encoding/json
//     takes) and a Response or a Stream of server-sent events.
//
// Each request takes the same path: the closed check, per attempt the
// limits, the breaker and the transport, the retry policy, the telemetry,
// and Stop's drain.
//
// # Lifecycle
//
// New validates a Config and builds the endpoint without opening anything.
// Start creates the client (one *http.Client on the endpoint's own
// *http.Transport, or an SDK client from WithSDK built on that client) and
// the endpoint's executor.Pools (one admits attempts, one tracks calls for the
// drain). Stop refuses new calls with ErrClosed, waits for in-flight calls
// and open streams until its deadline less a reserve (a quarter of the time
// left, 100 ms to 2 s), cancels what is left (a call so cut fails with an
// error that is ErrClosed and says the endpoint is stopping) and waits for
// it until a quarter of the reserve is left, then releases the client
// (CloseIdleConnections; for an SDK also whichever Close it has, given the
// rest of the budget) and clears the reference; it returns before the
// deadline. A close failure or panic is logged once at Error with the
// fields component, name, provider, transport and error, and returned;
// cleanup goes on regardless.
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
// Stop's deadline passes. Stream sets "stream": true on an object body
// that lacks the field; range over Stream.Events, or loop on Next. A
// Request with Probe set (a model-list refresh, a health check) is sent
// once and never counted or refused by the breaker.
//
// # Errors
//
// ErrClosed, ErrNotStarted, *CircuitOpenError (matches ErrCircuitOpen),
// *executor.OverloadError (matches executor.ErrOverloaded) and
// executor.ErrQueueFull for admissions refused,
// *StatusError (status, the provider's error type and message, retry hint,
// body up to 4 KiB), *StreamError, and *TransportError for an attempt that
// got no answer (its Reason and the upstream's Addr). Every error names the
// endpoint; none holds the API key, which is a Secret that prints as
// [redacted]. What a provider sends back (error bodies) passes through
// Secret.Scrub: a key of 8 bytes or more is replaced wherever it occurs, a
// shorter one only as a whole word.
package endpoint
