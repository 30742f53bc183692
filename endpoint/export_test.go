package endpoint

// Test hooks.
var (
	WithRand  = withRand
	WithSleep = withSleep
)
