package queuefile

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Service is what Apply needs from the Cloud Tasks service
// (internal/cloudtasks.Service).
type Service interface {
	// DeclareQueue creates or updates a queue: UpdateQueue with the mask
	// paths, and burst as its max_burst_size when above zero.
	DeclareQueue(ctx context.Context, q *cloudtaskspb.Queue, paths []string, burst int32) (*cloudtaskspb.Queue, error)
	CreateQueue(ctx context.Context, req *cloudtaskspb.CreateQueueRequest) (*cloudtaskspb.Queue, error)
	PauseQueue(ctx context.Context, req *cloudtaskspb.PauseQueueRequest) (*cloudtaskspb.Queue, error)
	ResumeQueue(ctx context.Context, req *cloudtaskspb.ResumeQueueRequest) (*cloudtaskspb.Queue, error)
}

// Apply creates or updates each declared queue, in order, and returns the
// queues as they stand. It stops at the first refusal, naming the
// declaration's FILE:LINE.
func Apply(ctx context.Context, svc Service, decls []Decl) ([]*cloudtaskspb.Queue, error) {
	out := make([]*cloudtaskspb.Queue, 0, len(decls))
	for _, d := range decls {
		q, err := svc.DeclareQueue(ctx, d.Queue, d.Paths, d.Burst)
		if err != nil {
			return out, fmt.Errorf("%s: queue %s: %s", d.Source, d.Queue.Name, status.Convert(err).Message())
		}
		switch {
		case d.State == cloudtaskspb.Queue_PAUSED && q.State != cloudtaskspb.Queue_PAUSED:
			q, err = svc.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: q.Name})
		case d.State == cloudtaskspb.Queue_RUNNING && q.State != cloudtaskspb.Queue_RUNNING:
			q, err = svc.ResumeQueue(ctx, &cloudtaskspb.ResumeQueueRequest{Name: q.Name})
		}
		if err != nil {
			return out, fmt.Errorf("%s: queue %s: setting its state: %s", d.Source, d.Queue.Name, status.Convert(err).Message())
		}
		out = append(out, q)
	}
	return out, nil
}

// Ensure creates each named queue (a full name) with the server's defaults
// when it does not exist, and leaves an existing one as it is: the
// emulators' --queue flag.
func Ensure(ctx context.Context, svc Service, names []string) error {
	for _, name := range names {
		i := strings.LastIndex(name, "/queues/")
		if i < 0 {
			return fmt.Errorf("--queue %q: want a full queue name, projects/P/locations/L/queues/Q", name)
		}
		_, err := svc.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{
			Parent: name[:i],
			Queue:  &cloudtaskspb.Queue{Name: name},
		})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("--queue %s: %s", name, status.Convert(err).Message())
		}
	}
	return nil
}
