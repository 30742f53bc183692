package providers

import "encoding/json"

// ExaSearchRequest is POST /search.
type ExaSearchRequest struct {
	Query      string          `json:"query"`
	NumResults int             `json:"numResults,omitempty"` // 1-100, default 10
	Type       string          `json:"type,omitempty"`       // "auto" by default
	Contents   json.RawMessage `json:"contents,omitempty"`
	Extra      Extra           `json:"-"`
}

// ExaSearchResponse is the search answer.
type ExaSearchResponse struct {
	RequestID string      `json:"requestId"`
	Results   []ExaResult `json:"results"`
}

// ExaResult is one hit.
type ExaResult struct {
	ID            string `json:"id"`
	URL           string `json:"url"`
	Title         string `json:"title"`
	PublishedDate string `json:"publishedDate,omitempty"`
	Author        string `json:"author,omitempty"`
	Text          string `json:"text,omitempty"`
}

type exaSearchRequestFields ExaSearchRequest

func (r ExaSearchRequest) MarshalJSON() ([]byte, error) {
	return marshalWithExtra(exaSearchRequestFields(r), r.Extra)
}

func (r *ExaSearchRequest) UnmarshalJSON(b []byte) (err error) {
	r.Extra, err = unmarshalWithExtra(b, (*exaSearchRequestFields)(r))
	return err
}
