package workflows

import (
	"bytes"
	"context"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	httpDefaultTimeout = 300 * time.Second
	httpMaxTimeout     = 1800 * time.Second
)

func addHTTP() {
	common := []string{"timeout", "headers", "query", "auth", "private_service_name", "ca_certificate"}
	withBody := append([]string{"url", "body"}, common...)
	register("http.get", append([]string{"url"}, common...), 1, httpMethod(http.MethodGet)).blocking = true
	register("http.post", withBody, 1, httpMethod(http.MethodPost)).blocking = true
	register("http.put", withBody, 1, httpMethod(http.MethodPut)).blocking = true
	register("http.patch", withBody, 1, httpMethod(http.MethodPatch)).blocking = true
	register("http.delete", withBody, 1, httpMethod(http.MethodDelete)).blocking = true
	register("http.request", append([]string{"method"}, withBody...), 2, func(c *call) (any, error) {
		m, err := c.str(0)
		if err != nil {
			return nil, err
		}
		switch m = strings.ToUpper(m); m {
		case "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH":
		default:
			return nil, valueErrorf("http.request: unsupported method %q", m)
		}
		return doHTTP(c, m, 1)
	}).blocking = true
	register("http.default_retry_predicate", []string{"e"}, 1, func(c *call) (any, error) {
		return retryable(c.args[0], true), nil
	})
	register("http.default_retry_predicate_non_idempotent", []string{"e"}, 1, func(c *call) (any, error) {
		return retryable(c.args[0], false), nil
	})
	for name, pred := range map[string]string{
		"http.default_retry":                "http.default_retry_predicate",
		"http.default_retry_non_idempotent": "http.default_retry_predicate_non_idempotent",
	} {
		libraryConstants[name] = map[string]any{
			"predicate":   funcRef{pred},
			"max_retries": int64(5),
			"backoff":     map[string]any{"initial_delay": int64(1), "max_delay": int64(60), "multiplier": 1.25},
		}
	}
}

func httpMethod(method string) func(c *call) (any, error) {
	return func(c *call) (any, error) { return doHTTP(c, method, 0) }
}

// doHTTP sends an http.* request; first is the index of the url argument,
// and the other arguments are looked up by name.
func doHTTP(c *call, method string, first int) (any, error) {
	arg := func(name string) (any, int) {
		for i, p := range library[c.name].params {
			if p == name && c.optional(i) {
				return c.args[i], i
			}
		}
		return nil, -1
	}
	raw, err := c.str(first)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, valueErrorf("%s: invalid URL %q", c.name, raw)
	}
	if q, i := arg("query"); i >= 0 {
		if err := addQuery(u, q); err != nil {
			return nil, err
		}
	}
	header := http.Header{}
	if h, i := arg("headers"); i >= 0 {
		hm, ok := h.(map[string]any)
		if !ok {
			return nil, c.badType(i, "a map")
		}
		for k, v := range hm {
			s, ok := stringOf(v)
			if !ok {
				return nil, typeErrorf("%s: header %q must be a string", c.name, k)
			}
			header.Set(k, s)
		}
	}
	timeout := httpDefaultTimeout
	if t, i := arg("timeout"); i >= 0 {
		secs, ok := toFloat(t)
		if !ok {
			return nil, c.badType(i, "a number")
		}
		if secs <= 0 || math.IsNaN(secs) || time.Duration(secs*float64(time.Second)) > httpMaxTimeout {
			return nil, valueErrorf("%s: timeout must be between 0 and 1800 seconds", c.name)
		}
		timeout = time.Duration(secs * float64(time.Second))
	}
	var body io.Reader
	if b, i := arg("body"); i >= 0 {
		data, err := encodeBody(header, b)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, valueErrorf("%s: %v", c.name, err)
	}
	req.Header = header
	resp, err := c.env.f.ex.send(c.ctx, req, false)
	if err != nil {
		return nil, err
	}
	if resp.code >= 400 {
		return nil, resp.httpError()
	}
	return resp.value(), nil
}

// addQuery appends query parameters: scalars, or lists of scalars.
func addQuery(u *url.URL, q any) error {
	m, ok := q.(map[string]any)
	if !ok {
		return typeErrorf("query must be a map, got %s", typeName(q))
	}
	values := u.Query()
	for _, k := range sortedKeys(m) {
		items, isList := m[k].([]any)
		if !isList {
			items = []any{m[k]}
		}
		for _, it := range items {
			s, ok := stringOf(it)
			if !ok {
				return typeErrorf("query parameter %q must be a scalar or a list of scalars", k)
			}
			values.Add(k, s)
		}
	}
	u.RawQuery = values.Encode()
	return nil
}

// encodeBody encodes a request body per its Content-Type: bytes go as they
// are (octet-stream by default), form types URL-encode a map, and anything
// else is JSON.
func encodeBody(header http.Header, body any) ([]byte, error) {
	ct := header.Get("Content-Type")
	if ct == "" {
		if b, ok := body.([]byte); ok {
			header.Set("Content-Type", "application/octet-stream")
			return b, nil
		}
		header.Set("Content-Type", "application/json; charset=utf-8")
		return EncodeJSON(body)
	}
	mt, _, _ := mime.ParseMediaType(ct)
	switch b := body.(type) {
	case []byte:
		return b, nil
	case string:
		if mt != "application/json" {
			return []byte(b), nil
		}
	case map[string]any:
		if mt == "application/x-www-form-urlencoded" {
			u := &url.URL{}
			if err := addQuery(u, b); err != nil {
				return nil, err
			}
			return []byte(u.RawQuery), nil
		}
	}
	return EncodeJSON(body)
}
