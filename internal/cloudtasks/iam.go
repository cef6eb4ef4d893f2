package cloudtasks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/opentasks/opentasks/internal/apierr"
	"github.com/opentasks/opentasks/internal/store"
)

// IAM policies are stored per queue (store.KindQueuePolicy); internal/auth
// enforces them, reading them through QueuePolicy. Every write derives a new etag from the previous one and
// the new content, so an etag read before any later write is always stale.

// emptyPolicyEtag is what Google APIs return for a resource with no
// policy: "ACAB" in JSON.
func emptyPolicyEtag() []byte { return []byte{0x00, 0x20, 0x01} }

func (s *Service) loadPolicy(ctx context.Context, queue string) (*iampb.Policy, error) {
	b, err := s.st.GetRecord(ctx, store.KindQueuePolicy, queue)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &iampb.Policy{Etag: emptyPolicyEtag()}, nil
	case err != nil:
		return nil, apierr.Internal("reading IAM policy", err)
	}
	p := &iampb.Policy{}
	if err := proto.Unmarshal(b, p); err != nil {
		return nil, apierr.Internal("decoding IAM policy", err)
	}
	return p, nil
}

// QueuePolicy returns the queue's IAM policy, empty if none is set or the
// queue does not exist (internal/auth.QueuePolicies).
func (s *Service) QueuePolicy(ctx context.Context, queue string) (*iampb.Policy, error) {
	return s.loadPolicy(ctx, queue)
}

func validPolicyVersion(v int32) bool { return v == 0 || v == 1 || v == 3 }

// GetIamPolicy returns the queue's policy, empty if none was set.
func (s *Service) GetIamPolicy(ctx context.Context, req *iampb.GetIamPolicyRequest) (*iampb.Policy, error) {
	queue := req.GetResource()
	if err := checkQueue(queue); err != nil {
		return nil, err
	}
	if !validPolicyVersion(req.GetOptions().GetRequestedPolicyVersion()) {
		return nil, invalid("Invalid requested_policy_version: must be 0, 1 or 3.")
	}
	if _, err := s.getQueue(ctx, queue); err != nil {
		return nil, err
	}
	return s.loadPolicy(ctx, queue)
}

// SetIamPolicy replaces the queue's policy; a stale etag is ABORTED.
func (s *Service) SetIamPolicy(ctx context.Context, req *iampb.SetIamPolicyRequest) (*iampb.Policy, error) {
	queue := req.GetResource()
	if err := checkQueue(queue); err != nil {
		return nil, err
	}
	in := req.GetPolicy()
	if in == nil {
		return nil, invalid("Policy is required.")
	}
	if err := validatePolicy(in); err != nil {
		return nil, err
	}
	fields := map[string]bool{"bindings": true, "version": true}
	if paths := req.GetUpdateMask().GetPaths(); len(paths) > 0 {
		fields = map[string]bool{}
		for _, p := range paths {
			switch p {
			case "bindings", "version", "etag":
				fields[p] = true
			case "audit_configs", "auditConfigs":
				fields["audit_configs"] = true
			default:
				return nil, invalid("Invalid update_mask: unknown field path %q.", p)
			}
		}
	}
	if _, err := s.getQueue(ctx, queue); err != nil {
		return nil, err
	}
	var out *iampb.Policy
	err := s.st.UpdateRecord(ctx, store.KindQueuePolicy, queue, func(cur []byte) ([]byte, error) {
		p := &iampb.Policy{Etag: emptyPolicyEtag()}
		if cur != nil {
			if err := proto.Unmarshal(cur, p); err != nil {
				return nil, apierr.Internal("decoding IAM policy", err)
			}
		}
		if len(in.Etag) > 0 && !bytes.Equal(in.Etag, p.Etag) {
			return nil, status.Error(codes.Aborted, "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.")
		}
		if fields["bindings"] {
			p.Bindings = in.Bindings
		}
		if fields["version"] {
			p.Version = in.Version
		}
		if fields["audit_configs"] {
			p.AuditConfigs = in.AuditConfigs
		}
		prev := p.Etag
		p.Etag = nil
		b, err := proto.Marshal(p)
		if err != nil {
			return nil, apierr.Internal("encoding IAM policy", err)
		}
		sum := sha256.Sum256(append(append([]byte{}, prev...), b...))
		p.Etag = sum[:8]
		out = p
		return proto.Marshal(p)
	})
	if err != nil {
		return nil, apierr.Internal("storing IAM policy", err)
	}
	return out, nil
}

func validatePolicy(p *iampb.Policy) error {
	if !validPolicyVersion(p.Version) {
		return invalid("Invalid policy version: must be 0, 1 or 3.")
	}
	for _, b := range p.Bindings {
		if !strings.HasPrefix(b.GetRole(), "roles/") {
			return invalid("Role %q is not a valid role name.", b.GetRole())
		}
		if b.GetCondition() != nil && p.Version != 3 {
			return invalid("Conditional role bindings require policy version 3.")
		}
	}
	return nil
}

// TestIamPermissions grants every requested permission on an existing
// queue and none on a missing one: without authentication everything is
// allowed; internal/auth.Guard narrows the answer to the caller's.
func (s *Service) TestIamPermissions(ctx context.Context, req *iampb.TestIamPermissionsRequest) (*iampb.TestIamPermissionsResponse, error) {
	queue := req.GetResource()
	if err := checkQueue(queue); err != nil {
		return nil, err
	}
	for _, p := range req.GetPermissions() {
		if p == "" || strings.Contains(p, "*") {
			return nil, invalid("Permissions with wildcards (such as * or storage.*) are not allowed.")
		}
	}
	_, err := s.st.GetQueue(ctx, queue)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrTombstoned):
		return &iampb.TestIamPermissionsResponse{}, nil
	case err != nil:
		return nil, apierr.Internal("getting queue", err)
	}
	return &iampb.TestIamPermissionsResponse{Permissions: req.GetPermissions()}, nil
}
