package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/khive-go/khive/endpoint"
)

// OpenAISDK is the openai-go adapter behind transport "sdk": the endpoint's
// Call and Stream go through the official client, and Client gives users
// the typed client of a started endpoint.
type OpenAISDK struct {
	client openai.Client
	base   string // the endpoint's base URL with a trailing slash
}

var _ endpoint.SDKClient = (*OpenAISDK)(nil)

// NewOpenAISDK is the endpoint.SDKFactory for OpenAI-compatible providers:
// the client uses the endpoint's own *http.Client (so the endpoint owns and
// closes the pool), its base URL and key, and no SDK retries (the endpoint
// retries).
func NewOpenAISDK(_ context.Context, cfg endpoint.Config, hc *http.Client) (endpoint.SDKClient, error) {
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
	return &OpenAISDK{client: openai.NewClient(opts...), base: base}, nil
}

// Client is the typed SDK client, e.g. for Client().Chat.Completions.New.
// Calls made through it share the endpoint's connection pool but not its
// limits, retries or breaker; use Endpoint.Call for managed calls.
func (s *OpenAISDK) Client() *openai.Client { return &s.client }

// Do sends the endpoint's prepared request through the SDK and returns the
// raw response, error statuses included, for the endpoint to handle.
func (s *OpenAISDK) Do(req *http.Request) (*http.Response, error) {
	path, ok := strings.CutPrefix(req.URL.String(), s.base)
	if !ok {
		return nil, fmt.Errorf("sdk: URL outside the base URL")
	}
	var body []byte
	if req.Body != nil && req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		body, err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	opts := make([]option.RequestOption, 0, len(req.Header)+1)
	for k, vs := range req.Header {
		if len(vs) > 0 {
			opts = append(opts, option.WithHeader(k, vs[0]))
		}
	}
	var resp *http.Response
	opts = append(opts, option.WithResponseInto(&resp))
	var params any
	if body != nil {
		params = body
	}
	err := s.client.Execute(req.Context(), req.Method, path, params, &resp, opts...)
	var apiErr *openai.Error
	if errors.As(err, &apiErr) && resp != nil {
		return resp, nil // a status error: its body was re-populated for us
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// OpenAIClient returns the typed openai-go client of a started endpoint
// with transport "sdk".
func OpenAIClient(e *endpoint.Endpoint) (*openai.Client, error) {
	s, ok := e.SDKClient().(*OpenAISDK)
	if !ok {
		return nil, fmt.Errorf("endpoint %q: no openai-go client (transport %q, started: %v)",
			e.Name(), e.Config().Transport, e.SDKClient() != nil)
	}
	return s.Client(), nil
}

// NewEndpoint builds an endpoint from cfg with its provider's dialect,
// plugging in the openai-go SDK when cfg asks for transport "sdk". Options
// given win over both.
func NewEndpoint(cfg endpoint.Config, opts ...endpoint.Option) (*endpoint.Endpoint, error) {
	base := []endpoint.Option{endpoint.WithDialect(DialectOf(cfg.Provider))}
	if cfg.Transport == endpoint.TransportSDK {
		base = append(base, endpoint.WithSDK(NewOpenAISDK))
	}
	return endpoint.New(cfg, append(base, opts...)...)
}
