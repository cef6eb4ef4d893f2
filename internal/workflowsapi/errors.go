package workflowsapi

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func notFound(kind, name string) error {
	return status.Errorf(codes.NotFound, "%s not found: %s", kind, name)
}

// internal turns an unexpected error (usually from the store) into a
// status, keeping the caller's cancellation visible as such.
func internal(doing string, err error) error {
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
