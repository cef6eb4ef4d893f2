package server

import (
	"net/url"
	"strings"
)

// parseQuery splits a query string on "&" only. url.ParseQuery refuses
// ";", but Google takes it literally, and users type
// "?$alt=json;enum-encoding=int" unescaped.
func parseQuery(raw string) (url.Values, error) {
	q := url.Values{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		q[key] = append(q[key], val)
	}
	return q, nil
}
