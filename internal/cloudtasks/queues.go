package cloudtasks

import (
	"context"
	"errors"
	"strings"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/opentasks/opentasks/internal/apierr"
	"github.com/opentasks/opentasks/internal/pagetoken"
	"github.com/opentasks/opentasks/internal/protofilter"
	"github.com/opentasks/opentasks/internal/protopath"
	"github.com/opentasks/opentasks/internal/store"
)

// ListQueues lists the queues of a location in name order, filtered.
func (s *Service) ListQueues(ctx context.Context, req *cloudtaskspb.ListQueuesRequest) (*cloudtaskspb.ListQueuesResponse, error) {
	parent := req.GetParent()
	if err := checkLocation(parent); err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize(), maxQueuePage)
	if err != nil {
		return nil, err
	}
	match, err := protofilter.Compile((&cloudtaskspb.Queue{}).ProtoReflect().Descriptor(), req.GetFilter())
	if err != nil {
		return nil, err
	}
	now := s.now()
	scope := pagetoken.Scope("ListQueues", parent, req.GetFilter())
	after, err := pagetoken.Decode(req.GetPageToken(), scope, now)
	if err != nil {
		return nil, err
	}
	resp := &cloudtaskspb.ListQueuesResponse{}
	// Scan in batches until the page is full and one more match shows that
	// another page exists, or the location is exhausted; a filter may
	// reject most of what is scanned.
	for cursor := after; ; {
		batch, err := s.st.ListQueues(ctx, parent, cursor, size)
		if err != nil {
			return nil, apierr.Internal("listing queues", err)
		}
		for _, q := range batch {
			if !match(q.ProtoReflect()) {
				continue
			}
			if len(resp.Queues) == size {
				resp.NextPageToken = pagetoken.Encode(scope, resp.Queues[size-1].Name, now)
				return resp, nil
			}
			resp.Queues = append(resp.Queues, q)
		}
		if len(batch) < size {
			return resp, nil
		}
		cursor = batch[len(batch)-1].Name
	}
}

// GetQueue returns one queue.
func (s *Service) GetQueue(ctx context.Context, req *cloudtaskspb.GetQueueRequest) (*cloudtaskspb.Queue, error) {
	name := req.GetName()
	if err := checkQueue(name); err != nil {
		return nil, err
	}
	return s.getQueue(ctx, name)
}

func (s *Service) getQueue(ctx context.Context, name string) (*cloudtaskspb.Queue, error) {
	q, err := s.st.GetQueue(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrTombstoned):
		return nil, errQueueNotFound()
	case err != nil:
		return nil, apierr.Internal("getting queue", err)
	}
	return q, nil
}

// CreateQueue creates a queue with the server defaults of spec 3.5.
func (s *Service) CreateQueue(ctx context.Context, req *cloudtaskspb.CreateQueueRequest) (*cloudtaskspb.Queue, error) {
	parent := req.GetParent()
	if err := checkLocation(parent); err != nil {
		return nil, err
	}
	// Not routed on: a malformed queue name is Cloud Tasks' to judge.
	name := req.GetQueue().GetName()
	if !validQueueName(name) {
		return nil, errQueueNameFormat()
	}
	if !strings.HasPrefix(name, parent+"/queues/") {
		return nil, invalid("%s must begin with %s.", name, parent)
	}
	q := mutableQueue(req.GetQueue())
	q.State = cloudtaskspb.Queue_RUNNING
	if err := normalizeQueue(q); err != nil {
		return nil, err
	}
	switch err := s.st.CreateQueue(ctx, q); {
	case errors.Is(err, store.ErrAlreadyExists):
		return nil, status.Error(codes.AlreadyExists, msgQueueExists)
	case errors.Is(err, store.ErrTombstoned):
		return nil, status.Error(codes.FailedPrecondition, msgQueueTombstoned)
	case err != nil:
		return nil, apierr.Internal("creating queue", err)
	}
	s.changed(name)
	return q, nil
}

// mutableQueue copies the caller-settable fields of q: output-only ones
// (state, purge_time, max_burst_size, routing host) are dropped.
func mutableQueue(q *cloudtaskspb.Queue) *cloudtaskspb.Queue {
	c := proto.Clone(q).(*cloudtaskspb.Queue)
	c.State = cloudtaskspb.Queue_STATE_UNSPECIFIED
	c.PurgeTime = nil
	if c.RateLimits != nil {
		c.RateLimits.MaxBurstSize = 0
	}
	if c.AppEngineRoutingOverride != nil {
		c.AppEngineRoutingOverride.Host = ""
	}
	return c
}

// outputOnlyQueuePath reports whether an update-mask path names an
// output-only field, whose value is ignored.
func outputOnlyQueuePath(path string) bool {
	switch path {
	case "name", "state", "purge_time", "rate_limits.max_burst_size", "app_engine_routing_override.host":
		return true
	}
	return false
}

// queueMask resolves UpdateQueue mask paths, dropping output-only ones.
func queueMask(paths []string) ([][]protoreflect.FieldDescriptor, error) {
	md := (&cloudtaskspb.Queue{}).ProtoReflect().Descriptor()
	var masks [][]protoreflect.FieldDescriptor
	for _, p := range paths {
		fds, ok := protopath.Resolve(md, p)
		if !ok {
			return nil, invalid("Invalid update_mask: unknown field path %q.", p)
		}
		if !outputOnlyQueuePath(protopath.Name(fds)) {
			masks = append(masks, fds)
		}
	}
	return masks, nil
}

// UpdateQueue updates the fields named by the mask (all mutable fields
// when it is empty), creating the queue if it does not exist.
func (s *Service) UpdateQueue(ctx context.Context, req *cloudtaskspb.UpdateQueueRequest) (*cloudtaskspb.Queue, error) {
	if err := routedProject(req.GetQueue().GetName()); err != nil {
		return nil, err
	}
	return s.updateQueue(ctx, req, 0)
}

// updateQueue is UpdateQueue past Google's front end (a declared queue
// never went through it); a burst above zero replaces the max_burst_size
// the rate implies (see DeclareQueue).
func (s *Service) updateQueue(ctx context.Context, req *cloudtaskspb.UpdateQueueRequest, burst int32) (*cloudtaskspb.Queue, error) {
	in := req.GetQueue()
	name := in.GetName()
	if !validQueueName(name) {
		return nil, errQueueNameFormat()
	}
	paths := req.GetUpdateMask().GetPaths()
	masks, err := queueMask(paths)
	if err != nil {
		return nil, err
	}
	src := mutableQueue(in)
	q, err := s.st.UpdateQueue(ctx, name, func(cur *cloudtaskspb.Queue) (*cloudtaskspb.Queue, error) {
		next := &cloudtaskspb.Queue{Name: name, State: cloudtaskspb.Queue_RUNNING}
		if cur != nil {
			next = proto.Clone(cur).(*cloudtaskspb.Queue)
		}
		if len(paths) == 0 {
			// No mask: the request replaces every mutable field.
			state, purged := next.State, next.PurgeTime
			next = proto.Clone(src).(*cloudtaskspb.Queue)
			next.Name, next.State, next.PurgeTime = name, state, purged
		}
		for _, m := range masks {
			protopath.Copy(next, src, m)
		}
		if err := normalizeQueue(next); err != nil {
			return nil, err
		}
		if burst > 0 {
			next.RateLimits.MaxBurstSize = burst
		}
		return next, nil
	})
	switch {
	case errors.Is(err, store.ErrTombstoned):
		return nil, status.Error(codes.FailedPrecondition, msgQueueTombstoned)
	case err != nil:
		return nil, apierr.Internal("updating queue", err)
	}
	s.changed(name)
	return q, nil
}

// DeleteQueue deletes a queue and its tasks, tombstoning the name.
func (s *Service) DeleteQueue(ctx context.Context, req *cloudtaskspb.DeleteQueueRequest) (*emptypb.Empty, error) {
	name := req.GetName()
	if err := checkQueue(name); err != nil {
		return nil, err
	}
	switch err := s.st.DeleteQueue(ctx, name, s.now().Add(s.queueTomb)); {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrTombstoned):
		return nil, errNotFound()
	case err != nil:
		return nil, apierr.Internal("deleting queue", err)
	}
	s.changed(name)
	return &emptypb.Empty{}, nil
}

// PurgeQueue deletes every task created before now.
func (s *Service) PurgeQueue(ctx context.Context, req *cloudtaskspb.PurgeQueueRequest) (*cloudtaskspb.Queue, error) {
	name := req.GetName()
	if err := checkQueue(name); err != nil {
		return nil, err
	}
	now := s.clock()
	q, err := s.st.PurgeQueue(ctx, name, now, now.Add(s.taskTomb))
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrTombstoned):
		return nil, errQueueNotFound()
	case err != nil:
		return nil, apierr.Internal("purging queue", err)
	}
	s.changed(name)
	return q, nil
}

// PauseQueue stops dispatch from a queue.
func (s *Service) PauseQueue(ctx context.Context, req *cloudtaskspb.PauseQueueRequest) (*cloudtaskspb.Queue, error) {
	return s.setState(ctx, req.GetName(), cloudtaskspb.Queue_PAUSED)
}

// ResumeQueue restarts dispatch from a PAUSED or DISABLED queue.
func (s *Service) ResumeQueue(ctx context.Context, req *cloudtaskspb.ResumeQueueRequest) (*cloudtaskspb.Queue, error) {
	return s.setState(ctx, req.GetName(), cloudtaskspb.Queue_RUNNING)
}

func (s *Service) setState(ctx context.Context, name string, state cloudtaskspb.Queue_State) (*cloudtaskspb.Queue, error) {
	if err := checkQueue(name); err != nil {
		return nil, err
	}
	q, err := s.st.UpdateQueue(ctx, name, func(cur *cloudtaskspb.Queue) (*cloudtaskspb.Queue, error) {
		if cur == nil {
			return nil, errQueueNotFound()
		}
		next := proto.Clone(cur).(*cloudtaskspb.Queue)
		next.State = state
		return next, nil
	})
	switch {
	case errors.Is(err, store.ErrTombstoned), errors.Is(err, store.ErrNotFound):
		return nil, errQueueNotFound()
	case err != nil:
		return nil, apierr.Internal("changing queue state", err)
	}
	s.changed(name)
	return q, nil
}
