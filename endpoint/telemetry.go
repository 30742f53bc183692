package endpoint

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"

	// v1.41.0 is the last semconv package that still has the GenAI names
	// (gen_ai.*) and their genaiconv instruments.
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/semconv/v1.41.0/genaiconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/internal/otelglobal"
)

const instrumentation = "github.com/khive-go/khive/endpoint"

// WithTracerProvider sets where the endpoint's spans go (default: the
// global provider, a no-op until the application sets one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(e *Endpoint) { e.tp = tp })
}

// WithMeterProvider sets where the endpoint's metrics go (default: the
// global provider, a no-op until the application sets one).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(e *Endpoint) { e.mp = mp })
}

// telemetry is an endpoint's tracer and instruments: a client span per call
// or stream named "{operation} {model}" with a child span per attempt, the
// GenAI attributes and no content or key, ever; gen_ai.client.operation.duration,
// gen_ai.client.token.usage and time to first chunk; the admission wait.
type telemetry struct {
	tracer   trace.Tracer
	meter    metric.Meter
	duration genaiconv.ClientOperationDuration
	tokens   genaiconv.ClientTokenUsage
	ttfc     genaiconv.ClientOperationTimeToFirstChunk
	wait     metric.Float64Histogram
	op       genaiconv.OperationNameAttr
	provider genaiconv.ProviderNameAttr
	server   string
	globalTP bool // the tracer is the global provider's
	// global is the tracer of the provider otel.GetTracerProvider gave
	// last, while globalTP: a provider set again later (otel's global
	// delegates only to the first) is followed too.
	global otelglobal.Derived[trace.Tracer]
}

// unsetTracerProvider is the global provider before the application sets
// one: its spans record nothing, yet starting one costs five allocations.
var unsetTracerProvider = otel.GetTracerProvider()

// current is the tracer for a span started now, and whether one can
// record: not while the endpoint's tracer is the global provider's and
// none has been set. A global provider set later, or set again, is
// followed: its tracer is taken when first seen.
func (t *telemetry) current() (trace.Tracer, bool) {
	if !t.globalTP {
		return t.tracer, true
	}
	tp := otel.GetTracerProvider()
	if tp == unsetTracerProvider {
		return t.tracer, false
	}
	return t.global.Get(tp, tracerOf), true
}

// tracerOf is the endpoint's tracer from tp.
func tracerOf(tp trace.TracerProvider) trace.Tracer { return tp.Tracer(instrumentation) }

func (e *Endpoint) initTelemetry() {
	if e.tp == nil {
		e.tp = otel.GetTracerProvider()
		e.tel.globalTP = true
	}
	if e.mp == nil {
		e.mp = otel.GetMeterProvider()
	}
	t := &e.tel
	t.tracer = e.tp.Tracer(instrumentation)
	t.meter = e.mp.Meter(instrumentation)
	t.duration, _ = genaiconv.NewClientOperationDuration(t.meter)
	t.tokens, _ = genaiconv.NewClientTokenUsage(t.meter)
	t.ttfc, _ = genaiconv.NewClientOperationTimeToFirstChunk(t.meter)
	t.wait, _ = t.meter.Float64Histogram("khive.endpoint.admission.wait", metric.WithUnit("s"),
		metric.WithDescription("Time an attempt waited for its rate limits and a concurrency slot."))
	t.op = operationOf(e.cfg.Kind)
	t.provider = genaiconv.ProviderNameAttr(e.cfg.Provider)
	if u, err := url.Parse(e.cfg.BaseURL); err == nil {
		t.server = u.Hostname()
	}
}

// operationOf names the GenAI operation an endpoint's kind performs.
func operationOf(kind string) genaiconv.OperationNameAttr {
	switch kind {
	case "chat", "messages", "responses":
		return genaiconv.OperationNameChat
	case "embeddings":
		return genaiconv.OperationNameEmbeddings
	case "":
		return "call"
	}
	return genaiconv.OperationNameAttr(kind)
}

// callSpan is one call's (or stream's) telemetry.
type callSpan struct {
	t     *telemetry
	span  trace.Span
	start time.Time
	model string
	on    bool // the span records or the metrics are enabled
}

// startCall opens the call's client span. With no-op providers (the
// default until the application sets real ones) it returns ctx unchanged
// and nil, and the call pays for nothing else: no attempt spans, no
// parsing, no metrics.
func (e *Endpoint) startCall(ctx context.Context, pr *prepared) (context.Context, *callSpan) {
	t := &e.tel
	sctx, span := ctx, noSpan
	if tracer, ok := t.current(); ok {
		sctx, span = tracer.Start(ctx, string(t.op), trace.WithSpanKind(trace.SpanKindClient))
	}
	if !span.IsRecording() && !t.duration.Enabled(ctx) {
		span.End()
		return ctx, nil
	}
	ctx = sctx
	c := &callSpan{t: t, start: time.Now(), span: span, on: true}
	c.model = stringField(pr.body, `"model"`)
	if c.model != "" {
		c.span.SetName(string(t.op) + " " + c.model)
	}
	c.span.SetAttributes(semconv.GenAIOperationNameKey.String(string(t.op)), semconv.GenAIProviderNameKey.String(string(t.provider)),
		semconv.GenAIRequestModel(c.model), semconv.ServerAddress(t.server))
	return ctx, c
}

// end closes the call's span with what the answer said (read by the
// dialect: id, model, finish reasons, usage) or the error, and records the
// metrics.
func (c *callSpan) end(ctx context.Context, d Dialect, body []byte, err error) {
	if c == nil {
		return
	}
	var a *Answer
	if err == nil && body != nil {
		an := d.Answer(body)
		a = &an
	}
	c.endAnswer(ctx, a, err)
}

// endAnswer is end with the answer already read (nil: none).
func (c *callSpan) endAnswer(ctx context.Context, a *Answer, err error) {
	if c == nil {
		return
	}
	defer c.span.End()
	attrs := []attribute.KeyValue{c.t.duration.AttrRequestModel(c.model), c.t.duration.AttrServerAddress(c.t.server)}
	if err != nil {
		typ := errorType(err)
		c.span.SetStatus(codes.Error, typ)
		c.span.SetAttributes(semconv.ErrorTypeKey.String(typ))
		attrs = append(attrs, semconv.ErrorTypeKey.String(typ))
	} else if a != nil {
		c.span.SetAttributes(semconv.GenAIResponseID(a.ID), semconv.GenAIResponseModel(a.Model),
			semconv.GenAIResponseFinishReasons(a.FinishReasons...))
		if a.InputTokens >= 0 {
			c.span.SetAttributes(semconv.GenAIUsageInputTokens(a.InputTokens))
			c.t.tokens.Record(ctx, int64(a.InputTokens), c.t.op, c.t.provider, genaiconv.TokenTypeInput, attrs...)
		}
		if a.OutputTokens >= 0 {
			c.span.SetAttributes(semconv.GenAIUsageOutputTokens(a.OutputTokens))
			c.t.tokens.Record(ctx, int64(a.OutputTokens), c.t.op, c.t.provider, genaiconv.TokenTypeOutput, attrs...)
		}
		if a.Model != "" {
			attrs = append(attrs, c.t.duration.AttrResponseModel(a.Model))
		}
	}
	c.t.duration.Record(ctx, time.Since(c.start).Seconds(), c.t.op, c.t.provider, attrs...)
}

// errorType is error.type for an error: the status, or what kind of
// failure it was; never its message.
func errorType(err error) string {
	var se *StatusError
	switch {
	case asStatus(err, &se):
		return strconv.Itoa(se.Status)
	case isContextErr(err):
		return "canceled"
	}
	return "_OTHER"
}

// noSpan stands for a call or an attempt that is not traced.
var noSpan = trace.SpanFromContext(context.Background())

// startAttempt opens an attempt's child span.
func (e *Endpoint) startAttempt(ctx context.Context, attempt int) (context.Context, trace.Span) {
	tracer, _ := e.tel.current()
	return tracer.Start(ctx, "attempt", trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.Int("khive.attempt", attempt)))
}

// admitted records the admission wait on the attempt's span and metric.
func (e *Endpoint) admitted(ctx context.Context, span trace.Span, wait time.Duration) {
	if span.IsRecording() {
		span.AddEvent("admitted", trace.WithAttributes(attribute.Float64("khive.admission.wait_ms", float64(wait)/float64(time.Millisecond))))
	}
	if e.tel.wait.Enabled(ctx) {
		e.tel.wait.Record(ctx, wait.Seconds())
	}
}

// endAttempt closes an attempt's span: its status, why it is retried, the
// server's hint.
func endAttempt(span trace.Span, status int, err error, retry bool, hint time.Duration) {
	if span == noSpan {
		return
	}
	if span.IsRecording() {
		if status > 0 {
			span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		}
		if err != nil {
			span.SetStatus(codes.Error, errorType(err))
			if retry {
				span.SetAttributes(attribute.String("khive.retry_reason", errorType(err)))
			}
		}
		if hint > 0 {
			span.SetAttributes(attribute.Float64("khive.retry_after_ms", float64(hint)/float64(time.Millisecond)))
		}
	}
	span.End()
}

// stringField finds key (quoted) followed by a colon and returns the JSON
// string after it, "" when there is none; escaped strings are left alone.
func stringField(body []byte, key string) string {
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(body[i+len(key):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) < 2 || rest[0] != '"' {
		return ""
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 0 || bytes.IndexByte(rest[1:end+1], '\\') >= 0 {
		return ""
	}
	return string(rest[1 : end+1])
}

func asStatus(err error, se **StatusError) bool { return errors.As(err, se) }

// registerGauges reports the endpoint's admissions waiting for a rate
// limit or a slot (khive.endpoint.queue.depth) while it is started.
func (e *Endpoint) registerGauges(pool interface{ Stats() executor.Stats }) {
	g, err := e.tel.meter.Int64ObservableGauge("khive.endpoint.queue.depth",
		metric.WithDescription("Attempts waiting for their rate limits or a concurrency slot."))
	if err != nil {
		return
	}
	attrs := metric.WithAttributes(attribute.String("khive.endpoint", e.cfg.Name))
	e.gauge, _ = e.tel.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(g, pool.Stats().Queued, attrs)
		return nil
	}, g)
}
