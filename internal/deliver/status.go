package deliver

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/genproto/googleapis/rpc/code"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"

	"github.com/opentasks/opentasks/internal/targets"
)

// statusPrefix precedes the HTTP status at the end of every response
// status message, which previousResponse reads back.
const statusPrefix = "HTTP status code "

// ResponseStatus is the Attempt.response_status recorded for r, in Cloud
// Tasks' format: {code, "INTERNAL(13): HTTP status code 500"}. A deadline
// counts as 504 and a failure to get any response as 503, with the reason
// in an ErrorInfo detail (see Failure), except a target the server's
// policy denied (internal/targets), which is PERMISSION_DENIED with the
// reason.
func ResponseStatus(r Result) *statuspb.Status {
	if errors.Is(r.Err, targets.ErrDenied) {
		// Not an HTTP status: say why nothing was sent.
		c := code.Code_PERMISSION_DENIED
		return &statuspb.Status{Code: int32(c), Message: fmt.Sprintf("%s(%d): %v", c, int32(c), r.Err)}
	}
	httpStatus := r.Status
	switch {
	case r.TimedOut:
		httpStatus = 504
	case httpStatus == 0:
		httpStatus = 503
	}
	c := codeFor(httpStatus)
	st := &statuspb.Status{
		Code:    int32(c),
		Message: fmt.Sprintf("%s(%d): %s%d", c, int32(c), statusPrefix, httpStatus),
	}
	if r.Failure != NoFailure {
		if d := failureDetail(r); d != nil {
			st.Details = append(st.Details, d)
		}
	}
	return st
}

// codeFor maps an HTTP status to a google.rpc.Code (spec 4.1 and 9.3).
func codeFor(s int) code.Code {
	switch {
	case s >= 200 && s < 300:
		return code.Code_OK
	case s == 400:
		return code.Code_INVALID_ARGUMENT
	case s == 401:
		return code.Code_UNAUTHENTICATED
	case s == 403:
		return code.Code_PERMISSION_DENIED
	case s == 404:
		return code.Code_NOT_FOUND
	case s == 409:
		return code.Code_ABORTED
	case s == 429:
		return code.Code_RESOURCE_EXHAUSTED
	case s == 499:
		return code.Code_CANCELLED
	case s == 501:
		return code.Code_UNIMPLEMENTED
	case s == 503:
		return code.Code_UNAVAILABLE
	case s == 504:
		return code.Code_DEADLINE_EXCEEDED
	case s >= 500:
		return code.Code_INTERNAL
	case s >= 400:
		return code.Code_FAILED_PRECONDITION
	}
	return code.Code_UNKNOWN
}

// previousResponse returns the HTTP status of an earlier attempt and
// whether the target answered it (a deadline is no answer).
func previousResponse(a *cloudtaskspb.Attempt) (int, bool) {
	st := a.GetResponseStatus()
	i := strings.LastIndex(st.GetMessage(), statusPrefix)
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(st.GetMessage()[i+len(statusPrefix):])
	if err != nil {
		return 0, false
	}
	return n, st.GetCode() != int32(code.Code_DEADLINE_EXCEEDED)
}
