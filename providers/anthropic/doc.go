// Package anthropic is Anthropic's wire format: messages requests and
// answers, content blocks, stream events and error bodies as plain structs
// that keep the fields they do not model; the Dialect (529 overloaded,
// retried); and github.com/anthropics/anthropic-sdk-go/v2 on khive's terms.
//
// ClientOf is the typed client: anthropic-sdk-go on the endpoint's managed
// client, so that every call made with it is one call of the endpoint
// (limits, retries, breaker, shutdown), on either transport:
//
//	client := anthropic.ClientOf(e)
//	msg, err := client.Messages.New(ctx, sdk.MessageNewParams{...})
//
// NewSDK is the factory of transport "sdk", which changes only how the
// endpoint's own Call and Stream go out: through the SDK's Execute (its
// headers, its request building) rather than net/http alone. ClientOf's
// calls are the SDK's already and behave the same on both transports.
package anthropic
