package openai

import (
	"context"
	"errors"
	"net/http"
	"strings"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers/internal/sdkreq"
)

// SDK is the openai-go adapter behind transport "sdk": the endpoint's
// Call and Stream go out through the official client's Execute. The typed
// client is ClientOf's, on either transport.
type SDK struct {
	client oai.Client
	base   string // the endpoint's base URL with a trailing slash
}

var _ endpoint.SDKClient = (*SDK)(nil)

// NewSDK is the endpoint.SDKFactory for OpenAI-compatible providers:
// the client uses the endpoint's own *http.Client (so the endpoint owns and
// closes the pool), its base URL and key, and no SDK retries (the endpoint
// retries).
func NewSDK(_ context.Context, cfg endpoint.Config, hc *http.Client) (endpoint.SDKClient, error) {
	base := strings.TrimRight(cfg.BaseURL, "/") + "/"
	opts := []option.RequestOption{
		option.WithBaseURL(base),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0),
		option.WithAPIKey(cfg.APIKey.Reveal()),
	}
	if cfg.APIKey.IsZero() {
		opts[3] = option.WithAPIKey("none") // keyless servers (ollama) accept any bearer
	}
	return &SDK{client: oai.NewClient(opts...), base: base}, nil
}

// Do sends the endpoint's prepared request through the SDK and returns the
// raw response, error statuses included, for the endpoint to handle.
func (s *SDK) Do(req *http.Request) (*http.Response, error) {
	return sdkreq.Do(req, s.base, option.WithHeader, option.WithResponseInto, s.client.Execute, func(err error) bool {
		var apiErr *oai.Error
		return errors.As(err, &apiErr)
	})
}

// ClientOf returns an openai-go client whose every call is one call of e:
// it is built on e's managed client (endpoint.HTTPClient), e's base URL
// and key, and no SDK retries, so that khive's limits, retry policy,
// breaker and shutdown govern it on either transport. Streams
// (Chat.Completions.NewStreaming) hold e's concurrency slot until closed;
// after khive's retries an error status comes back as the SDK's own
// *openai.Error, and khive's refusals (endpoint.ErrClosed,
// executor.ErrOverloaded, endpoint.ErrCircuitOpen, …) as errors that
// errors.Is and errors.As see.
//
// The client is cheap and holds nothing to close: build it once, after New,
// and keep it. opts come after khive's (a header, a request timeout); one
// that replaces the HTTP client or turns SDK retries on takes the calls out
// of khive's hands.
func ClientOf(e *endpoint.Endpoint, opts ...option.RequestOption) *oai.Client {
	cfg := e.Config()
	key := cfg.APIKey.Reveal()
	if key == "" {
		key = "none" // keyless servers (ollama) accept any bearer; the endpoint's auth is sent anyway
	}
	c := oai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(strings.TrimRight(cfg.BaseURL, "/") + "/"),
		option.WithHTTPClient(e.HTTPClient()),
		option.WithMaxRetries(0),
		option.WithAPIKey(key),
	}, opts...)...)
	return &c
}
