package openai

import "github.com/khive-go/khive/endpoint"

// Dialect is what an endpoint knows of OpenAI's wire format, spoken too by
// Groq, OpenRouter, Perplexity, Ollama, Gemini, DeepSeek, Mistral and
// Together: the generic one (error bodies {"error":{...}}, usage as
// total_tokens, x-ratelimit-* headers in OpenAI's meaning among the
// families package ratelimit reads).
var Dialect endpoint.Dialect = dialect{}

type dialect struct{ endpoint.GenericDialect }
