// Package providers is the catalog of LLM and search providers, as data:
// each entry's base URL (and the environment variable that moves it), auth
// and key variable, headers, transports, endpoints with their kinds, model
// list path, and the dialect of its wire format.
//
// Match turns a provider and endpoint name into a filled endpoint.Config:
//
//	cfg, err := providers.Match("groq", "chat") // key from GROQ_API_KEY
//	e, err := providers.NewEndpoint(cfg)          // its dialect; its SDK for transport "sdk"
//
// The catalog: openai (chat, embeddings, responses), anthropic (messages,
// anthropic-version 2023-06-01 unless overridden), groq, openrouter,
// perplexity, ollama (no key; OLLAMA_HOST moves it), gemini, deepseek,
// mistral, together (all OpenAI-compatible), and exa (search).
//
// One package per wire format holds its types, its dialect and its SDK
// transport: providers/openai (openai-go), providers/anthropic
// (anthropic-sdk-go), providers/exa. providers/translate turns requests,
// answers and streams between OpenAI's format and Anthropic's.
package providers
