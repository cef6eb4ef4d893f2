package workflowsapi

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func notFound(kind, name string) error {
	return status.Errorf(codes.NotFound, "%s not found: %s", kind, name)
}
