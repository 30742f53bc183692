package gateway

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"

	"github.com/khive-go/khive/providers"
)

// models lists the aliases and every alias target as ENDPOINT/MODEL, in
// OpenAI's list format. Endpoints are not asked for their own lists.
func (s *Server) models(w http.ResponseWriter, _ *http.Request, _ *exchange) *apiError {
	list := providers.ModelList{Object: "list", Data: []providers.Model{}}
	seen := map[string]bool{}
	add := func(id, owner string) {
		if !seen[id] {
			seen[id] = true
			list.Data = append(list.Data, providers.Model{ID: id, Object: "model", Created: 0, OwnedBy: owner})
		}
	}
	for _, alias := range slices.Sorted(maps.Keys(s.cfg.Models)) {
		add(alias, "khive")
	}
	for _, alias := range slices.Sorted(maps.Keys(s.cfg.Models)) {
		for _, t := range s.cfg.Models[alias] {
			owner := t.Endpoint
			if e, ok := s.reg.Get(t.Endpoint); ok && e.Config().Provider != "" {
				owner = e.Config().Provider
			}
			add(t.Endpoint+"/"+t.Model, owner)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
	return nil
}
