package server

import (
	"net/http"

	"google.golang.org/grpc/status"
)

// WriteError answers a call of a WithHandler route that failed with err in
// Google's REST error shape, as the API's own routes do.
func WriteError(w http.ResponseWriter, err error) {
	writeError(w, status.Convert(err))
}

// EnumNumbers reports whether a REST caller asked for enums as numbers
// ("$alt=json;enum-encoding=int", as Google's REST clients do).
func EnumNumbers(r *http.Request) bool {
	q, err := parseQuery(r.URL.RawQuery)
	return err == nil && wantsEnumNumbers(q)
}
