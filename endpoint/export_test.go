package endpoint

// Test hooks.
var (
	WithRand  = withRand
	WithSleep = withSleep
)

// CacheWaiting is how many callers wait on an in-flight identical request.
func (e *Endpoint) CacheWaiting() int { return e.cache.waiting() }

// CacheLen is the number of cached responses.
func (e *Endpoint) CacheLen() int { return e.cache.Len() }

// SDKClient is the SDK client of a started endpoint with transport sdk.
func (e *Endpoint) SDKClient() SDKClient { return e.sdkClient() }
