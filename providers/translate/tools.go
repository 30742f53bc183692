package translate

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/internal/wire"
	"github.com/khive-go/khive/providers/openai"
)

// setExtra puts a field the wire type does not model.
func setExtra(e *wire.Extra, k string, v any) {
	if *e == nil {
		*e = wire.Extra{}
	}
	b, _ := json.Marshal(v)
	(*e)[k] = b
}

// emptySchema is the input schema of a function that declares none.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// toolsToAnthropic carries OpenAI's function tools, tool_choice and
// parallel_tool_calls to Anthropic's tools and tool_choice. Tools of other
// types (custom tools, built-in tools) are refused naming the field, or
// with opts dropped; the legacy functions / function_call are refused.
func toolsToAnthropic(req openai.ChatRequest, opts Options, out *anthropic.MessagesRequest, dropped *Dropped) error {
	for _, f := range []string{"functions", "function_call"} {
		if _, ok := req.Extra[f]; ok {
			return refuse(f, "the legacy %s cannot be carried to Anthropic; use tools", f)
		}
	}
	if raw, ok := req.Extra["tools"]; ok && string(raw) != "null" {
		var tools []struct {
			Type     string `json:"type"`
			Function *struct {
				Name        string          `json:"name"`
				Description string          `json:"description"`
				Parameters  json.RawMessage `json:"parameters"`
			} `json:"function"`
		}
		if err := json.Unmarshal(raw, &tools); err != nil {
			return refuse("tools", "must be an array of tools")
		}
		var at []map[string]any
		for i, t := range tools {
			if t.Type != "function" && opts.DropBuiltinTools {
				dropped.Tools = append(dropped.Tools, t.Type)
				continue
			}
			if t.Type != "function" || t.Function == nil {
				return refuse(fmt.Sprintf("tools[%d].type", i), "only function tools can be carried to Anthropic, got %q (or unsupported_tools: drop)", t.Type)
			}
			if t.Function.Name == "" {
				return refuse(fmt.Sprintf("tools[%d].function.name", i), "is required")
			}
			schema := t.Function.Parameters
			if len(schema) == 0 || string(schema) == "null" {
				schema = emptySchema
			}
			tool := map[string]any{"name": t.Function.Name, "input_schema": schema}
			if t.Function.Description != "" {
				tool["description"] = t.Function.Description
			}
			at = append(at, tool)
		}
		setExtra(&out.Extra, "tools", at)
	}
	var choice map[string]any
	if raw, ok := req.Extra["tool_choice"]; ok && string(raw) != "null" {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			switch s {
			case "auto":
				choice = map[string]any{"type": "auto"}
			case "none":
				choice = map[string]any{"type": "none"}
			case "required":
				choice = map[string]any{"type": "any"}
			default:
				return refuse("tool_choice", "unknown %q (want auto, none, required or a function)", s)
			}
		} else {
			var c struct {
				Type     string `json:"type"`
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			}
			if json.Unmarshal(raw, &c) != nil || c.Type != "function" || c.Function.Name == "" {
				return refuse("tool_choice", "must be auto, none, required or {type: function, function: {name}}")
			}
			choice = map[string]any{"type": "tool", "name": c.Function.Name}
		}
	}
	if raw, ok := req.Extra["parallel_tool_calls"]; ok && string(raw) == "false" {
		if choice == nil {
			choice = map[string]any{"type": "auto"}
		}
		if choice["type"] != "none" {
			choice["disable_parallel_tool_use"] = true
		}
	}
	if choice != nil {
		setExtra(&out.Extra, "tool_choice", choice)
	}
	return nil
}

// toolUseBlocks turns an assistant message's tool_calls into tool_use
// blocks; arguments that are not a JSON object are refused, naming the
// message.
func toolUseBlocks(raw json.RawMessage, field string) ([]anthropicBlock, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var calls []openai.ToolCall
	if err := json.Unmarshal(raw, &calls); err != nil {
		return nil, refuse(field, "must be an array of tool calls")
	}
	var blocks []anthropicBlock
	for j, c := range calls {
		cf := fmt.Sprintf("%s[%d]", field, j)
		if c.Type != "" && c.Type != "function" {
			return nil, refuse(cf+".type", "only function calls can be carried to Anthropic, got %q", c.Type)
		}
		input := json.RawMessage(strings.TrimSpace(c.Function.Arguments))
		if len(input) == 0 {
			input = json.RawMessage(`{}`)
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(input, &obj) != nil {
			return nil, refuse(cf+".function.arguments", "must be a JSON object, got %.40q", c.Function.Arguments)
		}
		blocks = append(blocks, anthropicBlock{"type": "tool_use", "id": c.ID, "name": c.Function.Name, "input": input})
	}
	return blocks, nil
}

// toolResultBlock turns a tool message into a tool_result block.
func toolResultBlock(m openai.ChatMessage, field string) (anthropicBlock, error) {
	if m.ToolCallID == "" {
		return nil, refuse(field+".tool_call_id", "is required")
	}
	b := anthropicBlock{"type": "tool_result", "tool_use_id": m.ToolCallID}
	content, err := chatContentBlocks(m.Content, field+".content")
	if err != nil {
		return nil, err
	}
	switch {
	case len(content) == 1 && content[0]["type"] == "text":
		b["content"] = content[0]["text"]
	case len(content) > 0:
		b["content"] = content
	}
	return b, nil
}

// toolCallsOf turns an answer's tool_use blocks into OpenAI tool calls, in
// order; input becomes the arguments string.
func toolCallsOf(blocks []anthropic.ContentBlock) []openai.ToolCall {
	var calls []openai.ToolCall
	for _, b := range blocks {
		if b.Type != "tool_use" {
			continue
		}
		args := string(b.Input)
		if args == "" || args == "null" {
			args = "{}"
		}
		calls = append(calls, openai.ToolCall{ID: b.ID, Type: "function", Function: openai.ToolCallFunction{Name: b.Name, Arguments: args}})
	}
	return calls
}

// toolsToChat carries Anthropic's tools and tool_choice to OpenAI's
// function tools, tool_choice and parallel_tool_calls. Server tools (a
// tool with a type, such as web search) are refused, naming the field, or
// with opts dropped and their types returned.
func toolsToChat(req anthropic.MessagesRequest, opts Options, out *openai.ChatRequest, dropped *Dropped) error {
	if raw, ok := req.Extra["tools"]; ok && string(raw) != "null" {
		var tools []struct {
			Type        string          `json:"type"`
			Name        string          `json:"name"`
			Description string          `json:"description"`
			InputSchema json.RawMessage `json:"input_schema"`
		}
		if err := json.Unmarshal(raw, &tools); err != nil {
			return refuse("tools", "must be an array of tools")
		}
		var ct []map[string]any
		for i, t := range tools {
			if t.Type != "" && t.Type != "custom" {
				if opts.DropBuiltinTools {
					dropped.Tools = append(dropped.Tools, t.Type)
					continue
				}
				return refuse(fmt.Sprintf("tools[%d].type", i), "server tools (%q) cannot be carried to an OpenAI-compatible endpoint (or unsupported_tools: drop)", t.Type)
			}
			if t.Name == "" {
				return refuse(fmt.Sprintf("tools[%d].name", i), "is required")
			}
			fn := map[string]any{"name": t.Name}
			if t.Description != "" {
				fn["description"] = t.Description
			}
			if len(t.InputSchema) > 0 && string(t.InputSchema) != "null" {
				fn["parameters"] = t.InputSchema
			}
			ct = append(ct, map[string]any{"type": "function", "function": fn})
		}
		if len(ct) > 0 {
			setExtra(&out.Extra, "tools", ct)
		}
	}
	if raw, ok := req.Extra["tool_choice"]; ok && string(raw) != "null" {
		var c struct {
			Type                   string `json:"type"`
			Name                   string `json:"name"`
			DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
		}
		if json.Unmarshal(raw, &c) != nil {
			return refuse("tool_choice", "must be {type: auto|any|none|tool}")
		}
		switch c.Type {
		case "auto":
			setExtra(&out.Extra, "tool_choice", "auto")
		case "any":
			setExtra(&out.Extra, "tool_choice", "required")
		case "none":
			setExtra(&out.Extra, "tool_choice", "none")
		case "tool":
			if c.Name == "" {
				return refuse("tool_choice.name", "is required with type tool")
			}
			setExtra(&out.Extra, "tool_choice", map[string]any{"type": "function", "function": map[string]string{"name": c.Name}})
		default:
			return refuse("tool_choice.type", "unknown %q (want auto, any, none or tool)", c.Type)
		}
		if c.DisableParallelToolUse {
			setExtra(&out.Extra, "parallel_tool_calls", false)
		}
	}
	return nil
}

// anthropicToolBlock is the part of a request's content block that tool
// use needs.
type anthropicToolBlock struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

// messageToChat turns one Anthropic message into OpenAI messages: an
// assistant turn's tool_use blocks become its tool_calls; a user turn's
// tool_result blocks become tool messages, ahead of its other content
// (OpenAI wants the results right after the calls). Ids are kept.
func messageToChat(m anthropic.Message, field string) ([]openai.ChatMessage, error) {
	var blocks []json.RawMessage
	if json.Unmarshal(m.Content, &blocks) != nil || !hasToolBlocks(blocks) {
		content, err := anthropicContentToChat(m.Content, field+".content")
		if err != nil {
			return nil, err
		}
		return []openai.ChatMessage{{Role: m.Role, Content: content}}, nil
	}
	var out, tools []openai.ChatMessage
	var rest []json.RawMessage
	var calls []openai.ToolCall
	for i, raw := range blocks {
		bf := fmt.Sprintf("%s.content[%d]", field, i)
		var b anthropicToolBlock
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, refuse(bf, "is not a content block")
		}
		switch {
		case b.Type == "tool_use" && m.Role == "assistant":
			args := string(b.Input)
			if args == "" || args == "null" {
				args = "{}"
			}
			calls = append(calls, openai.ToolCall{ID: b.ID, Type: "function", Function: openai.ToolCallFunction{Name: b.Name, Arguments: args}})
		case b.Type == "tool_result" && m.Role == "user":
			text := ""
			if len(b.Content) > 0 && string(b.Content) != "null" {
				t, err := anthropicText(b.Content, bf+".content")
				if err != nil {
					return nil, err
				}
				text = t
			}
			if b.IsError {
				text = "[error] " + text // OpenAI's tool messages have no error flag
			}
			tools = append(tools, openai.ChatMessage{Role: "tool", ToolCallID: b.ToolUseID, Content: openai.TextContent(text)})
		case b.Type == "tool_use" || b.Type == "tool_result":
			return nil, refuse(bf+".type", "%s blocks belong in %s turns", b.Type, map[bool]string{true: "assistant", false: "user"}[b.Type == "tool_use"])
		default:
			rest = append(rest, raw)
		}
	}
	out = append(out, tools...)
	var content json.RawMessage
	if len(rest) > 0 {
		restJSON, _ := json.Marshal(rest)
		c, err := anthropicContentToChat(restJSON, field+".content")
		if err != nil {
			return nil, err
		}
		content = c
	}
	switch {
	case len(calls) > 0:
		msg := openai.ChatMessage{Role: "assistant", Content: content}
		if content == nil {
			msg.Content = json.RawMessage("null")
		}
		msg.ToolCalls, _ = json.Marshal(calls)
		out = append(out, msg)
	case content != nil:
		out = append(out, openai.ChatMessage{Role: m.Role, Content: content})
	}
	return out, nil
}

func hasToolBlocks(blocks []json.RawMessage) bool {
	for _, raw := range blocks {
		var b struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(raw, &b) == nil && (b.Type == "tool_use" || b.Type == "tool_result") {
			return true
		}
	}
	return false
}

// toolUseOf turns an answer's tool calls into tool_use blocks, in order;
// arguments that are not a JSON object become an empty input.
func toolUseOf(raw json.RawMessage) []anthropic.ContentBlock {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var calls []openai.ToolCall
	if json.Unmarshal(raw, &calls) != nil {
		return nil
	}
	var blocks []anthropic.ContentBlock
	for _, c := range calls {
		input := json.RawMessage(c.Function.Arguments)
		var obj map[string]json.RawMessage
		if json.Unmarshal(input, &obj) != nil {
			input = json.RawMessage(`{}`)
		}
		blocks = append(blocks, anthropic.ContentBlock{Type: "tool_use", ID: c.ID, Name: c.Function.Name, Input: input})
	}
	return blocks
}
