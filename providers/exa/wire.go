package exa

import (
	"encoding/json"

	"github.com/khive-go/khive/providers/internal/wire"
)

// SearchRequest is POST /search.
type SearchRequest struct {
	Query      string          `json:"query"`
	NumResults int             `json:"numResults,omitempty"` // 1-100, default 10
	Type       string          `json:"type,omitempty"`       // "auto" by default
	Contents   json.RawMessage `json:"contents,omitempty"`
	Extra      wire.Extra      `json:"-"`
}

// SearchResponse is the search answer.
type SearchResponse struct {
	RequestID string   `json:"requestId"`
	Results   []Result `json:"results"`
}

// Result is one hit.
type Result struct {
	ID            string `json:"id"`
	URL           string `json:"url"`
	Title         string `json:"title"`
	PublishedDate string `json:"publishedDate,omitempty"`
	Author        string `json:"author,omitempty"`
	Text          string `json:"text,omitempty"`
}

type exaSearchRequestFields SearchRequest

func (r SearchRequest) MarshalJSON() ([]byte, error) {
	return wire.MarshalWithExtra(exaSearchRequestFields(r), r.Extra)
}

func (r *SearchRequest) UnmarshalJSON(b []byte) (err error) {
	r.Extra, err = wire.UnmarshalWithExtra(b, (*exaSearchRequestFields)(r))
	return err
}
