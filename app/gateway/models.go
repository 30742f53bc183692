package gateway

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/khive-go/khive/app/gateway/admission"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/openai"
)

// upstreamModels holds each endpoint's model list as its upstream gives it
// (OpenAI's and Ollama's GET models, Anthropic's GET v1/models), fetched
// when the gateway starts and refreshed in the background.
type upstreamModels struct {
	mu         sync.RWMutex
	byEndpoint map[string][]string

	cancel context.CancelFunc
	done   chan struct{}
}

// startModels fetches every endpoint's models now and every models_refresh,
// until stopModels; with a negative models_refresh, never.
func (s *Server) startModels() {
	if s.cfg.ModelsRefresh < 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &upstreamModels{byEndpoint: map[string][]string{}, cancel: cancel, done: make(chan struct{})}
	s.upModels = m
	go func() {
		defer close(m.done)
		s.refreshModels(ctx)
		t := time.NewTicker(s.cfg.ModelsRefresh)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.refreshModels(ctx)
			}
		}
	}()
}

func (s *Server) stopModels() {
	if m := s.upModels; m != nil {
		m.cancel()
		<-m.done
	}
}

// refreshModels asks each endpoint that serves a model route for its
// models, each within models_timeout. A failure is logged and keeps the
// endpoint's last list; it is never fatal.
func (s *Server) refreshModels(ctx context.Context) {
	for _, e := range s.reg.All() {
		path := modelsPath(e.Config())
		if path == "" {
			continue
		}
		ids, err := fetchModels(ctx, e, path, s.cfg.ModelsTimeout)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("could not list the upstream's models", zap.String("endpoint", e.Name()), zap.Error(err))
			}
			continue
		}
		s.upModels.mu.Lock()
		s.upModels.byEndpoint[e.Name()] = ids
		s.upModels.mu.Unlock()
	}
}

// modelsPath is where an endpoint's provider lists its models: the
// catalog's word, else "models" (OpenAI's) for an endpoint the gateway
// routes to; "" for none.
func modelsPath(cfg endpoint.Config) string {
	if p, ok := providers.Lookup(cfg.Provider); ok {
		return p.ModelsPath
	}
	switch kindOf(cfg) {
	case providers.KindChat, providers.KindEmbeddings, providers.KindMessages:
		return "models"
	}
	return ""
}

func fetchModels(ctx context.Context, e *endpoint.Endpoint, path string, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := e.Call(ctx, endpoint.Request{Method: http.MethodGet, Path: path, Probe: true})
	if err != nil {
		return nil, err
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(list.Data))
	for _, m := range list.Data {
		if m.ID != "" {
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}

// modelList is what can be routed: the aliases, their targets, and each
// endpoint's own models as ENDPOINT/MODEL, owned by the provider.
func (s *Server) modelList() openai.ModelList {
	list := openai.ModelList{Object: "list", Data: []openai.Model{}}
	seen := map[string]bool{}
	add := func(id, owner string) {
		if !seen[id] {
			seen[id] = true
			list.Data = append(list.Data, openai.Model{ID: id, Object: "model", Created: 0, OwnedBy: owner})
		}
	}
	owner := func(name string) string {
		if e, ok := s.reg.Get(name); ok && e.Config().Provider != "" {
			return e.Config().Provider
		}
		return name
	}
	aliases := slices.Sorted(maps.Keys(s.cfg.Models))
	for _, alias := range aliases {
		add(alias, "khive")
	}
	for _, alias := range aliases {
		for _, t := range s.cfg.Models[alias] {
			add(t.Endpoint+"/"+t.Model, owner(t.Endpoint))
		}
	}
	if m := s.upModels; m != nil {
		m.mu.RLock()
		for _, name := range slices.Sorted(maps.Keys(m.byEndpoint)) {
			for _, id := range m.byEndpoint[name] {
				add(name+"/"+id, owner(name))
			}
		}
		m.mu.RUnlock()
	}
	return list
}

// models answers GET /v1/models in OpenAI's list format.
func (s *Server) models(w http.ResponseWriter, r *http.Request, x *exchange) *apiError {
	list := s.modelsFor(x.key)
	w.Header().Set("Content-Type", "application/json")
	if !wantsAnthropic(r) {
		_ = json.NewEncoder(w).Encode(list)
		return nil
	}
	out := anthropicModelList{Data: make([]anthropicModel, len(list.Data))}
	for i, m := range list.Data {
		out.Data[i] = anthropicModelOf(m)
	}
	if n := len(out.Data); n > 0 {
		out.FirstID, out.LastID = out.Data[0].ID, out.Data[n-1].ID
	}
	_ = json.NewEncoder(w).Encode(out)
	return nil
}

// wantsAnthropic says a models request comes from an Anthropic client
// (Claude Code, anthropic-sdk-go): it carries anthropic-version, and gets
// the list in Anthropic's shape.
func wantsAnthropic(r *http.Request) bool { return r.Header.Get("Anthropic-Version") != "" }

// anthropicModelList is Anthropic's GET /v1/models answer: one page, all
// of it.
type anthropicModelList struct {
	Data    []anthropicModel `json:"data"`
	HasMore bool             `json:"has_more"`
	FirstID string           `json:"first_id"`
	LastID  string           `json:"last_id"`
}

// anthropicModel is one model in Anthropic's shape.
type anthropicModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

func anthropicModelOf(m openai.Model) anthropicModel {
	return anthropicModel{Type: "model", ID: m.ID, DisplayName: m.ID, CreatedAt: time.Unix(m.Created, 0).UTC().Format(time.RFC3339)}
}

// modelsFor is the model list a client key sees: the models it may use
// (all of them without auth or a model list).
func (s *Server) modelsFor(k *admission.Key) openai.ModelList {
	list := s.modelList()
	if k == nil {
		return list
	}
	kept := list.Data[:0]
	for _, m := range list.Data {
		if k.Allows(m.ID) {
			kept = append(kept, m)
		}
	}
	list.Data = kept
	return list
}

// model answers GET /v1/models/{id}, for the models the key may use; the
// id may hold slashes.
func (s *Server) model(w http.ResponseWriter, r *http.Request, x *exchange) *apiError {
	id := strings.TrimPrefix(r.PathValue("id"), "/")
	x.model = id
	for _, m := range s.modelsFor(x.key).Data {
		if m.ID == id {
			w.Header().Set("Content-Type", "application/json")
			if wantsAnthropic(r) {
				_ = json.NewEncoder(w).Encode(anthropicModelOf(m))
				return nil
			}
			_ = json.NewEncoder(w).Encode(m)
			return nil
		}
	}
	if wantsAnthropic(r) {
		e := notFoundModel(id)
		writeAnthropicError(w, e)
		return nil
	}
	return notFoundModel(id)
}
