package khivetest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/khivetest"
)

func postResponses(t *testing.T, up *khivetest.Server, body string) string {
	t.Helper()
	resp, err := http.Post(up.BaseURL()+"/responses", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	return string(b)
}

// On the Responses API the fake calls the first function tool, answers
// its output, and ends streamed items with their .done events.
func TestResponsesToolLoop(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	tools := `"tools":[{"type":"web_search"},{"type":"function","name":"weather","parameters":{"type":"object"}}]`
	var first struct {
		Output []struct{ Type, Name, Arguments, CallID string } `json:"output"`
	}
	require.NoError(t, json.Unmarshal([]byte(postResponses(t, up, `{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"Paris"}]}],`+tools+`}`)), &first))
	require.Len(t, first.Output, 1)
	assert.Equal(t, "function_call", first.Output[0].Type)
	assert.Equal(t, "weather", first.Output[0].Name, "the first function tool")
	assert.JSONEq(t, `{"query":"Paris"}`, first.Output[0].Arguments)

	second := postResponses(t, up, `{"model":"m","input":[{"role":"user","content":"Paris"},
		{"type":"function_call","call_id":"call_fake_1","name":"weather","arguments":"{}"},
		{"type":"function_call_output","call_id":"call_fake_1","output":"sunny"}],`+tools+`}`)
	assert.Contains(t, second, "tool said: sunny")

	stream := postResponses(t, up, `{"model":"m","stream":true,"input":"hello, no tool",`+tools+`}`)
	assert.Contains(t, stream, "echo: hello, no tool", "no tool: an echo")
	for _, ev := range []string{"response.content_part.done", "response.output_item.done", "response.completed"} {
		assert.Contains(t, stream, "event: "+ev)
	}
	stream = postResponses(t, up, `{"model":"m","stream":true,"input":"Paris",`+tools+`}`)
	assert.Contains(t, stream, "event: response.function_call_arguments.done")
	assert.Contains(t, stream, `"name":"weather"`)
}
