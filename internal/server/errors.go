package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	_ "google.golang.org/genproto/googleapis/rpc/errdetails" // resolves google.rpc.* details in error bodies
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// httpStatus maps canonical codes to HTTP statuses as google/rpc/code.proto
// does (FAILED_PRECONDITION is 400, not 412).
var httpStatus = [...]int{
	codes.OK:                 http.StatusOK,
	codes.Canceled:           499,
	codes.Unknown:            http.StatusInternalServerError,
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.DeadlineExceeded:   http.StatusGatewayTimeout,
	codes.NotFound:           http.StatusNotFound,
	codes.AlreadyExists:      http.StatusConflict,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.ResourceExhausted:  http.StatusTooManyRequests,
	codes.FailedPrecondition: http.StatusBadRequest,
	codes.Aborted:            http.StatusConflict,
	codes.OutOfRange:         http.StatusBadRequest,
	codes.Unimplemented:      http.StatusNotImplemented,
	codes.Internal:           http.StatusInternalServerError,
	codes.Unavailable:        http.StatusServiceUnavailable,
	codes.DataLoss:           http.StatusInternalServerError,
	codes.Unauthenticated:    http.StatusUnauthorized,
}

// HTTPStatus is the HTTP status the REST API answers a canonical code
// with.
func HTTPStatus(c codes.Code) int {
	if int(c) >= len(httpStatus) {
		return http.StatusInternalServerError
	}
	return httpStatus[c]
}

// googleError is the body of every REST error: {"error": {...}}.
type googleError struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Status  string            `json:"status"`
	Details []json.RawMessage `json:"details,omitempty"`
}

// writeError answers a REST call with st in Google's error shape.
func writeError(w http.ResponseWriter, st *status.Status) {
	code := st.Code()
	if int(code) >= len(httpStatus) {
		code = codes.Unknown
	}
	body := googleError{Error: errorBody{
		Code:    httpStatus[code],
		Message: st.Message(),
		Status:  rpccode.Code_name[int32(code)],
	}}
	for _, d := range st.Proto().GetDetails() {
		// A detail whose type this binary does not know cannot be shown
		// as JSON; dropping it beats failing the whole error.
		if b, err := protojson.Marshal(d); err == nil {
			body.Error.Details = append(body.Error.Details, b)
		}
	}
	b, _ := json.Marshal(body) // strings, ints and protojson output: cannot fail
	h := w.Header()
	h.Del("Content-Encoding")
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(body.Error.Code)
	_, _ = w.Write(b)
}
