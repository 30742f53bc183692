package exa

import "github.com/khive-go/khive/endpoint"

// Dialect is what an endpoint knows of Exa's search API: the generic one.
var Dialect endpoint.Dialect = dialect{}

type dialect struct{ endpoint.GenericDialect }
