package workflows

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	connectorDefaultTimeout = 1800 * time.Second
	// Cloud Tasks methods are not long-running, so the non-LRO maximum applies.
	connectorMaxTimeout = 1800 * time.Second
	connectorMaxRetries = 5
)

// callConnector calls a googleapis.cloudtasks.v2.* method over REST at the
// configured endpoint. Its built-in retry policy is the idempotent one for
// GET and the non-idempotent one otherwise; connector_params.timeout bounds
// the whole call, retries included.
func (ex *execution) callConnector(ctx context.Context, name string, args map[string]any) (any, error) {
	m := connectorMethods()[name]
	if m == nil {
		return nil, &UnmatchedCallError{Call: name, Args: args}
	}
	timeout, err := connectorTimeout(name, args["connector_params"])
	if err != nil {
		return nil, err
	}
	target, body, err := m.request(ex.cfg.Endpoint, args)
	if err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		result, err := ex.connectorOnce(ctx, tctx, m, target, body)
		var we *Error
		if err == nil || !errors.As(err, &we) {
			return result, err
		}
		if attempt >= connectorMaxRetries || !retryable(we.Value, m.verb == http.MethodGet) {
			return nil, err
		}
		if serr := ex.cfg.Sleep(tctx, defaultBackoff.delay(attempt)); serr != nil {
			if perr := ctx.Err(); perr != nil {
				return nil, perr
			}
			return nil, errorf(tagTimeout, "%s: timed out after %s", name, timeout)
		}
	}
}

func (ex *execution) connectorOnce(parent, ctx context.Context, m *connectorMethod, target string, body []byte) (any, error) {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, m.verb, target, reader)
	if err != nil {
		return nil, valueErrorf("%s: %v", m.name, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := ex.send(parent, req, true)
	if err != nil {
		return nil, err
	}
	if resp.code >= 400 {
		return nil, resp.httpError()
	}
	if resp.body == nil {
		return map[string]any{}, nil // google.protobuf.Empty
	}
	return resp.body, nil
}

// callURL is the URL a call would reach, for mocks' url patterns: the url
// argument of http.*, the REST URL of a known connector, else "".
func (ex *execution) callURL(name string, args map[string]any) string {
	if m := connectorMethods()[name]; m != nil {
		target, _, err := m.request(ex.cfg.Endpoint, args)
		if err == nil {
			return target
		}
		return ""
	}
	if strings.HasPrefix(name, "http.") {
		u, _ := args["url"].(string)
		return u
	}
	return ""
}

func connectorTimeout(name string, params any) (time.Duration, error) {
	if params == nil {
		return connectorDefaultTimeout, nil
	}
	m, ok := params.(map[string]any)
	if !ok {
		return 0, typeErrorf("%s: connector_params must be a map, got %s", name, typeName(params))
	}
	raw, ok := m["timeout"]
	if !ok {
		return connectorDefaultTimeout, nil
	}
	secs, ok := toFloat(raw)
	if !ok {
		return 0, typeErrorf("%s: connector_params.timeout must be a number, got %s", name, typeName(raw))
	}
	if secs <= 0 || math.IsNaN(secs) || secs > connectorMaxTimeout.Seconds() {
		return 0, valueErrorf("%s: connector_params.timeout must be between 0 and %d seconds", name, int(connectorMaxTimeout.Seconds()))
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// request builds the URL and JSON body from the named arguments: path
// arguments fill the template, query arguments the query string, and
// `body` the request body.
func (m *connectorMethod) request(endpoint string, args map[string]any) (string, []byte, error) {
	used := map[string]bool{"connector_params": true}
	var path strings.Builder
	for _, s := range m.segments {
		path.WriteByte('/')
		if s.arg == "" {
			path.WriteString(s.literal)
			continue
		}
		used[s.arg] = true
		raw, present := args[s.arg]
		if !present || raw == nil {
			return "", nil, typeErrorf("%s: missing required argument %q", m.name, s.arg)
		}
		v, ok := raw.(string)
		if !ok {
			return "", nil, typeErrorf("%s: argument %q must be a string, got %s", m.name, s.arg, typeName(raw))
		}
		if !matchPattern(s.pattern, v) {
			return "", nil, valueErrorf("%s: argument %q must look like %s, got %q", m.name, s.arg, strings.Join(s.pattern, "/"), v)
		}
		for i, seg := range strings.Split(v, "/") {
			if i > 0 {
				path.WriteByte('/')
			}
			path.WriteString(url.PathEscape(seg))
		}
	}
	path.WriteString(m.suffix)
	query := url.Values{}
	for _, q := range m.query {
		used[q] = true
		if v, ok := args[q]; ok && v != nil {
			s, ok := stringOf(v)
			if !ok {
				return "", nil, typeErrorf("%s: argument %q must be a scalar, got %s", m.name, q, typeName(v))
			}
			query.Set(q, s)
		}
	}
	var body []byte
	if m.body {
		used["body"] = true
		b := args["body"]
		if b == nil {
			b = map[string]any{}
		}
		if _, ok := b.(map[string]any); !ok {
			return "", nil, typeErrorf("%s: argument \"body\" must be a map, got %s", m.name, typeName(b))
		}
		var err error
		if body, err = EncodeJSON(b); err != nil {
			return "", nil, err
		}
	}
	for k := range args {
		if !used[k] {
			return "", nil, typeErrorf("%s: unexpected argument %q", m.name, k)
		}
	}
	target := strings.TrimRight(endpoint, "/") + path.String()
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	return target, body, nil
}

// matchPattern checks a value against a template pattern such as
// projects/*/locations/*: "*" is one non-empty segment, "**" the rest.
func matchPattern(pattern []string, v string) bool {
	parts := strings.Split(v, "/")
	for i, p := range pattern {
		if p == "**" {
			return i < len(parts)
		}
		if i >= len(parts) || parts[i] == "" || (p != "*" && p != parts[i]) {
			return false
		}
	}
	return len(parts) == len(pattern)
}
