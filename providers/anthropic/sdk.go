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
// endpoints: the endpoint's Call and Stream go through the official
// client, and Client gives users the typed client of a started endpoint.
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

// Client is the typed SDK client, e.g. for Client().Messages.New. Calls
// made through it share the endpoint's connection pool but not its limits,
// retries or breaker; use Endpoint.Call for managed calls.
func (s *SDK) Client() *sdk.Client { return &s.client }

// Do sends the endpoint's prepared request through the SDK and returns the
// raw response, error statuses included, for the endpoint to handle.
func (s *SDK) Do(req *http.Request) (*http.Response, error) {
	return sdkreq.Do(req, s.base, option.WithHeader, option.WithResponseInto, s.client.Execute, func(err error) bool {
		var apiErr *sdk.Error
		return errors.As(err, &apiErr)
	})
}

// ClientOf returns the typed anthropic-sdk-go client of a started endpoint
// with transport "sdk".
func ClientOf(e *endpoint.Endpoint) (*sdk.Client, error) {
	s, ok := e.SDKClient().(*SDK)
	if !ok {
		return nil, sdkreq.NoClient(e, "anthropic-sdk-go")
	}
	return s.Client(), nil
}
