package khivetest

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// The hostile modes: what a provider behind a broken proxy, a buggy model
// server or an attacker holding an OpenAI-compatible base URL may send.
// They answer any path; Fault.Size sets their length where they have one.
const (
	// EndlessLine streams `data: aaaa…` with no newline until the client
	// leaves (or Size bytes).
	EndlessLine FaultKind = iota + 100
	// EndlessEvent streams `data:` lines never closed by a blank line.
	EndlessEvent
	// HugeLine streams one data line of Size bytes (default 100 MiB), then
	// [DONE].
	HugeLine
	// GzipBomb answers Fault.Status (default 200) with Content-Encoding:
	// gzip, a small body that inflates to Size bytes (default 512 MiB).
	GzipBomb
	// WrongContentType answers a 200 text/html page.
	WrongContentType
	// NoTerminalEvent streams one chunk (Anthropic: message_start and one
	// delta) and ends cleanly without the format's terminal event: no
	// finish_reason or [DONE], no message_stop.
	NoTerminalEvent
	// SecretEvent streams one chunk, then an error event whose message
	// holds the server's Key, as a proxy that echoes credentials would.
	SecretEvent
)

// hostile answers a hostile fault; false for any other kind.
func (s *Server) hostile(w http.ResponseWriter, r *http.Request, f Fault) bool {
	anthropic := strings.HasSuffix(r.URL.Path, "/messages")
	rc := http.NewResponseController(w)
	stream := func() {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
	}
	switch f.Kind {
	case EndlessLine, EndlessEvent:
		stream()
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		if f.Kind == EndlessEvent {
			chunk = []byte("data: " + strings.Repeat("a", 1000) + "\n")
		}
		if f.Kind == EndlessLine {
			_, _ = w.Write([]byte("data: "))
		}
		for sent := int64(0); f.Size == 0 || sent < f.Size; sent += int64(len(chunk)) {
			if _, err := w.Write(chunk); err != nil {
				return true // the client left
			}
			_ = rc.Flush()
		}
	case HugeLine:
		stream()
		size := cmp.Or(f.Size, 100<<20)
		_, _ = w.Write([]byte(`data: {"x":"`))
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for sent := int64(0); sent < size; sent += int64(len(chunk)) {
			if _, err := w.Write(chunk); err != nil {
				return true
			}
		}
		_, _ = w.Write([]byte("\"}\n\ndata: [DONE]\n\n"))
	case GzipBomb:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(cmp.Or(f.Status, http.StatusOK))
		_, _ = w.Write(bomb(cmp.Or(f.Size, 512<<20)))
	case WrongContentType:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<html><body>502 Bad Gateway</body></html>\n"))
	case NoTerminalEvent:
		stream()
		if anthropic {
			fmt.Fprint(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_fake\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n"+
				"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"+
				"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"partial \"}}\n\n")
			return true
		}
		fmt.Fprint(w, "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"partial \"},\"finish_reason\":null}]}\n\n")
	case SecretEvent:
		stream()
		msg := fmt.Sprintf("upstream proxy rejected key %s", s.Key)
		if anthropic {
			fmt.Fprintf(w, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":%q}}\n\n", msg)
			return true
		}
		fmt.Fprint(w, "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n")
		fmt.Fprintf(w, "data: {\"error\":{\"message\":%q,\"type\":\"server_error\"}}\n\n", msg)
	default:
		return false
	}
	return true
}

// bomb is a gzip stream that inflates to a JSON object of about size
// bytes: gzip members one after another (readers take them as one
// stream), each MiB of zeros a member of about a kilobyte.
func bomb(size int64) []byte {
	if b, ok := bombs.Load(size); ok {
		return b.([]byte)
	}
	var out bytes.Buffer
	out.Write(gzipped([]byte(`{"x":"`)))
	for sent := int64(0); sent < size; sent += 1 << 20 {
		out.Write(zerosMember())
	}
	out.Write(gzipped([]byte(`"}`)))
	b, _ := bombs.LoadOrStore(size, out.Bytes())
	return b.([]byte)
}

var bombs sync.Map // size → its bytes

var zerosMember = sync.OnceValue(func() []byte { return gzipped(bytes.Repeat([]byte("0"), 1<<20)) })

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}
