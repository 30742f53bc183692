package anthropic

import (
	"context"
	"errors"
	"net/http"
	"strings"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers/internal/sdkreq"
)

// SDK is the anthropic-sdk-go adapter behind transport "sdk" for Anthropic
// endpoints: the endpoint's Call and Stream go out through the official
// client's Execute. The typed client is ClientOf's, on either transport.
type SDK struct {
	client sdk.Client
	base   string // the endpoint's base URL with a trailing slash
}

var _ endpoint.SDKClient = (*SDK)(nil)

// NewSDK is the endpoint.SDKFactory for Anthropic: the client uses the
// endpoint's own *http.Client (so the endpoint owns and closes the pool),
// its base URL and key, and no SDK retries (the endpoint retries).
func NewSDK(_ context.Context, cfg endpoint.Config, hc *http.Client) (endpoint.SDKClient, error) {
	base := strings.TrimRight(cfg.BaseURL, "/") + "/"
	return &SDK{client: sdk.NewClient(
		option.WithBaseURL(base),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0),
		option.WithAPIKey(cfg.APIKey.Reveal()),
	), base: base}, nil
}

// Do sends the endpoint's prepared request through the SDK and returns the
// raw response, error statuses included, for the endpoint to handle.
func (s *SDK) Do(req *http.Request) (*http.Response, error) {
	return sdkreq.Do(req, s.base, option.WithHeader, option.WithResponseInto, s.client.Execute, func(err error) bool {
		var apiErr *sdk.Error
		return errors.As(err, &apiErr)
	})
}

// ClientOf returns an anthropic-sdk-go client whose every call is one call
// of e: it is built on e's managed client (endpoint.HTTPClient), e's key,
// no SDK retries, and e's base URL less a trailing /v1 (the SDK's paths
// begin with v1/), so that khive's limits, retry policy, breaker and
// shutdown govern it on either transport. Streams (Messages.NewStreaming)
// hold e's concurrency slot until closed; after khive's retries an error
// status comes back as the SDK's own *anthropic.Error, and khive's
// refusals (endpoint.ErrClosed, executor.ErrOverloaded, …) as errors that
// errors.Is and errors.As see.
//
// The client is cheap and holds nothing to close: build it once, after New,
// and keep it. opts come after khive's; one that replaces the HTTP client
// or turns SDK retries on takes the calls out of khive's hands.
func ClientOf(e *endpoint.Endpoint, opts ...option.RequestOption) *sdk.Client {
	cfg := e.Config()
	base := strings.TrimSuffix(strings.TrimRight(cfg.BaseURL, "/"), "/v1") + "/"
	c := sdk.NewClient(append([]option.RequestOption{
		option.WithBaseURL(base),
		option.WithHTTPClient(e.HTTPClient()),
		option.WithMaxRetries(0),
		option.WithAPIKey(cfg.APIKey.Reveal()),
	}, opts...)...)
	return &c
}
