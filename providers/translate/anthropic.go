package translate

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/khive-go/khive/providers/anthropic"

	"github.com/khive-go/khive/providers/openai"
)

// Error is a request that cannot be carried to the other
// format; Field names the offending field (messages[2].tool_calls).
type Error struct {
	Field   string
	Message string
}

func (e *Error) Error() string { return e.Field + ": " + e.Message }

func refuse(field, format string, args ...any) error {
	return &Error{Field: field, Message: fmt.Sprintf(format, args...)}
}

// anthropicBlock is a content block built for a request.
type anthropicBlock = map[string]any

// ChatToMessages translates an OpenAI chat request for an Anthropic
// messages endpoint: system messages go to system, consecutive turns of one
// role are merged, max_tokens comes from max_completion_tokens, max_tokens
// or opts.MaxTokens, stop becomes stop_sequences, temperature and top_p
// pass only when set, images become image blocks (a part's cache_control
// kept), function tools and tool_choice become Anthropic's, tool calls
// become tool_use blocks and tool messages tool_result blocks in the next
// user turn, reasoning_effort a thinking budget. Built-in tools (unless
// opts drop them), the legacy functions and n > 1 are refused with an
// Error naming the field; other OpenAI-only fields are dropped.
func ChatToMessages(req openai.ChatRequest, opts Options) (anthropic.MessagesRequest, Dropped, error) {
	var dropped Dropped
	out, err := chatToMessages(req, opts, &dropped)
	return out, dropped, err
}

func chatToMessages(req openai.ChatRequest, opts Options, dropped *Dropped) (anthropic.MessagesRequest, error) {
	out := anthropic.MessagesRequest{Model: req.Model, Stream: req.Stream, TopP: req.TopP}
	if err := toolsToAnthropic(req, opts, &out, dropped); err != nil {
		return out, err
	}
	if n, ok := req.Extra["n"]; ok && string(n) != "1" && string(n) != "null" {
		return out, refuse("n", "only one choice is supported when the model is served by Anthropic")
	}
	if t := req.Temperature; t != nil {
		if *t > 1 {
			return out, refuse("temperature", "must be between 0 and 1 when the model is served by Anthropic, got %v", *t)
		}
		out.Temperature = t
	}
	bounded := true
	switch {
	case req.MaxCompletionTokens != nil:
		out.MaxTokens = *req.MaxCompletionTokens
	case req.MaxTokens != nil:
		out.MaxTokens = *req.MaxTokens
	default:
		out.MaxTokens, bounded = opts.MaxTokens, false
	}
	if err := thinkingFromEffort(req, opts, bounded, &out, dropped); err != nil {
		return out, err
	}
	stops, err := stopSequences(req.Stop)
	if err != nil {
		return out, err
	}
	out.StopSequences = stops
	if u, ok := req.Extra["user"]; ok {
		setExtra(&out.Extra, "metadata", json.RawMessage(`{"user_id":`+string(u)+`}`))
	}

	var system []anthropicBlock
	var turns []turn
	for i, m := range req.Messages {
		field := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer":
			blocks, err := textBlocks(m.Content, field+".content")
			if err != nil {
				return out, err
			}
			system = append(system, blocks...)
			continue
		case "user", "assistant":
		case "tool":
			// A tool's result goes back in the next user turn; consecutive
			// results merge into one.
			b, err := toolResultBlock(m, field)
			if err != nil {
				return out, err
			}
			appendTurn(&turns, "user", []anthropicBlock{b})
			continue
		case "function":
			return out, refuse(field+".role", "legacy function messages cannot be carried to Anthropic; use tool messages")
		default:
			return out, refuse(field+".role", "unknown role %q", m.Role)
		}
		blocks, err := chatContentBlocks(m.Content, field+".content")
		if err != nil {
			return out, err
		}
		if m.Role == "assistant" {
			calls, err := toolUseBlocks(m.ToolCalls, field+".tool_calls")
			if err != nil {
				return out, err
			}
			blocks = append(blocks, calls...)
		}
		if len(blocks) == 0 {
			continue // Anthropic rejects empty content
		}
		appendTurn(&turns, m.Role, blocks)
	}
	if len(turns) == 0 {
		return out, refuse("messages", "at least one user or assistant message with content is required")
	}
	out.System = systemOf(system)
	for _, t := range turns {
		var content json.RawMessage
		if _, cached := t.blocks[0]["cache_control"]; len(t.blocks) == 1 && t.blocks[0]["type"] == "text" && !cached {
			content, _ = json.Marshal(t.blocks[0]["text"]) // the plain form for a single text
		} else {
			content, _ = json.Marshal(t.blocks)
		}
		out.Messages = append(out.Messages, anthropic.Message{Role: t.role, Content: content})
	}
	return out, nil
}

// turn is one Anthropic message being built.
type turn struct {
	role   string
	blocks []anthropicBlock
}

// appendTurn adds blocks to the last turn when it has the same role (
// Anthropic alternates roles), else starts a turn.
func appendTurn(turns *[]turn, role string, blocks []anthropicBlock) {
	if n := len(*turns); n > 0 && (*turns)[n-1].role == role {
		(*turns)[n-1].blocks = append((*turns)[n-1].blocks, blocks...)
		return
	}
	*turns = append(*turns, turn{role, blocks})
}

// stopSequences reads OpenAI's stop: a string or an array of strings.
func stopSequences(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, refuse("stop", "must be a string or an array of strings")
	}
	return many, nil
}

// textBlocks reads content that must be text (a string or text parts).
func textBlocks(raw json.RawMessage, field string) ([]anthropicBlock, error) {
	blocks, err := chatContentBlocks(raw, field)
	if err != nil {
		return nil, err
	}
	for i, bl := range blocks {
		if bl["type"] != "text" {
			return nil, refuse(fmt.Sprintf("%s[%d].type", field, i), "only text is allowed here")
		}
	}
	return blocks, nil
}

// systemOf is the system prompt of the chat request's system text blocks:
// one string, the blocks joined by a blank line, unless a block carries
// cache_control, which only the block form keeps.
func systemOf(blocks []anthropicBlock) json.RawMessage {
	if len(blocks) == 0 {
		return nil
	}
	texts := make([]string, len(blocks))
	for i, b := range blocks {
		if _, cached := b["cache_control"]; cached {
			out, _ := json.Marshal(blocks)
			return out
		}
		texts[i], _ = b["text"].(string) // chatContentBlocks makes text blocks of strings
	}
	out, _ := json.Marshal(strings.Join(texts, "\n\n"))
	return out
}

// chatContentBlocks turns OpenAI content (a string or parts) into
// Anthropic blocks; empty texts are dropped.
func chatContentBlocks(raw json.RawMessage, field string) ([]anthropicBlock, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil, nil
		}
		return []anthropicBlock{{"type": "text", "text": s}}, nil
	}
	var parts []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL *struct {
			URL string `json:"url"`
		} `json:"image_url"`
		// CacheControl is Anthropic's, as OpenRouter and LiteLLM let chat
		// clients mark a part: kept for Anthropic.
		CacheControl json.RawMessage `json:"cache_control"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, refuse(field, "must be a string or an array of content parts")
	}
	var blocks []anthropicBlock
	for i, p := range parts {
		pf := fmt.Sprintf("%s[%d]", field, i)
		n := len(blocks)
		switch p.Type {
		case "text":
			if p.Text != "" {
				blocks = append(blocks, anthropicBlock{"type": "text", "text": p.Text})
			}
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, refuse(pf+".image_url.url", "is required")
			}
			src, err := imageSource(p.ImageURL.URL, pf+".image_url.url")
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, anthropicBlock{"type": "image", "source": src})
		default:
			return nil, refuse(pf+".type", "%q parts are not supported when the model is served by Anthropic", p.Type)
		}
		if len(blocks) > n && len(p.CacheControl) > 0 && string(p.CacheControl) != "null" {
			blocks[n]["cache_control"] = p.CacheControl
		}
	}
	return blocks, nil
}

// imageSource turns an image URL (https or a base64 data URL) into an
// Anthropic image source.
func imageSource(u, field string) (map[string]any, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isBase64 || mediaType == "" {
			return nil, refuse(field, "data URLs must be data:MEDIA_TYPE;base64,DATA")
		}
		return map[string]any{"type": "base64", "media_type": mediaType, "data": data}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return map[string]any{"type": "url", "url": u}, nil
	}
	return nil, refuse(field, "must be an http(s) URL or a base64 data URL")
}

// FinishReason maps an Anthropic stop_reason to OpenAI's finish_reason.
func FinishReason(stopReason string) string {
	switch stopReason {
	case "max_tokens":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return "stop" // end_turn, stop_sequence, pause_turn, and anything new
}

// StopReason maps an OpenAI finish_reason to Anthropic's stop_reason.
func StopReason(finishReason string) string {
	switch finishReason {
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	}
	return "end_turn"
}

// MessagesToChat translates an Anthropic answer to a chat completion:
// text blocks joined, stop_reason mapped, usage summed.
func MessagesToChat(resp anthropic.MessagesResponse, created int64) openai.ChatResponse {
	var text strings.Builder
	for _, b := range resp.Content {
		if b.Type == "text" {
			text.WriteString(b.Text)
		}
	}
	msg := openai.ChatMessage{Role: "assistant", Content: openai.TextContent(text.String())}
	setExtra(&msg.Extra, "refusal", nil) // required by the schema: null, as OpenAI answers
	if r := thinkingOf(resp.Content); r != "" {
		setExtra(&msg.Extra, "reasoning_content", r) // as DeepSeek and vLLM send reasoning
	}
	if calls := toolCallsOf(resp.Content); len(calls) > 0 {
		msg.ToolCalls, _ = json.Marshal(calls)
		if text.Len() == 0 {
			msg.Content = json.RawMessage("null") // as OpenAI answers a call without text
		}
	}
	return openai.ChatResponse{
		ID: resp.ID, Object: "chat.completion", Created: created, Model: resp.Model,
		Choices: []openai.ChatChoice{{Index: 0, FinishReason: FinishReason(resp.StopReason), Message: msg}},
		Usage: &openai.ChatUsage{PromptTokens: resp.Usage.InputTokens, CompletionTokens: resp.Usage.OutputTokens,
			TotalTokens: resp.Usage.InputTokens + resp.Usage.OutputTokens},
	}
}

// thinkingOf joins an answer's thinking blocks.
func thinkingOf(blocks []anthropic.ContentBlock) string {
	var b strings.Builder
	for _, bl := range blocks {
		if bl.Type == "thinking" {
			b.WriteString(bl.Thinking)
		}
	}
	return b.String()
}

// thinkingBlock is a chat answer's reasoning as a thinking block. Its
// signature is empty: only Anthropic signs thinking, and a client that
// sends the block back through the gateway to a chat target has it
// dropped there (chat takes no reasoning back).
func thinkingBlock(text string) anthropic.ContentBlock {
	b := anthropic.ContentBlock{Type: "thinking", Thinking: text}
	setExtra(&b.Extra, "signature", "")
	return b
}

// ChatToMessagesResponse translates a chat completion to an Anthropic answer.
func ChatToMessagesResponse(resp openai.ChatResponse) anthropic.MessagesResponse {
	out := anthropic.MessagesResponse{ID: resp.ID, Type: "message", Role: "assistant", Model: resp.Model,
		Content: []anthropic.ContentBlock{}, StopReason: "end_turn"}
	if len(resp.Choices) > 0 {
		c := resp.Choices[0]
		if r := c.Message.Reasoning(); r != "" {
			out.Content = append(out.Content, thinkingBlock(r))
		}
		if t := c.Message.Text(); t != "" {
			out.Content = append(out.Content, anthropic.ContentBlock{Type: "text", Text: t})
		}
		out.Content = append(out.Content, toolUseOf(c.Message.ToolCalls)...)
		out.StopReason = StopReason(c.FinishReason)
	}
	if resp.Usage != nil {
		out.Usage = anthropic.Usage{InputTokens: resp.Usage.PromptTokens, OutputTokens: resp.Usage.CompletionTokens}
	}
	return out
}

// MessagesToChatRequest translates an Anthropic request for an
// OpenAI-compatible endpoint: system becomes the first message, text and
// image blocks become parts, stop_sequences becomes stop, tools and
// tool_choice become function tools, tool_use and tool_result blocks
// become tool calls and tool messages, thinking (or output_config.effort)
// reasoning_effort unless opts drop it; thinking blocks sent back are left
// out (chat takes no reasoning back); top_k and metadata are dropped
// (user_id becomes user). Server tools are refused, or with opts dropped
// (their types returned).
func MessagesToChatRequest(req anthropic.MessagesRequest, opts Options) (openai.ChatRequest, Dropped, error) {
	out := openai.ChatRequest{Model: req.Model, Stream: req.Stream, Temperature: req.Temperature, TopP: req.TopP}
	if req.MaxTokens > 0 {
		mt := req.MaxTokens
		out.MaxTokens = &mt
	}
	var dropped Dropped
	if err := toolsToChat(req, opts, &out, &dropped); err != nil {
		return out, dropped, err
	}
	reasoningToChat(req, opts, &out, &dropped)
	out, err := messagesToChat(req, out)
	return out, dropped, err
}

func messagesToChat(req anthropic.MessagesRequest, out openai.ChatRequest) (openai.ChatRequest, error) {
	if req.Stream {
		out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	if len(req.StopSequences) > 0 {
		out.Stop, _ = json.Marshal(req.StopSequences)
	}
	if md, ok := req.Extra["metadata"]; ok {
		var m struct {
			UserID string `json:"user_id"`
		}
		if json.Unmarshal(md, &m) == nil && m.UserID != "" {
			setExtra(&out.Extra, "user", m.UserID)
		}
	}
	if len(req.System) > 0 && string(req.System) != "null" {
		text, err := anthropicSystem(req.System, "system")
		if err != nil {
			return out, err
		}
		if text != "" {
			out.Messages = append(out.Messages, openai.ChatMessage{Role: "system", Content: openai.TextContent(text)})
		}
	}
	for i, m := range req.Messages {
		field := fmt.Sprintf("messages[%d]", i)
		if m.Role == "system" {
			// A system turn mid-conversation (Claude Code sends one when
			// the tools change): a chat system message at its place.
			text, err := anthropicSystem(m.Content, field+".content")
			if err != nil {
				return out, err
			}
			out.Messages = append(out.Messages, openai.ChatMessage{Role: "system", Content: openai.TextContent(text)})
			continue
		}
		if m.Role != "user" && m.Role != "assistant" {
			return out, refuse(field+".role", "must be user, assistant or system, got %q", m.Role)
		}
		msgs, err := messageToChat(m, field)
		if err != nil {
			return out, err
		}
		out.Messages = append(out.Messages, msgs...)
	}
	if len(out.Messages) == 0 {
		return out, refuse("messages", "at least one message is required")
	}
	return out, nil
}

type anthropicInBlock struct {
	Type   string `json:"type"`
	Text   string `json:"text"`
	Source *struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type"`
		Data      string `json:"data"`
		URL       string `json:"url"`
	} `json:"source"`
}

// anthropicSystem reads system text: a string, or text blocks joined with
// a blank line (each block is its own paragraph of instructions).
func anthropicSystem(raw json.RawMessage, field string) (string, error) {
	return readText(raw, field, "\n\n")
}

// anthropicText reads a string or text blocks, joined as they are.
func anthropicText(raw json.RawMessage, field string) (string, error) {
	return readText(raw, field, "")
}

// readText reads a string or text blocks joined with sep.
func readText(raw json.RawMessage, field, sep string) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var blocks []anthropicInBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", refuse(field, "must be a string or an array of text blocks")
	}
	var b strings.Builder
	for i, bl := range blocks {
		if bl.Type != "text" {
			return "", refuse(fmt.Sprintf("%s[%d].type", field, i), "only text is allowed here")
		}
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(bl.Text)
	}
	return b.String(), nil
}

// anthropicContentToChat turns Anthropic content into OpenAI content: a
// string stays a string, text-only blocks are joined, images become
// image_url parts.
func anthropicContentToChat(raw json.RawMessage, field string) (json.RawMessage, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return openai.TextContent(s), nil
	}
	var blocks []anthropicInBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, refuse(field, "must be a string or an array of content blocks")
	}
	var parts []map[string]any
	textOnly := true
	var text strings.Builder
	for i, b := range blocks {
		bf := fmt.Sprintf("%s[%d]", field, i)
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
			parts = append(parts, map[string]any{"type": "text", "text": b.Text})
		case "thinking", "redacted_thinking":
			// Reasoning sent back: chat takes none, so it is left out.
		case "image":
			textOnly = false
			if b.Source == nil {
				return nil, refuse(bf+".source", "is required")
			}
			u := b.Source.URL
			if b.Source.Type == "base64" {
				u = "data:" + b.Source.MediaType + ";base64," + b.Source.Data
			}
			if u == "" {
				return nil, refuse(bf+".source", "needs a url or base64 data")
			}
			parts = append(parts, map[string]any{"type": "image_url", "image_url": map[string]string{"url": u}})
		default:
			return nil, refuse(bf+".type", "%q blocks are not supported when the model is served by an OpenAI-compatible endpoint", b.Type)
		}
	}
	if textOnly {
		return openai.TextContent(text.String()), nil
	}
	return json.Marshal(parts)
}
