package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/app/gateway/admission"
)

// The AI SDK's second step names the first step's assistant text by
// item_reference: on a translated route the gateway resolves the items it
// gave that key, and refuses others clearly.
func TestItemReferenceToTheGatewaysOwnItems(t *testing.T) {
	const otherKey = "khive-other-key"
	e := newEnv(t, withKeys(admission.ClientKey{Key: clientKey}, admission.ClientKey{Key: otherKey, Name: "other"}))
	status, _, body := e.post("/v1/responses", `{"model":"up/gpt-x","input":"what is up"}`)
	require.Equal(t, http.StatusOK, status, body)
	var first struct {
		Output []struct{ ID, Type string } `json:"output"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &first))
	require.Len(t, first.Output, 1)
	id := first.Output[0].ID

	next := `{"model":"up/gpt-x","input":[{"role":"user","content":"what is up"},{"type":"item_reference","id":"` + id + `"},{"role":"user","content":"and then"}]}`
	status, _, body = e.post("/v1/responses", next)
	require.Equal(t, http.StatusOK, status, body)
	msgs := e.ups["up"].Last().Body["messages"].([]any)
	require.Len(t, msgs, 3)
	assistant := msgs[1].(map[string]any)
	assert.Equal(t, "assistant", assistant["role"])
	assert.Contains(t, assistant["content"], "echo: what is up", "the referenced item's text reached the model")

	status, _, body = e.post("/v1/responses", next, "Authorization", "Bearer "+otherKey)
	assert.Equal(t, http.StatusBadRequest, status, "another key cannot name this key's items")
	assert.Contains(t, body, `"param":"input[1].id"`)
	assert.Contains(t, body, "names no item this gateway gave this key")

	status, _, body = e.post("/v1/responses", `{"model":"up/gpt-x","input":[{"type":"item_reference","id":"msg_never"}]}`)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "msg_never")
}

func TestItemReferenceToAStreamedItem(t *testing.T) {
	e := newEnv(t)
	status, _, body := e.post("/v1/responses", `{"model":"up/gpt-x","stream":true,"input":"stream it"}`)
	require.Equal(t, http.StatusOK, status, body)
	var id string
	for _, line := range strings.Split(body, "\n") {
		if data, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(data, `"response.completed"`) {
			var ev struct {
				Response struct {
					Output []struct{ ID string } `json:"output"`
				} `json:"response"`
			}
			require.NoError(t, json.Unmarshal([]byte(data), &ev))
			require.NotEmpty(t, ev.Response.Output)
			id = ev.Response.Output[0].ID
		}
	}
	require.NotEmpty(t, id)
	status, _, body = e.post("/v1/responses", `{"model":"up/gpt-x","input":[{"type":"item_reference","id":"`+id+`"},{"role":"user","content":"more"}]}`)
	require.Equal(t, http.StatusOK, status, body)
	assistant := e.ups["up"].Last().Body["messages"].([]any)[0].(map[string]any)
	assert.Contains(t, assistant["content"], "echo: stream it")
}

// With Redis as the store, the items are shared: a reference made to one
// replica resolves to the item another gave; while Redis fails, a
// reference is a 503 that says so, not a wrong "no such item".
func TestItemReferenceAcrossReplicasOnRedis(t *testing.T) {
	r := startRedis(t)
	es := replicas(t, 2, admission.StoreConfig{Type: "redis", URL: r.URL()}, admission.ClientKey{Key: clientKey, Name: "k"})
	status, _, body := es[0].post("/v1/responses", `{"model":"up/gpt-x","input":"what is up"}`)
	require.Equal(t, http.StatusOK, status, body)
	var first struct {
		Output []struct{ ID string } `json:"output"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &first))
	require.Len(t, first.Output, 1)

	next := `{"model":"up/gpt-x","input":[{"role":"user","content":"what is up"},{"type":"item_reference","id":"` + first.Output[0].ID + `"},{"role":"user","content":"and then"}]}`
	status, _, body = es[1].post("/v1/responses", next)
	require.Equal(t, http.StatusOK, status, body)
	msgs := es[1].ups["up"].Last().Body["messages"].([]any)
	require.Len(t, msgs, 3)
	assert.Contains(t, msgs[1].(map[string]any)["content"], "echo: what is up", "the other replica's item reached the model")

	r.Kill()
	for range 2 { // the first round trip finds Redis gone, the second knows it
		status, _, body = es[1].post("/v1/responses", next)
		assert.Equal(t, http.StatusServiceUnavailable, status, body)
		assert.Contains(t, body, `"param":"input[1].id"`)
		assert.Contains(t, body, "unavailable")
	}
}
