package endpoint

import (
	"encoding/json"
	"fmt"
)

// String describes the endpoint by name, provider, transport and base URL.
// The endpoint holds its prepared auth header; none of the formatting
// methods below ever prints it.
func (e *Endpoint) String() string {
	if e == nil {
		return "endpoint <nil>"
	}
	return fmt.Sprintf("endpoint %q (provider %s, transport %s, %s)", e.cfg.Name, e.cfg.Provider, e.cfg.Transport, e.base)
}

// Format prints String under every verb (%v, %+v, %#v, %s, %q, %x, ...),
// never the struct and the key in its headers.
func (e *Endpoint) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), e.String())
}

// MarshalJSON describes the endpoint as String does, without its key.
func (e *Endpoint) MarshalJSON() ([]byte, error) {
	if e == nil {
		return []byte("null"), nil
	}
	return json.Marshal(struct {
		Name      string `json:"name"`
		Provider  string `json:"provider"`
		Transport string `json:"transport"`
		BaseURL   string `json:"base_url"`
	}{e.cfg.Name, e.cfg.Provider, e.cfg.Transport, e.base})
}
