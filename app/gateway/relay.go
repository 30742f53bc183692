package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers/translate"
)

// relay opens the upstream stream and relays it through tr. It reads the
// first event before writing anything, so a stream that fails at once can
// still fall back; once the client has bytes, failures are reported in-band.
func (s *Server) relay(ctx context.Context, w http.ResponseWriter, rt route, req endpoint.Request, x *exchange, tr translate.Stream) (bool, error) {
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
	write := func(outs []translate.Event) error {
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
		if write(tr.Event(translate.Event(st.Event()))) != nil {
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
	_ = write(tr.End())
	return true, nil
}

// errIncomplete ends a stream whose upstream stopped without its terminal
// event.
var errIncomplete = errors.New("the upstream's stream ended before its last event; the answer is incomplete")

// errShutdown cuts a stream the gateway's drain time did not let finish.
var errShutdown = errors.New("the gateway is shutting down; the stream was cut")

var done = []translate.Event{{Data: "[DONE]"}}

// The pass-through routes' streams: relayed as they are, a chat stream
// ended by [DONE], an Anthropic one with each event named. Translated
// routes use translate's Streams.
type (
	chatPassThrough      struct{}
	messagesPassThrough  struct{}
	responsesPassThrough struct{}
)

func (chatPassThrough) Event(ev translate.Event) []translate.Event {
	return []translate.Event{{Data: ev.Data}}
}
func (chatPassThrough) End() []translate.Event { return done }

func (messagesPassThrough) Event(ev translate.Event) []translate.Event {
	return []translate.Event{{Event: cmp.Or(ev.Event, "message"), Data: ev.Data}}
}
func (messagesPassThrough) End() []translate.Event { return nil }

func (responsesPassThrough) Event(ev translate.Event) []translate.Event {
	return []translate.Event{ev}
}
func (responsesPassThrough) End() []translate.Event { return nil }
