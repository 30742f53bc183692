package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// handler is the gateway's routes with auth, limits and logging.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.Handle("POST /v1/chat/completions", s.api("chat", openAIFormat, s.serve(chatOp)))
	mux.Handle("POST /v1/embeddings", s.api("embeddings", openAIFormat, s.serve(embeddingsOp)))
	mux.Handle("GET /v1/models", s.api("models", openAIFormat, s.models))
	mux.Handle("GET /v1/models/{id...}", s.api("models", openAIFormat, s.model))
	mux.Handle("POST /v1/messages", s.api("messages", anthropicFormat, s.serve(messagesOp)))
	mux.Handle("POST /v1/messages/count_tokens", s.api("count_tokens", anthropicFormat, s.countTokens))
	mux.Handle("/v1/messages/", s.api("messages", anthropicFormat, messagesNotFound))
	mux.Handle("POST /v1/responses", s.api("responses", responsesFormat, s.serve(responsesOp)))
	mux.Handle("POST /v1/responses/compact", s.api("responses_compact", responsesFormat, s.serve(compactOp)))
	mux.Handle("GET /v1/khive/spend", s.api("spend", openAIFormat, s.spending))
	return mux
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "draining\n", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}
