package khivetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// responsesInputText is the text of a Responses request's input: the
// string, or the last message item's text.
func responsesInputText(body map[string]any) string {
	switch in := body["input"].(type) {
	case string:
		return in
	case []any:
		text := ""
		for _, it := range in {
			m, _ := it.(map[string]any)
			if m["role"] == "user" {
				text = contentText(m["content"])
			}
		}
		return text
	}
	return ""
}

func responseObject(body map[string]any, status string, text string) map[string]any {
	model, _ := body["model"].(string)
	output := []any{}
	if text != "" {
		output = append(output, map[string]any{"type": "message", "id": "msg_fake", "status": "completed", "role": "assistant",
			"content": []any{outputText(text)}})
	}
	in, out := tokens(responsesInputText(body)), tokens(text)
	return map[string]any{"id": "resp_fake", "object": "response", "created_at": 1700000000, "status": status,
		"error": nil, "instructions": nil, "metadata": map[string]any{}, "temperature": nil, "top_p": nil,
		"model": model, "output": output, "incomplete_details": nil, "parallel_tool_calls": true,
		"tool_choice": "auto", "tools": []any{},
		"usage": map[string]any{"input_tokens": in, "input_tokens_details": map[string]any{"cached_tokens": 0, "cache_write_tokens": 0},
			"output_tokens": out, "output_tokens_details": map[string]any{"reasoning_tokens": 0}, "total_tokens": in + out}}
}

// responses answers POST /v1/responses: "echo: " and the input's text,
// plain or as the Responses event stream.
func (s *Server) responses(w http.ResponseWriter, body map[string]any) {
	text := "echo: " + responsesInputText(body)
	if out, isResult := responsesLast(body); isResult {
		text = "tool said: " + out
	}
	stream, _ := body["stream"].(bool)
	if name, args, ok := responsesToolCall(body); ok {
		s.responsesCall(w, body, stream, name, argsJSON(args))
		return
	}
	if !stream {
		writeJSON(w, http.StatusOK, responseObject(body, "completed", text))
		return
	}
	send := responsesEvents(w)
	send("response.created", map[string]any{"response": responseObject(body, "in_progress", "")})
	send("response.output_item.added", map[string]any{"output_index": 0, "item": map[string]any{
		"type": "message", "id": "msg_fake", "status": "in_progress", "role": "assistant", "content": []any{}}})
	send("response.content_part.added", map[string]any{"item_id": "msg_fake", "output_index": 0, "content_index": 0,
		"part": outputText("")})
	for _, word := range strings.SplitAfter(text, " ") {
		send("response.output_text.delta", map[string]any{"item_id": "msg_fake", "output_index": 0, "content_index": 0, "delta": word, "logprobs": []any{}})
	}
	send("response.output_text.done", map[string]any{"item_id": "msg_fake", "output_index": 0, "content_index": 0, "text": text, "logprobs": []any{}})
	part := outputText(text)
	send("response.content_part.done", map[string]any{"item_id": "msg_fake", "output_index": 0, "content_index": 0, "part": part})
	// Clients that build their transcript from finished items (Codex) read
	// them here, not from the deltas.
	send("response.output_item.done", map[string]any{"output_index": 0, "item": map[string]any{
		"type": "message", "id": "msg_fake", "status": "completed", "role": "assistant", "content": []any{part}}})
	send("response.completed", map[string]any{"response": responseObject(body, "completed", text)})
}

// responsesCall answers with one function call, plain or streamed.
func (s *Server) responsesCall(w http.ResponseWriter, body map[string]any, stream bool, name, args string) {
	item := map[string]any{"type": "function_call", "id": "fc_fake", "call_id": "call_fake_1", "name": name, "arguments": args, "status": "completed"}
	resp := responseObject(body, "completed", "")
	resp["output"] = []any{item}
	if !stream {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	send := responsesEvents(w)
	send("response.created", map[string]any{"response": responseObject(body, "in_progress", "")})
	send("response.output_item.added", map[string]any{"output_index": 0, "item": map[string]any{
		"type": "function_call", "id": "fc_fake", "call_id": "call_fake_1", "name": name, "arguments": "", "status": "in_progress"}})
	for _, part := range halves(args) {
		send("response.function_call_arguments.delta", map[string]any{"item_id": "fc_fake", "output_index": 0, "delta": part})
	}
	send("response.function_call_arguments.done", map[string]any{"item_id": "fc_fake", "output_index": 0, "name": name, "arguments": args})
	send("response.output_item.done", map[string]any{"output_index": 0, "item": item})
	send("response.completed", map[string]any{"response": resp})
}

// responsesEvents starts a Responses event stream on w: each call sends
// one event, typed and numbered by sequence_number, and flushes it.
func responsesEvents(w http.ResponseWriter) func(typ string, fields map[string]any) {
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	seq := 0
	return func(typ string, fields map[string]any) {
		fields["type"], fields["sequence_number"] = typ, seq
		seq++
		b, _ := json.Marshal(fields)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b)
		_ = rc.Flush()
	}
}

// outputText is a message's output_text part, as the Responses API's
// schema has it.
func outputText(text string) map[string]any {
	return map[string]any{"type": "output_text", "text": text, "annotations": []any{}, "logprobs": []any{}}
}
