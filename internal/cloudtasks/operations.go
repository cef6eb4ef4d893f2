package cloudtasks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/apierr"
	"github.com/opentasks/opentasks/internal/store"
)

// Batch limits of spec section 7.
const (
	maxBatchCreate = 100
	maxBatchDelete = 1000
)

var requestIDRe = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// Batch methods run synchronously: the Operation they return is already
// done and is stored (store.KindOperation) so GetOperation finds it. A
// request_id names the operation, so a retried batch returns the stored
// operation instead of running again.

// operationName returns the name of the batch operation for a request:
// derived from request_id when there is one, random otherwise.
func (s *Service) operationName(method, parent, requestID string) (string, error) {
	_, location := queueParts(parent)
	if requestID == "" {
		return location + "/operations/" + s.newTaskID(), nil
	}
	if !requestIDRe.MatchString(requestID) {
		return "", invalid("request_id must be a UUID.")
	}
	sum := sha256.Sum256([]byte(method + "\x00" + parent + "\x00" + requestID))
	return location + "/operations/" + hex.EncodeToString(sum[:10]), nil
}

// priorOperation returns the stored operation of that name, or nil.
func (s *Service) priorOperation(ctx context.Context, name string) (*longrunningpb.Operation, error) {
	b, err := s.st.GetRecord(ctx, store.KindOperation, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, apierr.Internal("reading operation", err)
	}
	op := &longrunningpb.Operation{}
	if err := proto.Unmarshal(b, op); err != nil {
		return nil, apierr.Internal("decoding operation", err)
	}
	return op, nil
}

// finishOperation stores a done operation with its metadata and either its
// response or, when nothing succeeded, an ABORTED error.
func (s *Service) finishOperation(ctx context.Context, name string, metadata, response proto.Message, failed bool, metaName string) (*longrunningpb.Operation, error) {
	md, err := anypb.New(metadata)
	if err != nil {
		return nil, apierr.Internal("packing operation metadata", err)
	}
	op := &longrunningpb.Operation{Name: name, Metadata: md, Done: true}
	if failed {
		op.Result = &longrunningpb.Operation_Error{Error: &status.Status{
			Code:    int32(codes.Aborted),
			Message: fmt.Sprintf(msgBatchNoneOK, metaName),
		}}
	} else {
		resp, err := anypb.New(response)
		if err != nil {
			return nil, apierr.Internal("packing operation response", err)
		}
		op.Result = &longrunningpb.Operation_Response{Response: resp}
	}
	b, err := proto.Marshal(op)
	if err != nil {
		return nil, apierr.Internal("encoding operation", err)
	}
	if err := s.st.UpdateRecord(ctx, store.KindOperation, name, func([]byte) ([]byte, error) { return b, nil }); err != nil {
		return nil, apierr.Internal("storing operation", err)
	}
	return op, nil
}

// statusProto is err as a google.rpc.Status for failed_requests.
func statusProto(err error) *status.Status {
	return grpcstatus.Convert(err).Proto()
}

// BatchCreateTasks creates up to 100 tasks in one queue; each may fail on
// its own.
func (s *Service) BatchCreateTasks(ctx context.Context, req *cloudtaskspb.BatchCreateTasksRequest) (*longrunningpb.Operation, error) {
	parent := req.GetParent()
	if err := checkQueue(parent); err != nil {
		return nil, err
	}
	reqs := req.GetRequests()
	switch {
	case len(reqs) == 0:
		return nil, invalid("BatchCreateTasksRequest.requests is required.")
	case len(reqs) > maxBatchCreate:
		return nil, invalid("BatchCreateTasksRequest.requests can contain at most %d requests.", maxBatchCreate)
	}
	views := make([]cloudtaskspb.Task_View, len(reqs))
	for i, r := range reqs {
		if p := r.GetParent(); p != "" && p != parent {
			return nil, invalid("requests[%d].parent ('%s') must be the same as the parent of the batch ('%s').", i, p, parent)
		}
		v, err := viewOf(r.GetResponseView())
		if err != nil {
			return nil, err
		}
		views[i] = v
	}
	name, err := s.operationName("BatchCreateTasks", parent, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	if op, err := s.priorOperation(ctx, name); op != nil || err != nil {
		return op, err
	}
	if _, err := s.getQueue(ctx, parent); err != nil {
		return nil, err
	}

	meta := &cloudtaskspb.BatchCreateTasksMetadata{
		StartTime:      timestamppb.New(s.clock()),
		FailedRequests: map[int32]*status.Status{},
	}
	// Created concurrently, so that the store commits them together.
	tasks := make([]*store.Task, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() { tasks[i], errs[i] = s.createTask(ctx, parent, r.GetTask()) })
	}
	wg.Wait()
	resp := &cloudtaskspb.BatchCreateTasksResponse{}
	var earliest time.Time
	for i, t := range tasks {
		if errs[i] != nil {
			meta.FailedRequests[int32(i)] = statusProto(errs[i])
			continue
		}
		resp.Tasks = append(resp.Tasks, inView(t.Task, views[i]))
		if due := t.Task.GetScheduleTime().AsTime(); earliest.IsZero() || due.Before(earliest) {
			earliest = due
		}
	}
	if len(resp.Tasks) > 0 {
		s.scheduled(parent, earliest)
	}
	meta.EndTime = timestamppb.New(s.clock())
	meta.State = batchCreateState(len(resp.Tasks), len(reqs))
	return s.finishOperation(ctx, name, meta, resp, len(resp.Tasks) == 0, "BatchCreateTasksMetadata")
}

func batchCreateState(ok, total int) cloudtaskspb.BatchCreateTasksMetadata_State {
	switch ok {
	case total:
		return cloudtaskspb.BatchCreateTasksMetadata_SUCCEEDED
	case 0:
		return cloudtaskspb.BatchCreateTasksMetadata_FAILED
	}
	return cloudtaskspb.BatchCreateTasksMetadata_PARTIALLY_SUCCEEDED
}

// BatchDeleteTasks deletes up to 1000 tasks of one queue, non-atomically.
func (s *Service) BatchDeleteTasks(ctx context.Context, req *cloudtaskspb.BatchDeleteTasksRequest) (*longrunningpb.Operation, error) {
	parent := req.GetParent()
	if err := checkQueue(parent); err != nil {
		return nil, err
	}
	names := req.GetNames()
	switch {
	case len(names) == 0:
		return nil, invalid("BatchDeleteTasksRequest.names is required.")
	case len(names) > maxBatchDelete:
		return nil, invalid("BatchDeleteTasksRequest.names can contain at most %d names.", maxBatchDelete)
	}
	name, err := s.operationName("BatchDeleteTasks", parent, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	if op, err := s.priorOperation(ctx, name); op != nil || err != nil {
		return op, err
	}
	meta := &cloudtaskspb.BatchDeleteTasksMetadata{
		StartTime:      timestamppb.New(s.clock()),
		FailedRequests: map[int32]*status.Status{},
	}
	deleted := 0
	for i, n := range names {
		queue, id, err := parseTaskName(n)
		if err == nil && queue != parent {
			err = invalid("The queue name from request ('%s') must be the same as the queue name in the named task ('%s').", parent, queue)
		}
		if err == nil {
			err = s.deleteTask(ctx, queue, id)
		}
		if err != nil {
			meta.FailedRequests[int32(i)] = statusProto(err)
			continue
		}
		deleted++
	}
	if deleted > 0 {
		s.changed(parent)
	}
	meta.EndTime = timestamppb.New(s.clock())
	switch deleted {
	case len(names):
		meta.State = cloudtaskspb.BatchDeleteTasksMetadata_SUCCEEDED
	case 0:
		meta.State = cloudtaskspb.BatchDeleteTasksMetadata_FAILED
	default:
		meta.State = cloudtaskspb.BatchDeleteTasksMetadata_PARTIALLY_SUCCEEDED
	}
	return s.finishOperation(ctx, name, meta, &emptypb.Empty{}, deleted == 0, "BatchDeleteTasksMetadata")
}

var _ longrunningpb.OperationsServer = (*Service)(nil)

// GetOperation returns a stored batch operation.
func (s *Service) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	name := req.GetName()
	if err := checkOperation(name); err != nil {
		return nil, err
	}
	op, err := s.priorOperation(ctx, name)
	if err != nil {
		return nil, err
	}
	if op == nil {
		return nil, errNotFound()
	}
	return op, nil
}

// WaitOperation returns at once: every operation is done when created.
func (s *Service) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	if d := req.GetTimeout(); d != nil && (d.CheckValid() != nil || d.AsDuration() < 0) {
		return nil, invalid("timeout must be a valid non-negative duration.")
	}
	return s.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: req.GetName()})
}

// CancelOperation succeeds on an existing operation and changes nothing:
// operations are done before anyone can cancel them.
func (s *Service) CancelOperation(ctx context.Context, req *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	if _, err := s.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: req.GetName()}); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// DeleteOperation forgets a stored operation.
func (s *Service) DeleteOperation(ctx context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	name := req.GetName()
	if err := checkOperation(name); err != nil {
		return nil, err
	}
	err := s.st.UpdateRecord(ctx, store.KindOperation, name, func(cur []byte) ([]byte, error) {
		if cur == nil {
			return nil, errNotFound()
		}
		return nil, nil
	})
	if err != nil {
		return nil, apierr.Internal("deleting operation", err)
	}
	return &emptypb.Empty{}, nil
}

// ListOperations is not offered: the store cannot list records, and the
// client libraries never call it.
func (s *Service) ListOperations(context.Context, *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	return nil, grpcstatus.Error(codes.Unimplemented, "ListOperations is not supported.")
}
