package gateway

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/openai"
)

// embeddingsOp serves POST /v1/embeddings in OpenAI's format.
var embeddingsOp = operation{kinds: []providers.Kind{providers.KindEmbeddings}, read: readEmbeddings}

type embeddingsRequest struct {
	req        openai.EmbeddingsRequest
	wantBase64 bool
}

func readEmbeddings(_ *Server, r *http.Request, _ *exchange) (clientRequest, *apiError) {
	e := &embeddingsRequest{}
	if aerr := readJSON(r, &e.req); aerr != nil {
		return nil, aerr
	}
	if e.req.Model == "" {
		return nil, badRequest("model", "you must provide a model parameter")
	}
	if len(e.req.Input) == 0 || string(e.req.Input) == "null" {
		return nil, badRequest("input", "input is required")
	}
	switch e.req.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, badRequest("encoding_format", "encoding_format must be float or base64")
	}
	// Upstreams are always asked for floats (not every compatible server
	// speaks base64); the gateway encodes for clients that asked for it.
	e.wantBase64 = e.req.EncodingFormat == "base64"
	e.req.EncodingFormat = "float"
	return e, nil
}

func (e *embeddingsRequest) model() string { return e.req.Model }

// outputBound: embeddings produce no output tokens.
func (e *embeddingsRequest) outputBound() (int, bool) { return 0, true }

func (e *embeddingsRequest) plan(rt route) (upstreamPlan, error) {
	req := e.req
	req.Model = rt.model
	body, err := json.Marshal(req)
	if err != nil {
		return upstreamPlan{}, badRequest("", "could not encode the request: %v", err)
	}
	p := upstreamPlan{req: endpoint.Request{Body: json.RawMessage(body)}}
	if e.wantBase64 {
		p.convert = toBase64
	}
	return p, nil
}

// toBase64 rewrites float embeddings as base64 of little-endian float32s,
// as OpenAI does for encoding_format "base64". Embeddings already in base64
// pass as they are.
func toBase64(body []byte) ([]byte, error) {
	var resp openai.EmbeddingsResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	for i, d := range resp.Data {
		if len(d.Embedding) == 0 || d.Embedding[0] != '[' {
			continue
		}
		var floats []float64
		if err := json.Unmarshal(d.Embedding, &floats); err != nil {
			return nil, err
		}
		buf := make([]byte, 4*len(floats))
		for j, f := range floats {
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(float32(f)))
		}
		enc, _ := json.Marshal(base64.StdEncoding.EncodeToString(buf))
		resp.Data[i].Embedding = enc
	}
	return json.Marshal(resp)
}
