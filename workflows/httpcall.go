package workflows

import (
	"context"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
)

// userAgent is appended to requests, as Workflows does.
const userAgent = "GoogleCloudWorkflows; (+https://cloud.google.com/workflows/docs)"

// maxResponseBytes is the Workflows limit on an HTTP response.
const maxResponseBytes = 2 << 20

// response is a received HTTP response, decoded for workflows.
type response struct {
	code    int
	headers map[string]any
	body    any
}

func (r *response) value() map[string]any {
	return map[string]any{"code": int64(r.code), "headers": r.headers, "body": r.body}
}

// httpError is the HttpError map for a response with status >= 400.
func (r *response) httpError() *Error {
	e := errorf(tagHTTP, "HTTP server responded with error code %d", r.code)
	m := e.Value.(map[string]any)
	m["code"] = int64(r.code)
	m["headers"] = r.headers
	m["body"] = r.body
	return e
}

// send performs one request. Transport failures become ConnectionError,
// ConnectionFailedError or TimeoutError; connectorTags (a connector's
// request, sent with ConnectorClient) adds ConnectionError to connection
// failures, as the connector pages name them so. If parent
// is done, its error is returned as is: the run is being cancelled.
func (ex *execution) send(parent context.Context, req *http.Request, connectorTags bool) (*response, error) {
	req.Header.Set("User-Agent", strings.TrimSpace(req.Header.Get("User-Agent")+" "+userAgent))
	client := ex.cfg.HTTPClient
	if connectorTags {
		client = ex.cfg.ConnectorClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if perr := parent.Err(); perr != nil {
			return nil, perr
		}
		return nil, transportError(err, connectorTags)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		if perr := parent.Err(); perr != nil {
			return nil, perr
		}
		return nil, transportError(err, connectorTags)
	}
	if len(data) > maxResponseBytes {
		return nil, errorf(tagResourceLimit, "HTTP response larger than %d bytes", maxResponseBytes)
	}
	headers := map[string]any{}
	for k, vs := range resp.Header {
		headers[k] = strings.Join(vs, ", ")
	}
	return &response{code: resp.StatusCode, headers: headers, body: decodeBody(resp.Header.Get("Content-Type"), data)}, nil
}

// decodeBody gives JSON bodies as values, text as a string, others as bytes.
func decodeBody(contentType string, data []byte) any {
	if len(data) == 0 {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		if v, err := DecodeJSON(data); err == nil {
			return v
		}
		return string(data)
	case strings.HasPrefix(mt, "text/"):
		return string(data)
	}
	return data
}

func transportError(err error, connectorTags bool) *Error {
	var netErr net.Error
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return errorf(tagTimeout, "request timed out: %v", err)
	case errors.As(err, &dnsErr) || (errors.As(err, &opErr) && opErr.Op == "dial"):
		tags := []string{tagConnectionFailed}
		if connectorTags {
			tags = []string{tagConnection, tagConnectionFailed}
		}
		return newError(tags, "connection failed: %v", err)
	}
	return errorf(tagConnection, "connection error: %v", err)
}

// retryable reports whether the default retry predicates accept an error:
// the idempotent one (http.default_retry) or the non-idempotent one.
func retryable(v any, idempotent bool) bool {
	if hasTag(v, tagHTTP) {
		m := v.(map[string]any)
		code, _ := m["code"].(int64)
		switch code {
		case 429, 503:
			return true
		case 502, 504:
			return idempotent
		}
		return false
	}
	if hasTag(v, tagConnectionFailed) {
		return true
	}
	return idempotent && (hasTag(v, tagConnection) || hasTag(v, tagTimeout))
}
