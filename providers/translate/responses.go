package translate

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/khive-go/khive/providers/openai"
)

// ResponsesToChat translates a Responses API request for a chat endpoint:
// instructions become the system message, input (a string, or message,
// function_call and function_call_output items) becomes messages (calls
// merged into one assistant message, outputs tool messages), function
// tools and tool_choice become chat's, max_output_tokens max_tokens,
// text.format response_format. A namespace tool's functions become chat
// functions named NAMESPACE__NAME (chat's function names allow no dot),
// and calls of them come back in the namespace (see Tools). What needs
// state or a server (previous_response_id, store, background, conversation,
// built-in tools unless opts drop them) is refused with an Error naming
// the field. The Translation it returns turns the chat answer back into
// the response the request asked for (see ChatToResponse,
// ResponsesFromChat).
func ResponsesToChat(req openai.ResponsesRequest, opts Options) (openai.ChatRequest, Translation, error) {
	tr := Translation{instructions: req.Instructions, temperature: req.Temperature, topP: req.TopP,
		tools: req.Tools, toolChoice: req.ToolChoice, metadata: req.Extra["metadata"]}
	out, err := responsesToChat(req, opts, &tr)
	return out, tr, err
}

// Options are how a translation treats what its target lacks.
type Options struct {
	// DropBuiltinTools drops built-in and server tools (web_search,
	// file_search, code_interpreter, Anthropic's web_search_20250305, …),
	// which the target cannot run, instead of refusing the request; the
	// translation names what it dropped.
	DropBuiltinTools bool
	// DropReasoning leaves out what the request asks of reasoning
	// (reasoning_effort, thinking, reasoning.effort), for a target whose
	// model does not reason and would refuse it; the translation names
	// the field.
	DropReasoning bool
	// MaxTokens is an Anthropic request's max_tokens when the chat
	// request sets no bound (Anthropic requires one).
	MaxTokens int
}

// Dropped is what a translation left out at its Options' word, or because
// the target could not take it.
type Dropped struct {
	Tools  []string // built-in tools' types, in the request's order
	Fields []string // request fields: reasoning_effort, thinking, reasoning
}

// Translation is what a Responses request became in chat, for its
// answer: the namespaces whose functions were flattened, what was
// dropped, and what the response echoes of the request (instructions,
// temperature, top_p, tools, tool_choice, metadata).
type Translation struct {
	Namespaces map[string]bool
	Dropped    Dropped

	instructions      string
	temperature, topP *float64
	tools, toolChoice json.RawMessage
	metadata          json.RawMessage
}

// echoTools is a request's tools as a response repeats them: a function
// tool with the strict and parameters fields the schema requires (null
// when the request gave none).
func echoTools(raw json.RawMessage) json.RawMessage {
	var tools []map[string]json.RawMessage
	if json.Unmarshal(raw, &tools) != nil {
		return raw
	}
	for _, t := range tools {
		if string(t["type"]) != `"function"` {
			continue
		}
		for _, k := range []string{"strict", "parameters"} {
			if _, ok := t[k]; !ok {
				t[k] = json.RawMessage("null")
			}
		}
	}
	b, err := json.Marshal(tools)
	if err != nil {
		return raw
	}
	return b
}

// echo fills what a response repeats of its request, and the fields the
// Responses API's schema requires (null when the request had none).
func (t Translation) echo(r *openai.Response) {
	if t.instructions != "" {
		r.Instructions = &t.instructions
	}
	r.Temperature, r.TopP = t.temperature, t.topP
	r.Tools, r.ToolChoice = json.RawMessage(`[]`), json.RawMessage(`"auto"`)
	if len(t.tools) > 0 && string(t.tools) != "null" {
		r.Tools = echoTools(t.tools)
	}
	if len(t.toolChoice) > 0 && string(t.toolChoice) != "null" {
		r.ToolChoice = t.toolChoice
	}
	r.Metadata = json.RawMessage(`{}`)
	if len(t.metadata) > 0 && string(t.metadata) != "null" {
		r.Metadata = t.metadata
	}
}

// flatSep joins a namespace and a function name into one chat function
// name.
const flatSep = "__"

// Split is a chat function name as the Responses API names it: its
// namespace (when it is one Tools flattened) and its own name.
func (t Translation) Split(flat string) (namespace, name string) {
	if ns, n, ok := strings.Cut(flat, flatSep); ok && t.Namespaces[ns] {
		return ns, n
	}
	return "", flat
}

// call is the function_call item of a chat tool call.
func (t Translation) call(id, status, callID, flat, args string) openai.OutputItem {
	ns, name := t.Split(flat)
	return openai.OutputItem{Type: "function_call", ID: id, Status: status, CallID: callID, Name: name, Namespace: ns, Arguments: args}
}

func responsesToChat(req openai.ResponsesRequest, opts Options, tools *Translation) (openai.ChatRequest, error) {
	out := openai.ChatRequest{Model: req.Model, Stream: req.Stream, MaxTokens: req.MaxOutputTokens,
		Temperature: req.Temperature, TopP: req.TopP}
	for _, f := range []string{"previous_response_id", "background", "conversation", "prompt"} {
		if v, ok := req.Extra[f]; ok && string(v) != "null" && string(v) != "false" {
			return out, refuse(f, "needs state the gateway does not keep; only an OpenAI responses endpoint can serve it")
		}
	}
	if v, ok := req.Extra["store"]; ok && string(v) == "true" {
		return out, refuse("store", "responses are not stored by the gateway; send store: false")
	}
	if req.Stream {
		out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	if req.Instructions != "" {
		out.Messages = append(out.Messages, openai.ChatMessage{Role: "system", Content: openai.TextContent(req.Instructions)})
	}
	msgs, err := responsesInput(req.Input)
	if err != nil {
		return out, err
	}
	out.Messages = append(out.Messages, msgs...)
	if len(out.Messages) == 0 {
		return out, refuse("input", "is required")
	}
	if err := responsesTools(req, opts, &out, tools); err != nil {
		return out, err
	}
	if err := responsesTextFormat(req.Text, &out); err != nil {
		return out, err
	}
	responsesEffort(req, opts, &out, &tools.Dropped)
	if v, ok := req.Extra["parallel_tool_calls"]; ok {
		setExtra(&out.Extra, "parallel_tool_calls", v)
	}
	if v, ok := req.Extra["user"]; ok {
		setExtra(&out.Extra, "user", v)
	}
	return out, nil
}

// responsesInput turns input into chat messages.
func responsesInput(raw json.RawMessage) ([]openai.ChatMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []openai.ChatMessage{{Role: "user", Content: openai.TextContent(s)}}, nil
	}
	var items []struct {
		Type      string          `json:"type"`
		Role      string          `json:"role"`
		Content   json.RawMessage `json:"content"`
		CallID    string          `json:"call_id"`
		Name      string          `json:"name"`
		Namespace string          `json:"namespace"`
		Arguments string          `json:"arguments"`
		Output    json.RawMessage `json:"output"`
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, refuse("input", "must be a string or an array of items")
	}
	var out []openai.ChatMessage
	var calls []openai.ToolCall
	flush := func() {
		if len(calls) > 0 {
			tc, _ := json.Marshal(calls)
			out = append(out, openai.ChatMessage{Role: "assistant", Content: json.RawMessage("null"), ToolCalls: tc})
			calls = nil
		}
	}
	for i, it := range items {
		f := fmt.Sprintf("input[%d]", i)
		switch {
		case it.Type == "function_call":
			name := it.Name
			if it.Namespace != "" {
				name = it.Namespace + flatSep + it.Name
			}
			calls = append(calls, openai.ToolCall{ID: it.CallID, Type: "function", Function: openai.ToolCallFunction{Name: name, Arguments: it.Arguments}})
		case it.Type == "function_call_output":
			flush()
			text := string(it.Output)
			var s string
			if json.Unmarshal(it.Output, &s) == nil {
				text = s
			}
			out = append(out, openai.ChatMessage{Role: "tool", ToolCallID: it.CallID, Content: openai.TextContent(text)})
		case it.Type == "reasoning":
			// A reasoning item replayed (Codex sends back every one it
			// had): chat takes no reasoning back, so it is left out.
		case it.Type == "message" || (it.Type == "" && it.Role != ""):
			flush()
			content, err := responsesContent(it.Content, f+".content")
			if err != nil {
				return nil, err
			}
			role := it.Role
			if role == "developer" {
				role = "system"
			}
			out = append(out, openai.ChatMessage{Role: role, Content: content})
		default:
			return nil, refuse(f+".type", "%q items cannot be served by a chat endpoint", it.Type)
		}
	}
	flush()
	return out, nil
}

// responsesContent turns a message item's content (a string, or
// input_text, output_text and input_image parts) into chat content.
func responsesContent(raw json.RawMessage, field string) (json.RawMessage, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return openai.TextContent(s), nil
	}
	var parts []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL string `json:"image_url"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, refuse(field, "must be a string or an array of parts")
	}
	var chat []map[string]any
	textOnly := true
	var text strings.Builder
	for i, p := range parts {
		switch p.Type {
		case "input_text", "output_text", "text":
			text.WriteString(p.Text)
			chat = append(chat, map[string]any{"type": "text", "text": p.Text})
		case "input_image":
			textOnly = false
			chat = append(chat, map[string]any{"type": "image_url", "image_url": map[string]string{"url": p.ImageURL}})
		default:
			return nil, refuse(fmt.Sprintf("%s[%d].type", field, i), "%q parts cannot be served by a chat endpoint", p.Type)
		}
	}
	if textOnly {
		return openai.TextContent(text.String()), nil
	}
	return json.Marshal(chat)
}

// responsesTool is one entry of a Responses request's tools.
type responsesTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
	Tools       []responsesTool `json:"tools"` // a namespace's
}

// chatFunction is t as a chat function tool named name.
func (t responsesTool) chatFunction(name string) map[string]any {
	fn := map[string]any{"name": name}
	if t.Description != "" {
		fn["description"] = t.Description
	}
	if len(t.Parameters) > 0 && string(t.Parameters) != "null" {
		fn["parameters"] = t.Parameters
	}
	if t.Strict != nil {
		fn["strict"] = *t.Strict
	}
	return map[string]any{"type": "function", "function": fn}
}

// responsesTools turns function tools, namespaces of them and tool_choice
// into chat's; built-in tools are refused or, with opts, dropped.
func responsesTools(req openai.ResponsesRequest, opts Options, out *openai.ChatRequest, flat *Translation) error {
	if len(req.Tools) > 0 && string(req.Tools) != "null" {
		var tools []responsesTool
		if err := json.Unmarshal(req.Tools, &tools); err != nil {
			return refuse("tools", "must be an array of tools")
		}
		var ct []map[string]any
		for i, t := range tools {
			switch t.Type {
			case "function":
				ct = append(ct, t.chatFunction(t.Name))
			case "namespace":
				for j, f := range t.Tools {
					if f.Type != "function" {
						return refuse(fmt.Sprintf("tools[%d].tools[%d].type", i, j), "a namespace carried to chat holds function tools only, got %q", f.Type)
					}
					ct = append(ct, f.chatFunction(t.Name+flatSep+f.Name))
				}
				if flat.Namespaces == nil {
					flat.Namespaces = map[string]bool{}
				}
				flat.Namespaces[t.Name] = true
			default:
				if !opts.DropBuiltinTools {
					return refuse(fmt.Sprintf("tools[%d].type", i), "built-in tools (%q) need an OpenAI responses endpoint (or unsupported_tools: drop)", t.Type)
				}
				flat.Dropped.Tools = append(flat.Dropped.Tools, t.Type)
			}
		}
		if len(ct) > 0 {
			setExtra(&out.Extra, "tools", ct)
		}
	}
	if len(req.ToolChoice) > 0 && string(req.ToolChoice) != "null" {
		var s string
		if json.Unmarshal(req.ToolChoice, &s) == nil {
			setExtra(&out.Extra, "tool_choice", s)
			return nil
		}
		var c struct {
			Type string `json:"type"`
			Name string `json:"name"`
		}
		if json.Unmarshal(req.ToolChoice, &c) != nil || c.Type != "function" || c.Name == "" {
			return refuse("tool_choice", "must be auto, none, required or {type: function, name}")
		}
		setExtra(&out.Extra, "tool_choice", map[string]any{"type": "function", "function": map[string]string{"name": c.Name}})
	}
	return nil
}

// responsesTextFormat turns text.format into response_format.
func responsesTextFormat(raw json.RawMessage, out *openai.ChatRequest) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var text struct {
		Format *struct {
			Type   string          `json:"type"`
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict *bool           `json:"strict"`
		} `json:"format"`
	}
	if json.Unmarshal(raw, &text) != nil {
		return refuse("text", "must be an object")
	}
	if text.Format == nil || text.Format.Type == "text" {
		return nil
	}
	switch text.Format.Type {
	case "json_object":
		setExtra(&out.Extra, "response_format", map[string]string{"type": "json_object"})
	case "json_schema":
		js := map[string]any{"name": text.Format.Name, "schema": text.Format.Schema}
		if text.Format.Strict != nil {
			js["strict"] = *text.Format.Strict
		}
		setExtra(&out.Extra, "response_format", map[string]any{"type": "json_schema", "json_schema": js})
	default:
		return refuse("text.format.type", "unknown %q", text.Format.Type)
	}
	return nil
}

// ChatToResponse translates a chat completion into a response: text as a
// message item with output_text, tool calls as function_call items in
// order, finish_reason length or content_filter as an incomplete status.
// Calls of functions tools flattened come back in their namespace; what the
// request gave of instructions, temperature, top_p, tools, tool_choice and
// metadata is echoed.
func ChatToResponse(resp openai.ChatResponse, created int64, tools Translation) openai.Response {
	r := openai.Response{ID: "resp_" + strings.TrimPrefix(resp.ID, "chatcmpl-"), Object: "response", CreatedAt: created,
		Status: "completed", Model: resp.Model, Output: []openai.OutputItem{}, ParallelToolCalls: true}
	tools.echo(&r)
	if len(resp.Choices) > 0 {
		c := resp.Choices[0]
		if t := c.Message.Reasoning(); t != "" {
			r.Output = append(r.Output, reasoningItem(r.ID, t, "completed"))
		}
		if t := c.Message.Text(); t != "" {
			r.Output = append(r.Output, messageItem(r.ID, t, "completed"))
		}
		var calls []openai.ToolCall
		if len(c.Message.ToolCalls) > 0 {
			_ = json.Unmarshal(c.Message.ToolCalls, &calls)
		}
		for i, tc := range calls {
			r.Output = append(r.Output, tools.call(fmt.Sprintf("fc_%s_%d", r.ID, i), "completed", tc.ID, tc.Function.Name, tc.Function.Arguments))
		}
		r.Status, r.IncompleteDetails = responseStatus(c.FinishReason)
	}
	if u := resp.Usage; u != nil {
		r.Usage = &openai.ResponseUsage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
	}
	return r
}

// reasoningItem is a chat answer's reasoning as a reasoning item: its text
// as the summary, which is what the Responses API's clients show.
func reasoningItem(respID, text, status string) openai.OutputItem {
	return openai.OutputItem{Type: "reasoning", ID: "rs_" + respID, Status: status,
		Summary: []openai.SummaryPart{{Type: "summary_text", Text: text}}}
}

func messageItem(respID, text, status string) openai.OutputItem {
	return openai.OutputItem{Type: "message", ID: "msg_" + respID, Status: status, Role: "assistant",
		Content: []openai.OutputPart{{Type: "output_text", Text: text, Annotations: []any{}}}}
}

// responseStatus maps a finish_reason to a response's status.
func responseStatus(finish string) (string, *openai.IncompleteDetails) {
	switch finish {
	case "length":
		return "incomplete", &openai.IncompleteDetails{Reason: "max_output_tokens"}
	case "content_filter":
		return "incomplete", &openai.IncompleteDetails{Reason: "content_filter"}
	}
	return "completed", nil
}

// ResponsesFromChat turns chat completion chunks into the Responses API's
// event stream: response.created, then for reasoning (reasoning_content or
// reasoning) a reasoning item whose summary streams in
// (response.reasoning_summary_part.added, …summary_text.delta), for text
// response.output_item.added, response.content_part.added,
// response.output_text.delta..., for each tool call
// response.output_item.added, response.function_call_arguments.delta...,
// their .done events, and last response.completed (or
// response.incomplete) with the whole response; every event numbered by
// sequence_number. Create one per stream.
type ResponsesFromChat struct {
	Created int64
	// Tools maps calls of flattened functions back into their namespace
	// and says what the response echoes of its request.
	Tools Translation
	// Done, when set, is given the finished response as End sends it.
	Done func(openai.Response)

	started  bool
	seq      int
	resp     openai.Response
	items    []*openai.OutputItem // in output order
	text     strings.Builder
	reason   strings.Builder
	textAt   int         // the message item's output index, -1 before it opens
	reasonAt int         // the reasoning item's, likewise
	callAt   map[int]int // chat tool call index -> output index
	finish   string
}

// Event returns the events a chat chunk becomes.
func (t *ResponsesFromChat) Event(ev Event) []Event {
	c, ok := chatChunk(ev)
	if !ok {
		return nil
	}
	return t.chunk(c)
}

func (t *ResponsesFromChat) chunk(c openai.ChatChunk) []Event {
	var out []Event
	if !t.started {
		t.started, t.textAt, t.reasonAt = true, -1, -1
		t.resp = openai.Response{ID: "resp_" + strings.TrimPrefix(c.ID, "chatcmpl-"), Object: "response", CreatedAt: t.Created,
			Status: "in_progress", Model: c.Model, Output: []openai.OutputItem{}, ParallelToolCalls: true}
		t.Tools.echo(&t.resp)
		out = append(out, t.ev("response.created", map[string]any{"response": t.resp}),
			t.ev("response.in_progress", map[string]any{"response": t.resp}))
	}
	for _, ch := range c.Choices {
		if d := ch.Delta.ReasoningText(); d != "" {
			out = append(out, t.reasoning(d)...)
		}
		if d := ch.Delta.Content; d != "" {
			out = append(out, t.content(d)...)
		}
		for _, tc := range ch.Delta.ToolCalls {
			out = append(out, t.toolCall(tc)...)
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			t.finish = *ch.FinishReason
		}
	}
	if u := c.Usage; u != nil {
		t.resp.Usage = &openai.ResponseUsage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
	}
	return out
}

// open adds an item at the next output index and announces it.
func (t *ResponsesFromChat) open(item openai.OutputItem) (int, []Event) {
	at := len(t.items)
	t.items = append(t.items, &item)
	return at, []Event{t.ev("response.output_item.added", map[string]any{"output_index": at, "item": item})}
}

func (t *ResponsesFromChat) reasoning(d string) []Event {
	var out []Event
	id := "rs_" + t.resp.ID
	if t.reasonAt < 0 {
		item := reasoningItem(t.resp.ID, "", "in_progress")
		item.Summary = []openai.SummaryPart{}
		t.reasonAt, out = t.open(item)
		out = append(out, t.ev("response.reasoning_summary_part.added", map[string]any{"item_id": id, "output_index": t.reasonAt,
			"summary_index": 0, "part": openai.SummaryPart{Type: "summary_text"}}))
	}
	t.reason.WriteString(d)
	return append(out, t.ev("response.reasoning_summary_text.delta", map[string]any{"item_id": id,
		"output_index": t.reasonAt, "summary_index": 0, "delta": d}))
}

func (t *ResponsesFromChat) content(d string) []Event {
	var out []Event
	id := "msg_" + t.resp.ID
	if t.textAt < 0 {
		item := messageItem(t.resp.ID, "", "in_progress")
		item.Content = []openai.OutputPart{}
		t.textAt, out = t.open(item)
		out = append(out, t.ev("response.content_part.added", map[string]any{"item_id": id, "output_index": t.textAt, "content_index": 0,
			"part": openai.OutputPart{Type: "output_text", Annotations: []any{}}}))
	}
	t.text.WriteString(d)
	return append(out, t.ev("response.output_text.delta", map[string]any{"item_id": id,
		"output_index": t.textAt, "content_index": 0, "delta": d, "logprobs": []any{}}))
}

func (t *ResponsesFromChat) toolCall(tc openai.ToolCall) []Event {
	var out []Event
	k := 0
	if tc.Index != nil {
		k = *tc.Index
	}
	at, ok := t.callAt[k]
	if !ok {
		if t.callAt == nil {
			t.callAt = map[int]int{}
		}
		at, out = t.open(t.Tools.call(fmt.Sprintf("fc_%s_%d", t.resp.ID, k), "in_progress", tc.ID, tc.Function.Name, ""))
		t.callAt[k] = at
	}
	if tc.Function.Arguments != "" {
		item := t.items[at]
		item.Arguments += tc.Function.Arguments
		out = append(out, t.ev("response.function_call_arguments.delta", map[string]any{"item_id": item.ID,
			"output_index": at, "delta": tc.Function.Arguments}))
	}
	return out
}

// End returns the closing events.
func (t *ResponsesFromChat) End() []Event {
	var out []Event
	if !t.started {
		out = t.chunk(openai.ChatChunk{})
	}
	status, details := responseStatus(t.finish)
	items := make([]openai.OutputItem, len(t.items))
	for at, item := range t.items { // in output order
		switch at {
		case t.reasonAt:
			*item = reasoningItem(t.resp.ID, t.reason.String(), "completed")
			part := item.Summary[0]
			out = append(out,
				t.ev("response.reasoning_summary_text.done", map[string]any{"item_id": item.ID, "output_index": at, "summary_index": 0, "text": part.Text}),
				t.ev("response.reasoning_summary_part.done", map[string]any{"item_id": item.ID, "output_index": at, "summary_index": 0, "part": part}))
		case t.textAt:
			*item = messageItem(t.resp.ID, t.text.String(), "completed")
			part := item.Content[0]
			out = append(out,
				t.ev("response.output_text.done", map[string]any{"item_id": item.ID, "output_index": at, "content_index": 0, "text": part.Text, "logprobs": []any{}}),
				t.ev("response.content_part.done", map[string]any{"item_id": item.ID, "output_index": at, "content_index": 0, "part": part}))
		default:
			item.Status = "completed"
			out = append(out, t.ev("response.function_call_arguments.done", map[string]any{"item_id": item.ID, "output_index": at, "name": item.Name, "arguments": item.Arguments}))
		}
		out = append(out, t.ev("response.output_item.done", map[string]any{"output_index": at, "item": *item}))
		items[at] = *item
	}
	t.resp.Output, t.resp.Status, t.resp.IncompleteDetails = items, status, details
	if t.Done != nil {
		t.Done(t.resp)
	}
	name := "response.completed"
	if status == "incomplete" {
		name = "response.incomplete"
	}
	return append(out, t.ev(name, map[string]any{"response": t.resp}))
}

// ev is one Responses event: its name as the SSE event and in "type", and
// the next sequence_number.
func (t *ResponsesFromChat) ev(name string, fields map[string]any) Event {
	fields["type"] = name
	fields["sequence_number"] = t.seq
	t.seq++
	b, _ := json.Marshal(fields)
	return Event{Event: name, Data: string(b)}
}
