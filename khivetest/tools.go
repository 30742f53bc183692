package khivetest

import (
	"encoding/json"
	"strings"
)

// The fake's tool use, in both formats: when a request offers tools and
// its last message is a user's text, it calls the first tool with
// {"query": that text} — unless a user message of the request says "no
// tool"; when the last message is a tool's result, it answers "tool
// said: " and the result.

// firstTool is the name of the first tool offered, "" for none.
func firstTool(body map[string]any) string {
	tools, _ := body["tools"].([]any)
	if len(tools) == 0 {
		return ""
	}
	t, _ := tools[0].(map[string]any)
	if fn, ok := t["function"].(map[string]any); ok { // OpenAI's form
		name, _ := fn["name"].(string)
		return name
	}
	name, _ := t["name"].(string) // Anthropic's
	return name
}

// lastMessage is the last message's role and text, with the text of tool
// results (OpenAI's tool messages, Anthropic's tool_result blocks) and
// whether it was one.
func lastMessage(body map[string]any) (text string, toolResult bool) {
	msgs, _ := body["messages"].([]any)
	if len(msgs) == 0 {
		return "", false
	}
	m, _ := msgs[len(msgs)-1].(map[string]any)
	if m["role"] == "tool" {
		return contentText(m["content"]), true
	}
	if blocks, ok := m["content"].([]any); ok {
		for _, b := range blocks {
			if bm, _ := b.(map[string]any); bm["type"] == "tool_result" {
				return contentText(bm["content"]), true
			}
		}
	}
	return contentText(m["content"]), false
}

func contentText(c any) string {
	switch v := c.(type) {
	case string:
		return v
	case []any:
		var b strings.Builder
		for _, p := range v {
			if pm, _ := p.(map[string]any); pm["type"] == "text" || pm["type"] == "input_text" || pm["type"] == "output_text" {
				t, _ := pm["text"].(string)
				b.WriteString(t)
			}
		}
		return b.String()
	}
	return ""
}

// toolCall is the call the fake makes, if any: the tool and its arguments.
func toolCall(body map[string]any) (name string, args map[string]any, ok bool) {
	name = firstTool(body)
	text, isResult := lastMessage(body)
	if name == "" || isResult || saysNoTool(body) {
		return "", nil, false
	}
	return name, map[string]any{"query": text}, true
}

// saysNoTool reports whether a user message of the request (or its
// Responses input) says "no tool": agent clients add messages of their
// own after the user's (reminders, context).
func saysNoTool(body map[string]any) bool {
	items, _ := body["messages"].([]any)
	if in, ok := body["input"].([]any); ok {
		items = in
	}
	if s, ok := body["input"].(string); ok {
		return strings.Contains(s, "no tool")
	}
	for _, it := range items {
		m, _ := it.(map[string]any)
		if m["role"] == "user" && strings.Contains(contentText(m["content"]), "no tool") {
			return true
		}
	}
	return false
}

// toolAnswer is the fake's answer after a tool's result, if the last
// message is one.
func toolAnswer(body map[string]any) (string, bool) {
	text, isResult := lastMessage(body)
	if !isResult {
		return "", false
	}
	return "tool said: " + text, true
}

func argsJSON(args map[string]any) string {
	b, _ := json.Marshal(args)
	return string(b)
}

// halves splits s in two fragments, as streams send arguments.
func halves(s string) []string {
	if len(s) < 2 {
		return []string{s}
	}
	return []string{s[:len(s)/2], s[len(s)/2:]}
}

// responsesToolCall is the call the fake makes on the Responses API, if
// any: the first function tool, called with {"query": the last user
// text}, unless that text says "no tool" or the last input item is a
// function call's output.
func responsesToolCall(body map[string]any) (name string, args map[string]any, ok bool) {
	tools, _ := body["tools"].([]any)
	for _, t := range tools {
		if tm, _ := t.(map[string]any); tm["type"] == "function" {
			name, _ = tm["name"].(string)
			break
		}
	}
	text, isResult := responsesLast(body)
	if name == "" || isResult || saysNoTool(body) {
		return "", nil, false
	}
	return name, map[string]any{"query": text}, true
}

// responsesLast is the last input item's text: a user message's, or a
// function call's output (and true).
func responsesLast(body map[string]any) (text string, toolResult bool) {
	items, _ := body["input"].([]any)
	if len(items) == 0 {
		s, _ := body["input"].(string)
		return s, false
	}
	m, _ := items[len(items)-1].(map[string]any)
	if m["type"] == "function_call_output" {
		if s, ok := m["output"].(string); ok {
			return s, true
		}
		return contentText(m["output"]), true
	}
	return contentText(m["content"]), false
}
