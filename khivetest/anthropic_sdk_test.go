package khivetest_test

import (
	"context"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/khivetest"
)

// The raw anthropic-sdk-go points at the server's URL, as the package doc
// says, and gets an answer in Anthropic's format.
func TestRawAnthropicSDK(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	up.Key = "k"
	client := anthropic.NewClient(option.WithBaseURL(up.URL), option.WithAPIKey("k"), option.WithMaxRetries(0))
	msg, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))},
	})
	require.NoError(t, err)
	require.NotEmpty(t, msg.Content)
	assert.Equal(t, "echo: Hello", msg.Content[0].Text)
	assert.Equal(t, "/v1/messages", up.Last().Path)
}
