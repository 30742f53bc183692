package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
)

func TestResponsesCompactPassesThroughToResponsesEndpointsOnly(t *testing.T) {
	e := newEnv(t, func(c *khive.Config, _ *gateway.Config) {
		ep := c.Endpoints["up"] // the same fake, as a responses endpoint
		ep.Endpoint = "responses"
		c.Endpoints["resp"] = ep
	})
	status, _, body := e.post("/v1/responses/compact", `{"model":"resp/gpt-5","input":[{"role":"user","content":"a long history"}],"extra":{"kept":true}}`)
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"compacted: a long history"`)
	last := e.ups["up"].Last()
	assert.True(t, strings.HasSuffix(last.Path, "/v1/responses/compact"), last.Path)
	assert.Equal(t, "gpt-5", last.Body["model"], "the target's model, spliced in")
	assert.Equal(t, map[string]any{"kept": true}, last.Body["extra"], "the rest passes through")

	status, _, body = e.post("/v1/responses/compact", `{"model":"up/gpt-x","input":"x"}`)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "needs an OpenAI responses endpoint")
	assert.Contains(t, body, `"param":"model"`)
}
