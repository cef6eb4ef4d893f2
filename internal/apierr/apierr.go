// Package apierr turns unexpected errors into the gRPC statuses the API
// services (Cloud Tasks, Workflows, Executions) answer with.
package apierr

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Internal turns an unexpected error (usually from the store) into a
// status, keeping the caller's cancellation visible as such; doing says
// what was being done. An error that already is a status is returned as is.
func Internal(doing string, err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Errorf(codes.Canceled, "%s: %v", doing, err)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Errorf(codes.DeadlineExceeded, "%s: %v", doing, err)
	}
	return status.Errorf(codes.Internal, "%s: %v", doing, err)
}
