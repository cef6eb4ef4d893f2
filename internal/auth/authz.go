package auth

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// QueuePolicies reads queue-level policies (internal/cloudtasks.Service).
type QueuePolicies interface {
	// QueuePolicy returns the queue's policy; an empty one if none is set
	// or the queue does not exist.
	QueuePolicy(ctx context.Context, queue string) (*iampb.Policy, error)
}

// Authorizer decides whether a caller holds a permission on a resource:
// the union of the project policy and, for a queue or its tasks, the
// queue's own policy (IAM_SPEC §3). There is no deny.
type Authorizer struct {
	project func() *iampb.Policy
	queues  QueuePolicies
}

// NewAuthorizer returns an Authorizer; project returns the current
// project-level policy (it applies to every project).
func NewAuthorizer(project func() *iampb.Policy, queues QueuePolicies) *Authorizer {
	return &Authorizer{project: project, queues: queues}
}

// Check returns nil if ctx's principal holds perm on resource, else
// UNAUTHENTICATED (no principal) or Cloud Tasks' PERMISSION_DENIED.
func (a *Authorizer) Check(ctx context.Context, perm, resource string) error {
	held, err := a.Held(ctx, resource, perm)
	if err != nil {
		return err
	}
	if len(held) == 0 {
		return Denied(perm, resource)
	}
	return nil
}

// Held returns which of perms ctx's principal holds on resource.
func (a *Authorizer) Held(ctx context.Context, resource string, perms ...string) ([]string, error) {
	who, ok := PrincipalFrom(ctx)
	if !ok {
		return nil, Unauthenticated(false)
	}
	var queue *iampb.Policy
	if q, ok := queueOf(resource); ok {
		p, err := a.queues.QueuePolicy(ctx, q)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "reading the IAM policy of %s: %v", q, err)
		}
		queue = p
	}
	project := a.project()
	var held []string
	for _, perm := range perms {
		if grants(project, who, perm) || grants(queue, who, perm) {
			held = append(held, perm)
		}
	}
	return held, nil
}

// queueOf returns the queue a queue or task name belongs to.
func queueOf(resource string) (string, bool) {
	i := strings.Index(resource, "/queues/")
	if !strings.HasPrefix(resource, "projects/") || i < 0 {
		return "", false
	}
	rest := resource[i+len("/queues/"):]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	if rest == "" {
		return "", false
	}
	return resource[:i+len("/queues/")] + rest, true
}

// Denied is Cloud Tasks' PERMISSION_DENIED for perm on resource, with
// the ErrorInfo IAM_SPEC §4 describes.
func Denied(perm, resource string) error {
	msg := fmt.Sprintf("The principal (user or service account) lacks IAM permission %q for the resource %q (or the resource may not exist).", perm, resource)
	st, err := status.New(codes.PermissionDenied, msg).WithDetails(&errdetails.ErrorInfo{
		Reason:   "IAM_PERMISSION_DENIED",
		Domain:   "cloudtasks.googleapis.com",
		Metadata: map[string]string{"permission": perm, "resource": resource},
	})
	if err != nil {
		return status.Error(codes.PermissionDenied, msg)
	}
	return st.Err()
}
