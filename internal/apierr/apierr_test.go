package apierr

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestInternal(t *testing.T) {
	cases := []struct {
		err      error
		code     codes.Code
		wantText string
	}{
		{errors.New("disk full"), codes.Internal, "writing: disk full"},
		{fmt.Errorf("reading: %w", context.Canceled), codes.Canceled, "writing: reading: context canceled"},
		{context.DeadlineExceeded, codes.DeadlineExceeded, "writing: context deadline exceeded"},
		{status.Error(codes.NotFound, "gone"), codes.NotFound, "gone"},
	}
	for _, c := range cases {
		st := status.Convert(Internal("writing", c.err))
		if st.Code() != c.code || st.Message() != c.wantText {
			t.Errorf("Internal(%v) = %v %q, want %v %q", c.err, st.Code(), st.Message(), c.code, c.wantText)
		}
	}
}
