package endpoint

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one server-sent event.
type Event struct {
	Event string // the event: field; empty means "message"
	Data  string // data: lines joined with "\n"
	ID    string
}

// StreamError is an error the provider sent inside a stream: a data line
// holding a JSON "error".
type StreamError struct {
	Endpoint string
	Type     string
	Message  string
	Data     string // the event's data, truncated to 4 KiB
}

func (e *StreamError) Error() string {
	msg := e.Message
	if e.Type != "" {
		msg = e.Type + ": " + msg
	}
	return fmt.Sprintf("endpoint %q: error in stream: %s", e.Endpoint, msg)
}

// Stream reads server-sent events from an open response. Next advances,
// Event returns the current event, Err the error that ended the stream (nil
// after [DONE] or a clean end), and Close releases the connection and the
// endpoint's concurrency slot. Always Close a stream.
type Stream struct {
	Status int
	Header http.Header

	name    string
	dialect Dialect
	body    io.ReadCloser
	rd      *bufio.Reader
	cur     Event
	err     error
	done    bool
	release func()            // ends the request and frees the stream's admissions
	cut     func(error) error // a read error, or the endpoint's when Stop cut the stream
	once    sync.Once
	closed  atomic.Bool

	span    *callSpan
	spanCtx context.Context
	events  int
	// The first and the last event that reported usage: usage may come in
	// parts (Anthropic: input in message_start, output in message_delta),
	// or whole in the last. Read by Answer, only when asked.
	usageFirst, usageLast string
}

// Next reads the next event. It returns false at the end of the stream: on
// data: [DONE], on a clean end of the body after a complete event, on an
// error event, or on a read failure (see Err).
func (s *Stream) Next() bool {
	if s.done || s.closed.Load() {
		return false
	}
	ev, err := readEvent(s.rd)
	if err != nil {
		s.done = true
		if err != io.EOF && !s.closed.Load() {
			s.err = s.cut(fmt.Errorf("endpoint %q: stream: %w", s.name, err))
		}
		return false
	}
	if ev.Data == "[DONE]" {
		s.done = true
		return false
	}
	if se := streamError(s.dialect, s.name, ev.Data); se != nil {
		s.done, s.err = true, se
		return false
	}
	s.cur = ev
	s.observe(ev)
	return true
}

// observe feeds the stream's span: the time to the first event, and the
// usage a later event reports.
func (s *Stream) observe(ev Event) {
	if reportsUsage(ev.Data) {
		if s.usageFirst == "" {
			s.usageFirst = ev.Data
		} else {
			s.usageLast = ev.Data
		}
	}
	if s.span == nil {
		return
	}
	s.events++
	if s.events == 1 {
		d := time.Since(s.span.start)
		s.span.span.AddEvent("first event")
		s.span.t.ttfc.Record(s.spanCtx, d.Seconds(), s.span.t.op, s.span.t.provider, s.span.t.ttfc.AttrRequestModel(s.span.model))
	}
}

// Answer is what the stream's events have said of the answer so far: id,
// model, finish reasons and token usage (-1 each when none was reported),
// as its endpoint's dialect reads them.
func (s *Stream) Answer() Answer {
	a := Answer{InputTokens: -1, OutputTokens: -1}
	for _, d := range []string{s.usageFirst, s.usageLast} {
		if d != "" {
			a.merge(s.dialect.Answer([]byte(d)))
		}
	}
	return a
}

// reportsUsage says whether an event's data may report token usage: it
// names "usage", and not as null (as OpenAI-compatible chunks often do).
func reportsUsage(data string) bool {
	return strings.Contains(data, `"usage"`) && !strings.Contains(data, `"usage":null`)
}

// Event is the event Next read.
func (s *Stream) Event() Event { return s.cur }

// Err is the error that ended the stream, if any.
func (s *Stream) Err() error { return s.err }

// Close releases the connection and the concurrency slot. It is idempotent.
func (s *Stream) Close() error {
	s.closed.Store(true)
	s.once.Do(s.release)
	return nil
}

// readEvent reads one event: lines until a blank line. Comment lines (":")
// and unknown fields are skipped; a body that ends inside an event is
// io.ErrUnexpectedEOF, one that ends between events is io.EOF.
func readEvent(rd *bufio.Reader) (Event, error) {
	var ev Event
	var data []byte
	seen := false
	for {
		line, err := rd.ReadBytes('\n')
		if err != nil && !(err == io.EOF && len(line) > 0) {
			if err == io.EOF && seen {
				return ev, io.ErrUnexpectedEOF
			}
			return ev, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if err == io.EOF {
				return ev, io.ErrUnexpectedEOF
			}
			if seen {
				ev.Data = string(data)
				return ev, nil
			}
			continue
		}
		if err == io.EOF { // a last line without its newline
			return ev, io.ErrUnexpectedEOF
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			if seen && data != nil {
				data = append(data, '\n')
			}
			data = append(data, value...)
			if data == nil {
				data = []byte{}
			}
		case "event":
			ev.Event = string(value)
		case "id":
			ev.ID = string(value)
		default:
			continue // retry: and unknown fields
		}
		seen = true
	}
}

// streamError reads an error the provider sent as an event's data, in its
// dialect; nil when the data is no error.
func streamError(d Dialect, name, data string) *StreamError {
	if len(data) == 0 || data[0] != '{' || !strings.Contains(data, `"error"`) {
		return nil
	}
	typ, msg, _, ok := d.ErrorBody([]byte(data))
	if !ok {
		return nil
	}
	if len(data) > maxErrorBody {
		data = data[:maxErrorBody]
	}
	return &StreamError{Endpoint: name, Type: typ, Message: msg, Data: data}
}

// Stream opens a server-sent-events call. Retries happen only before the
// stream is handed over. The stream holds its admission (a concurrency
// slot) through a lease until Close; when the caller's ctx ends, or Stop's
// deadline passes, the stream is cut, its admission freed, and Next reports
// the error.
func (e *Endpoint) Stream(ctx context.Context, req Request) (*Stream, error) {
	if err := e.usable(); err != nil {
		return nil, err
	}
	pr, err := e.prepare(req, true)
	if err != nil {
		return nil, err
	}
	pr.header.Set("Accept", "text/event-stream")
	c, err := e.begin(ctx, pr, true)
	if err != nil {
		return nil, err
	}
	caller := ctx
	ctx, span, cl, r := c.ctx, c.span, c.held, c.r
	s := &Stream{
		Status: r.Status, Header: r.Header, name: e.cfg.Name, dialect: e.dialect,
		body: r.stream.Body, rd: bufio.NewReaderSize(r.stream.Body, 16<<10),
		span: span, spanCtx: ctx,
		cut: func(err error) error { return e.cutErr(caller, cl.Context(), err) },
	}
	var stopCut func() bool
	free := func() error {
		r.stream.Body.Close()
		r.cancel()
		err := cl.Context().Err() // cut by the caller's ctx or by Stop: counted as cancelled
		r.lease.Release(err)
		cl.Release(err)
		return err
	}
	// Closed by its reader: the span ends at the stream's last event, with
	// what the reader saw.
	s.release = func() {
		stopCut()
		err := free()
		if err == nil && s.done {
			err = s.err
		}
		var a *Answer
		if s.usageFirst != "" {
			an := s.Answer()
			a = &an
		}
		span.endAnswer(ctx, a, err)
	}
	// A stream abandoned without Close still frees its admission when its
	// context ends, so Stop never waits on a reader that has gone.
	stopCut = context.AfterFunc(cl.Context(), func() {
		s.once.Do(func() { span.end(ctx, e.dialect, nil, free()) })
	})
	return s, nil
}
