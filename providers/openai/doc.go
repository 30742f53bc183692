// Package openai is OpenAI's wire format, spoken by most of the catalog:
// chat completions (plain and streamed chunks), embeddings, model lists and
// error bodies as plain structs that keep the fields they do not model, so
// a proxy passes them through; the Dialect endpoints of this format use;
// and github.com/openai/openai-go/v3 on khive's terms.
//
// ClientOf is the typed client: openai-go on the endpoint's managed
// client, so that every call made with it is one call of the endpoint
// (limits, retries, breaker, shutdown), on either transport:
//
//	client := openai.ClientOf(e)
//	out, err := client.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{...})
//
// NewSDK is the factory of transport "sdk", which changes only how the
// endpoint's own Call and Stream go out: through openai-go's Execute (its
// User-Agent and X-Stainless headers, its request building) rather than
// net/http alone. ClientOf's calls are the SDK's already and behave the
// same on both transports.
package openai
