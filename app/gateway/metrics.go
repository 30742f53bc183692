package gateway

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/khive-go/khive/app/gateway/admission"
	"github.com/khive-go/khive/endpoint"
)

// metrics are the gateway's Prometheus series, on their own registry.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	total    *prometheus.HistogramVec
	upstream *prometheus.HistogramVec
	inFlight prometheus.Gauge
	// keyRequests counts requests by client key name (never the key).
	keyRequests *prometheus.CounterVec
	keyTokens   *prometheus.CounterVec
	// spend is what requests cost by key name and model label;
	// spendUnknown counts those whose model has no price.
	spend, spendUnknown *prometheus.CounterVec
	// droppedTools counts built-in tools left out for targets that cannot
	// run them (unsupported_tools: drop).
	droppedTools *prometheus.CounterVec

	// The request path's series, resolved once per label set (a vec's
	// lookup hashes and checks its labels on every call).
	requestsBy  handles[[4]string, prometheus.Counter] // route, model, endpoint, status
	totalBy     handles[string, prometheus.Observer]   // route
	upstreamBy  handles[string, prometheus.Observer]   // endpoint
	spendBy     handles[[2]string, prometheus.Counter] // key, model
	unknownBy   handles[[2]string, prometheus.Counter] // key, model
	keyReqsBy   handles[[3]string, prometheus.Counter] // key, model, status
	keyTokensBy handles[[3]string, prometheus.Counter] // key, model, direction
}

// handles caches a vec's children by their label values. The label sets
// are bounded as the vec's own are: the gateway labels by alias, endpoint
// and key name, never by what a client sends.
type handles[K comparable, M any] struct {
	m   sync.Map // K -> M
	new func(K) M
}

func (h *handles[K, M]) get(k K) M {
	if v, ok := h.m.Load(k); ok {
		return v.(M)
	}
	v, _ := h.m.LoadOrStore(k, h.new(k))
	return v.(M)
}

func newMetrics(endpoints []*endpoint.Endpoint, store admission.Store) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "khive_gateway_requests_total", Help: "Requests by route, model, serving endpoint and status.",
		}, []string{"route", "model", "endpoint", "status"}),
		total: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "khive_gateway_request_duration_seconds", Help: "Time to answer a request, by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14),
		}, []string{"route"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "khive_gateway_upstream_duration_seconds", Help: "Time spent in upstream calls, by endpoint.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14),
		}, []string{"endpoint"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "khive_gateway_in_flight_requests", Help: "Requests being answered now.",
		}),
		keyRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "khive_gateway_key_requests_total", Help: "Requests by client key name, model and status.",
		}, []string{"key", "model", "status"}),
		keyTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "khive_gateway_key_tokens_total", Help: "Tokens the answers reported, by client key name, model and direction (input, output).",
		}, []string{"key", "model", "direction"}),
	}
	m.spend = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "khive_gateway_spend_usd_total", Help: "What requests cost (USD, from their usage or estimated), by client key name and model.",
	}, []string{"key", "model"})
	m.spendUnknown = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "khive_gateway_spend_unknown_total", Help: "Requests served by a model without a price, by client key name and model.",
	}, []string{"key", "model"})
	m.droppedTools = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "khive_gateway_dropped_tools_total", Help: "Built-in tools dropped for targets that cannot run them, by endpoint and tool type.",
	}, []string{"endpoint", "type"})
	m.requestsBy.new = func(l [4]string) prometheus.Counter { return m.requests.WithLabelValues(l[:]...) }
	m.totalBy.new = func(route string) prometheus.Observer { return m.total.WithLabelValues(route) }
	m.upstreamBy.new = func(ep string) prometheus.Observer { return m.upstream.WithLabelValues(ep) }
	m.spendBy.new = func(l [2]string) prometheus.Counter { return m.spend.WithLabelValues(l[:]...) }
	m.unknownBy.new = func(l [2]string) prometheus.Counter { return m.spendUnknown.WithLabelValues(l[:]...) }
	m.keyReqsBy.new = func(l [3]string) prometheus.Counter { return m.keyRequests.WithLabelValues(l[:]...) }
	m.keyTokensBy.new = func(l [3]string) prometheus.Counter { return m.keyTokens.WithLabelValues(l[:]...) }
	m.reg.MustRegister(m.requests, m.total, m.upstream, m.inFlight, m.keyRequests, m.keyTokens, m.spend, m.spendUnknown, m.droppedTools,
		// The Go runtime's and the process's own series (go_*, process_*),
		// as every Go service exports them.
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if store != nil && store.Health().Shared {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "khive_gateway_store_up", Help: "1 while the limit store (redis) answers, 0 while limits are counted locally.",
			}, func() float64 {
				if store.Health().Up {
					return 1
				}
				return 0
			}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "khive_gateway_store_errors_total", Help: "Limit store (redis) round trips that failed.",
			}, func() float64 { return float64(store.Health().Errors) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "khive_gateway_store_fallback_total", Help: "Key admissions decided without the store, by on_store_error.",
			}, func() float64 { return float64(store.Health().Fallbacks) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "khive_gateway_store_replicas", Help: "Gateway replicas last seen in the store.",
			}, func() float64 { return float64(store.Health().Replicas) }),
		)
	}
	for _, e := range endpoints {
		labels := prometheus.Labels{"endpoint": e.Name()}
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "khive_gateway_upstream_retries_total", Help: "Retry attempts made by the endpoint.", ConstLabels: labels,
			}, func() float64 { return float64(e.Retries()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "khive_gateway_breaker_state", Help: "Circuit breaker state: 0 closed, 1 open, 2 half-open.", ConstLabels: labels,
			}, func() float64 { return float64(e.BreakerState()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "khive_gateway_limiter_wait_seconds_total", Help: "Time calls spent waiting on rate limits.", ConstLabels: labels,
			}, func() float64 { return e.Stats().LimiterWait.Seconds() }),
		)
	}
	return m
}
