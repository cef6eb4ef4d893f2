package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strings"
	"sync/atomic"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// errorWriter passes successful transcoder responses through and holds
// back error responses, which the transcoder writes in Connect's shape
// (or as plain text), so that finish can rewrite them in Google's.
type errorWriter struct {
	http.ResponseWriter
	r       *http.Request
	reached *atomic.Bool // set once the call reached the service
	started bool
	failed  int // HTTP status of a held-back error response
	buf     bytes.Buffer
}

func (w *errorWriter) WriteHeader(code int) {
	if w.started {
		return
	}
	w.started = true
	if code >= 400 {
		w.failed = code
		return
	}
	dropGRPCHeaders(w.Header())
	if w.Header().Get("Content-Type") == "application/json" {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *errorWriter) Write(b []byte) (int, error) {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed != 0 {
		return w.buf.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

func (w *errorWriter) Flush() {
	if w.failed == 0 {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

func (w *errorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish writes the held-back error, if any, in Google's shape.
func (w *errorWriter) finish() {
	if w.failed == 0 {
		return
	}
	dropGRPCHeaders(w.Header())
	if !w.reached.Load() && (w.failed == http.StatusNotFound || w.failed == http.StatusMethodNotAllowed) {
		writeNotFoundPage(w.ResponseWriter, w.r)
		return
	}
	st := transcoderError(w.failed, w.buf.Bytes())
	if !w.reached.Load() {
		st = requestError(st)
	}
	writeError(w.ResponseWriter, st)
}

// writeNotFoundPage answers a request that matches no route (path or
// method) as Google's front end does: 404 with its HTML page naming the
// URL, query included, not a JSON error. Observed from ESF for a path that
// matched no rule (hashicorp/terraform-provider-google#16401: 404,
// text/html, "The requested URL <code>/v1/projects/projects/…?alt=json</code>
// was not found on this server."). The Go REST client then returns a
// googleapi.Error with that body and no message or details.
func writeNotFoundPage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Del("Allow")
	h.Del("Content-Encoding")
	h.Set("Content-Type", "text/html; charset=UTF-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotFound)
	_, _ = fmt.Fprintf(w, `<!DOCTYPE html>
<html lang=en>
  <meta charset=utf-8>
  <title>Error 404 (Not Found)!!1</title>
  <p><b>404.</b> <ins>That’s an error.</ins>
  <p>The requested URL <code>%s</code> was not found on this server.  <ins>That’s all we know.</ins>
`, html.EscapeString(r.URL.RequestURI()))
}

// dropGRPCHeaders removes what the transcoder copies from its gRPC leg:
// no business of REST callers.
func dropGRPCHeaders(h http.Header) {
	for _, k := range []string{"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin", "Trailer"} {
		h.Del(k)
	}
}

// transcoderError recovers the status from an error body of the
// transcoder: a google.rpc.Status in JSON for errors of the call, plain
// text for requests it could not decode.
func transcoderError(httpCode int, body []byte) *status.Status {
	var sp spb.Status
	if err := protojson.Unmarshal(body, &sp); err == nil && sp.GetCode() != 0 {
		return status.FromProto(&sp)
	}
	var plain struct {
		Code    int32  `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &plain); err == nil && plain.Code != 0 {
		return status.New(codes.Code(plain.Code), plain.Message)
	}
	switch httpCode {
	case http.StatusUnsupportedMediaType, http.StatusHTTPVersionNotSupported:
		return status.New(codes.InvalidArgument, strings.TrimSpace(string(body)))
	}
	return status.New(codeForHTTP(httpCode), strings.TrimSpace(string(body)))
}

// codeForHTTP is the canonical code for an HTTP error status that came
// without one.
func codeForHTTP(httpCode int) codes.Code {
	for c, h := range httpStatus {
		if h == httpCode {
			return codes.Code(c)
		}
	}
	if httpCode < 500 {
		return codes.InvalidArgument
	}
	return codes.Internal
}

// requestError rewrites an error the transcoder raised before the call
// reached the service: the request could not be decoded, which is the
// caller's INVALID_ARGUMENT whatever code the transcoder chose, in the
// wording of Google's front end where we know it.
func requestError(st *status.Status) *status.Status {
	switch st.Code() {
	case codes.Unknown, codes.Internal, codes.Unimplemented:
		st = status.New(codes.InvalidArgument, st.Message())
	case codes.InvalidArgument:
	default:
		return st // RESOURCE_EXHAUSTED for size
	}
	msg := st.Message()
	var out *status.Status
	var field string
	if name, ok := quoted(msg, `unknown field in field path "`); ok {
		out = unboundParam(name)
	} else if name, ok := quoted(msg, `unknown field "`); ok {
		if i := strings.Index(msg, atMarker); i >= 0 {
			field = strings.TrimSuffix(msg[i+len(atMarker):], "'")
			out = status.Newf(codes.InvalidArgument, "Invalid JSON payload received. Unknown name %q at '%s': Cannot find field.", name, field)
		} else {
			out = status.Newf(codes.InvalidArgument, "Invalid JSON payload received. Unknown name %q: Cannot find field.", name)
		}
	} else if i := strings.Index(msg, "proto:"); i >= 0 {
		return status.New(codes.InvalidArgument, "Invalid JSON payload received. "+strings.TrimSpace(msg[i+len("proto:"):]))
	} else {
		return st
	}
	return withViolation(out, field)
}

// unboundParam is Google's answer to a query parameter that names no
// field of the request.
func unboundParam(name string) *status.Status {
	return status.Newf(codes.InvalidArgument, "Invalid JSON payload received. Unknown name %q: Cannot bind query parameter. Field '%s' could not be found in request message.", name, name)
}

// withViolation adds a BadRequest detail for field, described by st's
// message.
func withViolation(st *status.Status, field string) *status.Status {
	withDetail, err := st.WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: st.Message()}},
	})
	if err != nil {
		return st
	}
	return withDetail
}

// quoted returns the text between marker and the next double quote.
func quoted(msg, marker string) (string, bool) {
	i := strings.Index(msg, marker)
	if i < 0 {
		return "", false
	}
	rest := msg[i+len(marker):]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return rest[:j], true
}
