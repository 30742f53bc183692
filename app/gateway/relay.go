package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/openai"
	"github.com/khive-go/khive/providers/translate"
)

// streamTranslator turns upstream events into client events.
type streamTranslator interface {
	event(ev endpoint.Event) []endpoint.Event
	end() []endpoint.Event // after a clean end
}

// relay opens the upstream stream and relays it through tr. It reads the
// first event before writing anything, so a stream that fails at once can
// still fall back; once the client has bytes, failures are reported in-band.
func (s *Server) relay(ctx context.Context, w http.ResponseWriter, rt route, req endpoint.Request, x *exchange, tr streamTranslator) (bool, error) {
	st, err := rt.ep.Stream(ctx, req)
	if err != nil {
		return false, err
	}
	defer st.Close()
	defer func() { x.noteUsage(st.Answer()) }() // what the events said, however the relay ends
	x.attempts += st.Attempts
	first := st.Next()
	if !first && st.Err() != nil {
		return false, st.Err()
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Khive-Endpoint", rt.ep.Name())
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write := func(outs []endpoint.Event) error {
		for _, o := range outs {
			if o.Event != "" { // "" for data-only (OpenAI) events
				if _, err := fmt.Fprintf(w, "event: %s\n", o.Event); err != nil {
					return err
				}
			}
			if _, err := fmt.Fprintf(w, "data: %s\n\n", o.Data); err != nil {
				return err
			}
		}
		return rc.Flush()
	}
	for ok := first; ok; ok = st.Next() {
		if write(tr.event(st.Event())) != nil {
			return true, nil // the client left
		}
		x.complete = st.Complete() // the client has had the last event
	}
	err = st.Err()
	if err != nil && errors.Is(ctx.Err(), context.Canceled) && s.cutCtx.Err() == nil {
		// The client left, which ended the upstream stream: no upstream
		// cut, but a 499, or a complete 200 once it had the last event.
		return true, nil
	}
	if err == nil && !st.Complete() {
		// A clean end without the format's terminal event is a cut: the
		// client is told so, never given a completion made up here.
		err = errIncomplete
	}
	if err != nil {
		x.cut = "upstream"
		if s.cutCtx.Err() != nil {
			x.cut, err = "shutdown", errShutdown
		}
		s.log.Warn("stream ended with an error", zap.String("endpoint", rt.ep.Name()), zap.String("cut", x.cut), zap.Error(err))
		_ = write(x.format.streamError(err)) // in-band, in the route's format
		return true, nil
	}
	_ = write(tr.end())
	return true, nil
}

// errIncomplete ends a stream whose upstream stopped without its terminal
// event.
var errIncomplete = errors.New("the upstream's stream ended before its last event; the answer is incomplete")

// errShutdown cuts a stream the gateway's drain time did not let finish.
var errShutdown = errors.New("the gateway is shutting down; the stream was cut")

var done = []endpoint.Event{{Data: "[DONE]"}}

// chatPassThrough relays an OpenAI-compatible stream as it is.
type chatPassThrough struct{}

func (chatPassThrough) event(ev endpoint.Event) []endpoint.Event {
	return []endpoint.Event{{Data: ev.Data}}
}
func (chatPassThrough) end() []endpoint.Event { return done }

// chatFromAnthropic turns Anthropic events into chat chunks.
type chatFromAnthropic struct {
	t *translate.ChunksFromAnthropic
}

func (c chatFromAnthropic) event(ev endpoint.Event) []endpoint.Event {
	var e anthropic.StreamEvent
	if json.Unmarshal([]byte(ev.Data), &e) != nil {
		return nil
	}
	var out []endpoint.Event
	for _, ch := range c.t.Event(e) {
		b, _ := json.Marshal(ch)
		out = append(out, endpoint.Event{Data: string(b)})
	}
	return out
}
func (chatFromAnthropic) end() []endpoint.Event { return done }

// messagesPassThrough relays an Anthropic stream as it is.
type messagesPassThrough struct{}

func (messagesPassThrough) event(ev endpoint.Event) []endpoint.Event {
	return []endpoint.Event{{Event: cmp.Or(ev.Event, "message"), Data: ev.Data}}
}
func (messagesPassThrough) end() []endpoint.Event { return nil }

// fromChat turns chat chunks into another format's events through t
// (translate.EventsFromChat for Anthropic's, translate.ResponsesFromChat
// for the Responses API's).
type fromChat struct {
	t interface {
		Chunk(openai.ChatChunk) []endpoint.Event
		End() []endpoint.Event
	}
}

func (f fromChat) event(ev endpoint.Event) []endpoint.Event {
	var c openai.ChatChunk
	if json.Unmarshal([]byte(ev.Data), &c) != nil {
		return nil
	}
	return f.t.Chunk(c)
}
func (f fromChat) end() []endpoint.Event { return f.t.End() }
