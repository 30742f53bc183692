// Package anthropic is Anthropic's wire format: messages requests and
// answers, content blocks, stream events and error bodies as plain structs
// that keep the fields they do not model; the Dialect (529 overloaded,
// retried); and the SDK transport on
// github.com/anthropics/anthropic-sdk-go/v2 (NewSDK, with ClientOf for the
// typed client of a started endpoint).
package anthropic
