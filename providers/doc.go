// Package providers is the catalog of LLM and search providers, their wire
// formats, and the openai-go SDK transport.
//
// Match turns a provider and endpoint name into a filled endpoint.Config:
//
//	cfg, err := providers.Match("groq", "chat") // key from GROQ_API_KEY
//	e, err := providers.NewEndpoint(cfg)          // plugs in openai-go for transport "sdk"
//
// The catalog: openai (chat, embeddings, responses), anthropic (messages,
// anthropic-version 2023-06-01 unless overridden), groq, openrouter,
// perplexity, ollama (no key; OLLAMA_HOST), gemini, deepseek, mistral,
// together (all OpenAI-compatible), and exa (search).
//
// The wire types (ChatRequest, ChatResponse, ChatChunk, EmbeddingsRequest,
// MessagesRequest, StreamEvent, ExaSearchRequest, ...) are plain structs;
// requests keep the fields they do not model in Extra, so a proxy passes
// them through untouched.
//
// With transport "sdk", an OpenAI-compatible endpoint sends its calls
// through the official github.com/openai/openai-go/v3 client, built on the
// endpoint's own *http.Client with SDK retries off (the endpoint retries).
// OpenAIClient returns that typed client for direct use.
package providers
