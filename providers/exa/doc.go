// Package exa is Exa's search API: request and answer types, and the
// dialect of its endpoints.
package exa
