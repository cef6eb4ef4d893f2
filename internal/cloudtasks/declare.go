package cloudtasks

import (
	"context"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// DeclareQueue creates or updates a queue declared in a start-up file
// (internal/queuefile): UpdateQueue with the mask paths, plus the one thing
// the API cannot set. App Engine's queue.yaml sets bucket_size, and "for
// queues that were created or updated using queue.yaml/xml,
// max_burst_size is equal to bucket_size" (RateLimits.max_burst_size in
// the v2 proto); burst 0 keeps the value derived from the rate. A later
// UpdateQueue through the API derives it from the rate again, as the
// proto says Cloud Tasks does.
func (s *Service) DeclareQueue(ctx context.Context, q *cloudtaskspb.Queue, paths []string, burst int32) (*cloudtaskspb.Queue, error) {
	req := &cloudtaskspb.UpdateQueueRequest{Queue: q}
	if len(paths) > 0 {
		req.UpdateMask = &fieldmaskpb.FieldMask{Paths: paths}
	}
	return s.updateQueue(ctx, req, burst)
}
