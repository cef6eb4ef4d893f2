package workflowsapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/workflows/apiv1/workflowspb"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/apierr"
	"github.com/opentasks/opentasks/internal/store"
)

// Workflow writes finish before their RPC returns, so the Operation they
// return is already done; it is stored where the port's one Operations
// service (internal/cloudtasks) reads and deletes operations, so
// GetOperation and DeleteOperation work on it. Clients only poll done.

// operation stores and returns the done operation of a write to target in
// location loc: its response, or failed when it failed.
func (s *Service) operation(ctx context.Context, loc, target, verb string, response proto.Message, failed *spb.Status) (*longrunningpb.Operation, error) {
	now := timestamppb.New(s.now())
	md, err := anypb.New(&workflowspb.OperationMetadata{
		CreateTime: now, EndTime: now, Target: target, Verb: verb, ApiVersion: "v1",
	})
	if err != nil {
		return nil, apierr.Internal("packing operation metadata", err)
	}
	b := make([]byte, 12)
	rand.Read(b)
	op := &longrunningpb.Operation{
		Name:     fmt.Sprintf("%s/operations/operation-%d-%s", loc, now.AsTime().UnixMilli(), hex.EncodeToString(b)),
		Metadata: md,
		Done:     true,
	}
	if failed != nil {
		op.Result = &longrunningpb.Operation_Error{Error: failed}
	} else {
		resp, err := anypb.New(response)
		if err != nil {
			return nil, apierr.Internal("packing operation response", err)
		}
		op.Result = &longrunningpb.Operation_Response{Response: resp}
	}
	data, err := proto.Marshal(op)
	if err != nil {
		return nil, apierr.Internal("encoding operation", err)
	}
	if err := s.rec.UpdateRecord(ctx, store.KindOperation, op.Name, func([]byte) ([]byte, error) { return data, nil }); err != nil {
		return nil, apierr.Internal("storing operation", err)
	}
	return op, nil
}
