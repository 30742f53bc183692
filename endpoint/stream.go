package endpoint

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"slices"
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
	// Attempts is how many requests reached the upstream before the
	// stream was handed over, 1 when the first did (AttemptsOf).
	Attempts int

	name     string
	dialect  Dialect
	body     io.ReadCloser
	rd       *bufio.Reader
	cur      Event
	err      error
	done     bool
	complete bool              // the format's terminal event was read
	release  func()            // ends the request and frees the stream's admissions
	cut      func(error) error // a read error, or the endpoint's when Stop cut the stream
	maxEvent int               // read.max_event_bytes
	key      Secret            // scrubbed from error events
	once     sync.Once
	closed   atomic.Bool

	span    *callSpan
	spanCtx context.Context
	events  int
	// What Answer reads, only when asked: the first event (id and model),
	// the events that carry a finish reason (one per choice, at most
	// maxFinishEvents), and the first and the last event that reported
	// usage: usage may come in parts (Anthropic: input in message_start,
	// output in message_delta), or whole in the last.
	first                 string
	finishes              []string
	usageFirst, usageLast string
}

// maxFinishEvents bounds the finish-reason events a stream keeps for
// Answer: one per choice, and a stream of many choices is rare.
const maxFinishEvents = 16

// Next reads the next event. It returns false at the end of the stream: on
// data: [DONE], on a clean end of the body after a complete event, on an
// error event, or on a read failure (see Err).
func (s *Stream) Next() bool {
	if s.done || s.closed.Load() {
		return false
	}
	ev, err := readEvent(s.rd, s.maxEvent)
	if err != nil {
		s.done = true
		switch {
		case err == errEventTooLarge:
			s.err = &ReadLimitError{Endpoint: s.name, What: "event", Limit: int64(s.maxEvent)}
			s.body.Close() // unread: the connection is not reused
		case err != io.EOF && !s.closed.Load():
			s.err = s.cut(fmt.Errorf("endpoint %q: stream: %w", s.name, err))
		}
		return false
	}
	if ev.Data == "[DONE]" {
		s.done, s.complete = true, true
		return false
	}
	if se := streamError(s.dialect, s.name, ev.Data, s.key); se != nil {
		s.done, s.err = true, se
		return false
	}
	s.cur = ev
	finish := reportsReason(ev.Data, `"finish`) // a chat chunk's finish_reason, read once
	s.observe(ev, finish)
	if !s.complete && (finish || terminal(ev)) {
		s.complete = true
	}
	return true
}

// terminal says whether ev is its format's last word beside a chat chunk's
// finish_reason: Anthropic's message_stop, or the Responses API's
// response.completed, response.incomplete or response.failed.
func terminal(ev Event) bool {
	switch ev.Event {
	case "message_stop", "response.completed", "response.incomplete", "response.failed":
		return true
	}
	return strings.Contains(ev.Data, `"type":"message_stop"`)
}

// Complete reports whether the stream ended as its format says a stream
// ends: with data: [DONE], or after its terminal event (terminal). A
// stream whose body ended cleanly without one was cut short upstream,
// though Err is nil.
func (s *Stream) Complete() bool { return s.complete }

// observe feeds the stream's span: the time to the first event, and the
// usage a later event reports; finish says ev carries a finish_reason.
func (s *Stream) observe(ev Event, finish bool) {
	if s.first == "" && len(ev.Data) > 0 && ev.Data[0] == '{' {
		s.first = ev.Data
	}
	if len(s.finishes) < maxFinishEvents && (finish || reportsReason(ev.Data, `"stop`)) {
		s.finishes = append(s.finishes, ev.Data)
	}
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

// Answer is what the stream's events have said of the answer so far, as
// its endpoint's dialect reads them: the id and model of the first event
// that names them (OpenAI's every chunk, Anthropic's message_start), the
// finish reasons in the order the events carrying them came (OpenAI's
// choices[].finish_reason, one per choice; Anthropic's
// message_delta.delta.stop_reason), and the token usage the events
// reported (-1 each when none did: an OpenAI stream reports usage only
// when asked with stream_options.include_usage).
func (s *Stream) Answer() Answer {
	a := Answer{InputTokens: -1, OutputTokens: -1}
	var read []string
	for _, d := range slices.Concat([]string{s.first}, s.finishes, []string{s.usageFirst, s.usageLast}) {
		if d == "" || slices.Contains(read, d) {
			continue
		}
		read = append(read, d)
		b := s.dialect.Answer([]byte(d))
		if a.ID == "" {
			a.ID = b.ID
		}
		if a.Model == "" {
			a.Model = b.Model
		}
		a.FinishReasons = append(a.FinishReasons, b.FinishReasons...)
		b.FinishReasons = nil
		a.merge(b)
	}
	return a
}

// reportsReason says whether data has a field named prefix+`_reason"`
// (prefix with its opening quote) whose value is a string.
func reportsReason(data, prefix string) bool {
	for rest := data; ; {
		i := strings.Index(rest, `_reason"`)
		if i < 0 {
			return false
		}
		named := strings.HasSuffix(rest[:i], prefix)
		rest = strings.TrimLeft(rest[i+len(`_reason"`):], " ")
		if named && strings.HasPrefix(rest, ":") && strings.HasPrefix(strings.TrimLeft(rest[1:], " "), `"`) {
			return true
		}
	}
}

// reportsUsage says whether an event's data may report token usage: it
// names "usage", and not as null (as OpenAI-compatible chunks often do).
func reportsUsage(data string) bool {
	return strings.Contains(data, `"usage"`) && !strings.Contains(data, `"usage":null`)
}

// Events ranges over the stream's events: for ev, err := range s.Events().
// The last pair, when the stream ended with an error (Err), is that error
// with an empty event. The stream is closed when the loop ends, by break
// or at the end.
func (s *Stream) Events() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		defer s.Close()
		for s.Next() {
			if !yield(s.cur, nil) {
				return
			}
		}
		if s.err != nil {
			yield(Event{}, s.err)
		}
	}
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

// errEventTooLarge is readEvent's error for an event over its limit.
var errEventTooLarge = errors.New("event over the read limit")

// readLine is bufio.Reader.ReadBytes('\n') that reads at most limit bytes:
// past them it fails with errEventTooLarge, holding no more than limit.
func readLine(rd *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, err := rd.ReadSlice('\n')
		if len(line)+len(frag) > limit {
			return nil, errEventTooLarge
		}
		line = append(line, frag...)
		if err != bufio.ErrBufferFull {
			return line, err
		}
	}
}

// readEvent reads one event: lines until a blank line, limit bytes at most
// (the lines before it since the last event included; errEventTooLarge
// past them). Comment lines (":") and unknown fields are skipped; a body
// that ends inside an event is io.ErrUnexpectedEOF, one that ends between
// events is io.EOF.
func readEvent(rd *bufio.Reader, limit int) (Event, error) {
	var ev Event
	var data []byte
	seen := false
	left := limit
	for {
		line, err := readLine(rd, left)
		if err == errEventTooLarge {
			return ev, err
		}
		left -= len(line)
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
			left = limit // blank lines between events
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
// dialect, with the key scrubbed should the provider echo it; nil when the
// data is no error.
func streamError(d Dialect, name, data string, key Secret) *StreamError {
	if len(data) == 0 || data[0] != '{' || !strings.Contains(data, `"error"`) {
		return nil
	}
	data = key.Scrub(data)
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
	c, err := e.begin(ctx, pr, modeStream)
	if err != nil {
		return nil, err
	}
	caller := ctx
	ctx, span, cl, r := c.ctx, c.span, c.held, c.r
	s := &Stream{
		Status: r.Status, Header: r.Header, Attempts: r.Attempts, name: e.cfg.Name, dialect: e.dialect,
		body: r.stream.Body, rd: bufio.NewReaderSize(r.stream.Body, 16<<10),
		span: span, spanCtx: ctx,
		cut:      func(err error) error { return e.cutErr(caller, cl.Context(), err) },
		maxEvent: e.cfg.Read.MaxEventBytes, key: e.cfg.APIKey,
	}
	var stopCut func() bool
	free := c.free
	// Closed by its reader: the span ends at the stream's last event, with
	// what the reader saw.
	s.release = func() {
		stopCut()
		err := free()
		if err == nil && s.done {
			err = s.err
		}
		var a *Answer
		if s.first != "" {
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

// free ends an open stream's request and frees its admissions. Its error
// is the call's tracked ctx's when the caller's ctx or Stop cut it (the
// stream is counted as cancelled), nil otherwise.
func (c begun) free() error {
	c.r.stream.Body.Close()
	c.r.cancel()
	err := c.held.Context().Err()
	c.r.lease.Release(err)
	c.held.Release(err)
	return err
}
