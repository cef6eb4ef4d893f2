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
	// connectorMaxTimeout bounds methods that return at once; long-running
	// ones (Workflow Executions' run and create) may wait up to a year.
	connectorMaxTimeout     = 1800 * time.Second
	connectorMaxLongTimeout = 31536000 * time.Second
	connectorMaxRetries     = 5
)

// callConnector calls a googleapis.* method over REST at the configured
// endpoint. Its built-in retry policy is the idempotent one for GET and
// the non-idempotent one otherwise; connector_params.timeout bounds the
// whole call, retries and polling included.
func (ex *execution) callConnector(ctx context.Context, name string, args map[string]any) (any, error) {
	m := connectorMethods()[name]
	if m == nil {
		return nil, &UnmatchedCallError{Call: name, Args: args}
	}
	params, err := parseConnectorParams(name, args["connector_params"], m.longRunning)
	if err != nil {
		return nil, err
	}
	verb, target, body, err := ex.connectorRequest(m, args)
	if err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, params.timeout)
	defer cancel()
	result, err := ex.connectorSend(ctx, tctx, name, verb, target, body, params.timeout)
	switch {
	case err != nil:
		return nil, err
	case m.helper && params.skipPolling:
		return nil, nil // run returns nothing when it does not wait
	case !m.longRunning || params.skipPolling:
		return result, nil
	}
	final, err := ex.awaitExecution(ctx, tctx, name, result, params)
	if err != nil || !m.helper {
		return final, err
	}
	return executionResult(name, final)
}

// connectorRequest builds a method's HTTP verb, URL and body.
func (ex *execution) connectorRequest(m *connectorMethod, args map[string]any) (string, string, []byte, error) {
	if m.helper {
		target, body, err := ex.runRequest(args)
		return http.MethodPost, target, body, err
	}
	target, body, err := m.request(ex.cfg.Endpoint, args)
	return m.verb, target, body, err
}

// connectorSend sends one connector request, retrying it per the
// connectors' built-in policy within tctx.
func (ex *execution) connectorSend(ctx, tctx context.Context, name, verb, target string, body []byte, timeout time.Duration) (any, error) {
	for attempt := 0; ; attempt++ {
		result, err := ex.connectorOnce(ctx, tctx, name, verb, target, body)
		var we *Error
		if err == nil || !errors.As(err, &we) {
			return result, err
		}
		if attempt >= connectorMaxRetries || !retryable(we.Value, verb == http.MethodGet) {
			return nil, err
		}
		if serr := ex.cfg.Sleep(tctx, defaultBackoff.delay(attempt)); serr != nil {
			return nil, connectorTimedOut(ctx, name, timeout)
		}
	}
}

// connectorTimedOut is the error when the call's time is up: ctx's own
// error if the run is being cancelled, else a TimeoutError.
func connectorTimedOut(ctx context.Context, name string, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return errorf(tagTimeout, "%s: timed out after %s", name, timeout)
}

func (ex *execution) connectorOnce(parent, ctx context.Context, name, verb, target string, body []byte) (any, error) {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, verb, target, reader)
	if err != nil {
		return nil, valueErrorf("%s: %v", name, err)
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
		if _, target, _, err := ex.connectorRequest(m, args); err == nil {
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

// connectorParams are the connector_params a call may give.
type connectorParams struct {
	timeout     time.Duration
	skipPolling bool
	polling     backoff
}

func parseConnectorParams(name string, raw any, longRunning bool) (connectorParams, error) {
	p := connectorParams{timeout: connectorDefaultTimeout, polling: defaultBackoff}
	if raw == nil {
		return p, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return p, typeErrorf("%s: connector_params must be a map, got %s", name, typeName(raw))
	}
	if t, ok := m["timeout"]; ok {
		limit := connectorMaxTimeout
		if longRunning {
			limit = connectorMaxLongTimeout
		}
		secs, ok := toFloat(t)
		if !ok {
			return p, typeErrorf("%s: connector_params.timeout must be a number, got %s", name, typeName(t))
		}
		if secs <= 0 || math.IsNaN(secs) || secs > limit.Seconds() {
			return p, valueErrorf("%s: connector_params.timeout must be between 0 and %d seconds", name, int(limit.Seconds()))
		}
		p.timeout = time.Duration(secs * float64(time.Second))
	}
	if s, ok := m["skip_polling"]; ok {
		if p.skipPolling, ok = s.(bool); !ok {
			return p, typeErrorf("%s: connector_params.skip_polling must be a boolean, got %s", name, typeName(s))
		}
	}
	if pp, ok := m["polling_policy"]; ok {
		b, err := parseBackoff(pp)
		if err != nil {
			return p, err
		}
		p.polling = b
	}
	return p, nil
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
