package admission

import (
	_ "embed"
	"fmt"
	"math"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/khive-go/khive/internal/fielderr"
)

// Price is what a model's tokens cost, in USD per million.
type Price struct {
	InputPerMTok float64 `yaml:"input_per_mtok"`
	// CachedInputPerMTok is input read from the provider's prompt cache;
	// CacheWritePerMTok input written to it (Anthropic's cache writes).
	// Zero charges them as input.
	CachedInputPerMTok float64 `yaml:"cached_input_per_mtok"`
	CacheWritePerMTok  float64 `yaml:"cache_write_per_mtok"`
	OutputPerMTok      float64 `yaml:"output_per_mtok"`
}

// Usage is what one answer used, in tokens. Input counts every input
// token, those read from or written to the cache included (as OpenAI's
// prompt_tokens do; Anthropic's input_tokens plus its cache counts).
type Usage struct {
	Input, CachedInput, CacheWrite, Output int
}

// Cost is what u costs at p, in USD.
func (p Price) Cost(u Usage) float64 {
	cached := p.CachedInputPerMTok
	if cached == 0 {
		cached = p.InputPerMTok
	}
	write := p.CacheWritePerMTok
	if write == 0 {
		write = p.InputPerMTok
	}
	plain := max(0, u.Input-u.CachedInput-u.CacheWrite)
	return (float64(plain)*p.InputPerMTok + float64(u.CachedInput)*cached +
		float64(u.CacheWrite)*write + float64(u.Output)*p.OutputPerMTok) / 1e6
}

// Validate reports a negative or non-finite price, each field by name.
func (p Price) Validate() error {
	var errs fielderr.List
	for _, f := range []struct {
		name string
		v    float64
	}{{"input_per_mtok", p.InputPerMTok}, {"cached_input_per_mtok", p.CachedInputPerMTok},
		{"cache_write_per_mtok", p.CacheWritePerMTok}, {"output_per_mtok", p.OutputPerMTok}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			errs.Add(f.name, "must be a price >= 0, got %v", f.v)
		}
	}
	return errs.Err()
}

//go:embed prices.yaml
var pricesYAML []byte

// shipped is the price table in prices.yaml, provider → model → price.
var shipped = sync.OnceValue(func() map[string]map[string]Price {
	var t map[string]map[string]Price
	if err := yaml.Unmarshal(pricesYAML, &t); err != nil {
		panic(fmt.Sprintf("admission: prices.yaml: %v", err)) // a build defect, caught by its test
	}
	return t
})

// undated is model without a snapshot suffix (-20250929 or -2024-08-06),
// and whether it had one. It runs on every request: no regexp.
func undated(model string) (string, bool) {
	digits := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	if n := len(model); n > 9 && model[n-9] == '-' && digits(model[n-8:]) {
		return model[:n-9], true
	}
	if n := len(model); n > 11 && model[n-11] == '-' && model[n-6] == '-' && model[n-3] == '-' &&
		digits(model[n-10:n-6]) && digits(model[n-5:n-3]) && digits(model[n-2:]) {
		return model[:n-11], true
	}
	return model, false
}

// ShippedPrice is the price the repository's table gives provider's model
// (a dated snapshot id is priced as its alias: claude-sonnet-4-5-20250929
// as claude-sonnet-4-5); false when the table has none: the cost is
// unknown, never 0.
func ShippedPrice(provider, model string) (Price, bool) {
	models := shipped()[provider]
	if p, ok := models[model]; ok {
		return p, true
	}
	if alias, ok := undated(model); ok {
		p, ok := models[alias]
		return p, ok
	}
	return Price{}, false
}
