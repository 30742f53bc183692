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
// Call and Stream go through the official client, and Client gives users
// the typed client of a started endpoint.
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

// Client is the typed SDK client, e.g. for Client().Chat.Completions.New.
// Calls made through it share the endpoint's connection pool but not its
// limits, retries or breaker; use Endpoint.Call for managed calls.
func (s *SDK) Client() *oai.Client { return &s.client }

// Do sends the endpoint's prepared request through the SDK and returns the
// raw response, error statuses included, for the endpoint to handle.
func (s *SDK) Do(req *http.Request) (*http.Response, error) {
	return sdkreq.Do(req, s.base, option.WithHeader, option.WithResponseInto, s.client.Execute, func(err error) bool {
		var apiErr *oai.Error
		return errors.As(err, &apiErr)
	})
}

// ClientOf returns the typed openai-go client of a started endpoint
// with transport "sdk".
func ClientOf(e *endpoint.Endpoint) (*oai.Client, error) {
	s, ok := e.SDKClient().(*SDK)
	if !ok {
		return nil, sdkreq.NoClient(e, "openai-go")
	}
	return s.Client(), nil
}
