package khivetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

func writeAnthropicError(w http.ResponseWriter, status int, typ, msg string, headers map[string]string) {
	for k, v := range headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Request-Id", "req_fake")
	writeJSON(w, status, map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}})
}

// anthropicReply is the reply to a messages request and why it stopped:
// "echo: " and the last user text, cut at a stop sequence or max_tokens
// words; a message asking to "refuse" is refused.
func anthropicReply(body map[string]any) (text, stopReason string, stopSeq any) {
	last := ""
	msgs, _ := body["messages"].([]any)
	for _, m := range msgs {
		mm, _ := m.(map[string]any)
		if mm["role"] != "user" {
			continue
		}
		switch c := mm["content"].(type) {
		case string:
			last = c
		case []any:
			last = ""
			for _, b := range c {
				if bm, _ := b.(map[string]any); bm["type"] == "text" {
					t, _ := bm["text"].(string)
					last += t
				}
			}
		}
	}
	if strings.Contains(last, "refuse") {
		return "", "refusal", nil
	}
	text, stopReason = "echo: "+last, "end_turn"
	if answer, ok := toolAnswer(body); ok {
		text = answer
	}
	if seqs, _ := body["stop_sequences"].([]any); len(seqs) > 0 {
		for _, sq := range seqs {
			if s, _ := sq.(string); s != "" {
				if i := strings.Index(text, s); i >= 0 {
					return text[:i], "stop_sequence", s
				}
			}
		}
	}
	if mt, ok := body["max_tokens"].(float64); ok {
		words := strings.SplitAfter(text, " ")
		if len(words) > int(mt) {
			return strings.Join(words[:int(mt)], ""), "max_tokens", nil
		}
	}
	return text, stopReason, stopSeq
}

func messagesResponse(body map[string]any) map[string]any {
	model, _ := body["model"].(string)
	text, stop, seq := anthropicReply(body)
	content := []any{}
	if t, ok := thought(body); ok {
		content = append(content, map[string]any{"type": "thinking", "thinking": t, "signature": fakeSignature})
	}
	if name, args, ok := toolCall(body); ok {
		text, stop, seq = "", "tool_use", nil
		content = append(content, map[string]any{"type": "tool_use", "id": "toolu_fake_1", "name": name, "input": args})
	}
	if text != "" {
		content = append(content, map[string]any{"type": "text", "text": text})
	}
	return map[string]any{
		"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": content,
		"stop_reason": stop, "stop_sequence": seq,
		"usage": map[string]any{"input_tokens": tokens(fmt.Sprint(body["messages"])), "output_tokens": tokens(text)},
	}
}

// messagesStream sends Anthropic's event sequence, one text_delta per word.
func (s *Server) messagesStream(w http.ResponseWriter, r *http.Request, body map[string]any, f Fault) {
	model, _ := body["model"].(string)
	text, stop, seq := anthropicReply(body)
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	send := func(event string, v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		_ = rc.Flush()
	}
	input := tokens(fmt.Sprint(body["messages"]))
	send("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": map[string]any{"input_tokens": input, "output_tokens": 1}}})
	at := 0 // the next block's index
	if t, ok := thought(body); ok {
		send("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "thinking", "thinking": "", "signature": ""}})
		send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "thinking_delta", "thinking": t}})
		send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "signature_delta", "signature": fakeSignature}})
		send("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
		at = 1
	}
	if name, args, ok := toolCall(body); ok {
		send("content_block_start", map[string]any{"type": "content_block_start", "index": at,
			"content_block": map[string]any{"type": "tool_use", "id": "toolu_fake_1", "name": name, "input": map[string]any{}}})
		for _, part := range halves(argsJSON(args)) {
			send("content_block_delta", map[string]any{"type": "content_block_delta", "index": at,
				"delta": map[string]any{"type": "input_json_delta", "partial_json": part}})
		}
		send("content_block_stop", map[string]any{"type": "content_block_stop", "index": at})
		send("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "tool_use", "stop_sequence": nil},
			"usage": map[string]any{"output_tokens": 5}})
		send("message_stop", map[string]any{"type": "message_stop"})
		return
	}
	send("content_block_start", map[string]any{"type": "content_block_start", "index": at, "content_block": map[string]any{"type": "text", "text": ""}})
	send("ping", map[string]any{"type": "ping"})
	for i, word := range strings.SplitAfter(text, " ") {
		if word == "" {
			continue
		}
		switch {
		case f.Kind == ErrorEvent && i == 1:
			send("error", map[string]any{"type": "error", "error": map[string]any{"type": "overloaded_error", "message": "Overloaded"}})
			return
		case f.Kind == CutStream && i == 1:
			fmt.Fprint(w, "event: content_block_delta\ndata: {\"type\":\"content_blo")
			_ = rc.Flush()
			hijackClose(w)
			return
		case f.Kind == SlowBody && f.Delay > 0:
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		}
		send("content_block_delta", map[string]any{"type": "content_block_delta", "index": at, "delta": map[string]any{"type": "text_delta", "text": word}})
	}
	send("content_block_stop", map[string]any{"type": "content_block_stop", "index": at})
	send("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": seq},
		"usage": map[string]any{"output_tokens": tokens(text)}})
	send("message_stop", map[string]any{"type": "message_stop"})
}
