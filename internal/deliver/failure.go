package deliver

import (
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/valyala/fasthttp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/anypb"
)

// Failure says why an attempt got no response. Cloud Tasks records every
// attempt without one as a 503 (or a 504 past its deadline) and says no
// more; the attempt's response_status carries the Failure as the reason
// of an ErrorInfo detail (domain "opentasks.dev"), and the dispatcher logs
// it with the queue and task.
type Failure string

const (
	// NoFailure: the target answered (or the attempt is not over).
	NoFailure Failure = ""
	// ConnectFailed: the connection was refused or could not be made
	// (no route, no such host, too many connections open).
	ConnectFailed Failure = "CONNECT_FAILED"
	// ConnectTimedOut: no connection within Config.ConnectTimeout.
	ConnectTimedOut Failure = "CONNECT_TIMEOUT"
	// DeadlineExceeded: no answer within the dispatch deadline.
	DeadlineExceeded Failure = "DEADLINE_EXCEEDED"
	// ConnectionReset: the target reset the connection while the
	// request was being sent.
	ConnectionReset Failure = "CONNECTION_RESET"
	// ConnectionClosed: the target closed the connection, or reset it,
	// before a complete response header (fasthttp reports a reset before
	// the first byte of the response as the end of the stream).
	ConnectionClosed Failure = "CONNECTION_CLOSED"
	// RequestFailed: anything else (a malformed response, a request that
	// could not be built).
	RequestFailed Failure = "REQUEST_FAILED"
)

// dialError marks an error as one of connecting, which fasthttp returns
// as it is.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connecting: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// errTooManyConns refuses a connection beyond Config.MaxConns.
var errTooManyConns = errors.New("too many connections open to targets")

// classify says why err ended an attempt whose deadline had (late) or had
// not passed.
func classify(err error, late bool) Failure {
	var de *dialError
	var ne net.Error
	switch {
	case errors.As(err, &de):
		if errors.As(err, &ne) && ne.Timeout() && !late {
			return ConnectTimedOut
		}
		if late {
			return DeadlineExceeded
		}
		return ConnectFailed
	case late || errors.Is(err, fasthttp.ErrTimeout):
		return DeadlineExceeded
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ConnectionReset
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF):
		return ConnectionClosed
	}
	return RequestFailed
}

// failureDetail is the ErrorInfo that says why an attempt got no response.
func failureDetail(r Result) *anypb.Any {
	info := &errdetails.ErrorInfo{Reason: string(r.Failure), Domain: "opentasks.dev"}
	if r.Err != nil {
		info.Metadata = map[string]string{"error": r.Err.Error()}
	}
	a, err := anypb.New(info)
	if err != nil {
		return nil // cannot happen for a generated message
	}
	return a
}
