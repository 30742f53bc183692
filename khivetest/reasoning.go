package khivetest

import "fmt"

// thought is what the fake "thinks" when a request asks a reasoning model
// to: a chat request's reasoning_effort (not none or minimal), or an
// Anthropic request's thinking enabled with a budget. Answers carry it as
// reasoning_content (chat) or a signed thinking block (Anthropic), first.
func thought(body map[string]any) (string, bool) {
	if effort, _ := body["reasoning_effort"].(string); effort != "" && effort != "none" && effort != "minimal" {
		return "thought at " + effort + " effort", true
	}
	if th, _ := body["thinking"].(map[string]any); th["type"] == "enabled" {
		return fmt.Sprintf("thought within %v tokens", th["budget_tokens"]), true
	}
	return "", false
}

// fakeSignature signs the fake's thinking blocks.
const fakeSignature = "fake-signature"
