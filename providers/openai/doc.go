// Package openai is OpenAI's wire format, spoken by most of the catalog:
// chat completions (plain and streamed chunks), embeddings, model lists and
// error bodies as plain structs that keep the fields they do not model, so
// a proxy passes them through; the Dialect endpoints of this format use;
// and the SDK transport on github.com/openai/openai-go/v3 (NewSDK, with
// ClientOf for the typed client of a started endpoint).
package openai
