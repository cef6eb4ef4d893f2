package auth

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

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

// policyTTL is how long a queue policy read from the store is used for
// authorizing calls. Policies set through this server's Guard apply at
// once; those set through another server sharing the store within
// policyTTL (Cloud IAM itself takes minutes to propagate a change).
// Without it, every call on a queue or task would read the store twice.
const policyTTL = time.Second

// maxCachedPolicies bounds the cache; beyond it, expired entries go.
const maxCachedPolicies = 10000

// Authorizer decides whether a caller holds a permission on a resource:
// the union of the project policy and, for a queue or its tasks, the
// queue's own policy (IAM_SPEC §3). There is no deny.
type Authorizer struct {
	project func() *iampb.Policy
	queues  QueuePolicies
	now     func() time.Time
	logger  *slog.Logger
	cache   *policyCache
}

// policyCache holds queue policies by queue name.
type policyCache struct {
	mu     sync.Mutex
	cached map[string]cachedPolicy
}

type cachedPolicy struct {
	policy *iampb.Policy
	read   time.Time
}

// NewAuthorizer returns an Authorizer; project returns the current
// project-level policy (it applies to every project).
func NewAuthorizer(project func() *iampb.Policy, queues QueuePolicies) *Authorizer {
	return &Authorizer{project: project, queues: queues, now: time.Now, logger: slog.New(slog.DiscardHandler),
		cache: &policyCache{cached: map[string]cachedPolicy{}}}
}

// WithLogger returns an Authorizer like a, sharing its cache, that logs
// every denial at info level: who lacked which permission on what.
func (a *Authorizer) WithLogger(l *slog.Logger) *Authorizer {
	c := *a
	c.logger = l
	return &c
}

// Forget drops what is cached of queue's policy: it changed.
func (a *Authorizer) Forget(queue string) {
	a.cache.mu.Lock()
	defer a.cache.mu.Unlock()
	delete(a.cache.cached, queue)
}

// queuePolicy returns queue's policy, read at most policyTTL ago.
func (a *Authorizer) queuePolicy(ctx context.Context, queue string) (*iampb.Policy, error) {
	now := a.now()
	pc := a.cache
	pc.mu.Lock()
	c, ok := pc.cached[queue]
	pc.mu.Unlock()
	if ok && now.Sub(c.read) < policyTTL {
		return c.policy, nil
	}
	p, err := a.queues.QueuePolicy(ctx, queue)
	if err != nil {
		return nil, err
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if len(pc.cached) >= maxCachedPolicies {
		for q, c := range pc.cached {
			if now.Sub(c.read) >= policyTTL {
				delete(pc.cached, q)
			}
		}
	}
	if len(pc.cached) < maxCachedPolicies {
		pc.cached[queue] = cachedPolicy{policy: p, read: now}
	}
	return p, nil
}

// Check returns nil if ctx's principal holds perm on resource, else
// UNAUTHENTICATED (no principal) or Cloud Tasks' PERMISSION_DENIED.
func (a *Authorizer) Check(ctx context.Context, perm, resource string) error {
	held, err := a.Held(ctx, resource, perm)
	if err != nil {
		return err
	}
	if len(held) == 0 {
		who, _ := PrincipalFrom(ctx)
		a.logger.InfoContext(ctx, "permission denied", "principal", who.Member, "permission", perm, "resource", resource)
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
		p, err := a.queuePolicy(ctx, q)
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

// queueOf returns the queue a queue name ("projects/P/locations/L/queues/Q")
// or task name (".../tasks/T") belongs to. Anything else has no queue
// policy: only the project's applies, which never grants more.
func queueOf(resource string) (string, bool) {
	parts := strings.Split(resource, "/")
	if len(parts) != 6 && len(parts) != 8 {
		return "", false
	}
	for i, kw := range []string{"projects", "locations", "queues", "tasks"}[:len(parts)/2] {
		if parts[2*i] != kw || parts[2*i+1] == "" {
			return "", false
		}
	}
	return strings.Join(parts[:6], "/"), true
}

// Denied is Cloud Tasks' PERMISSION_DENIED for perm on resource, with
// the ErrorInfo IAM_SPEC §4 describes.
func Denied(perm, resource string) error {
	msg := fmt.Sprintf("The principal (user or service account) lacks IAM permission %q for the resource %q (or the resource may not exist).", perm, resource)
	st, err := status.New(codes.PermissionDenied, msg).WithDetails(&errdetails.ErrorInfo{
		Reason:   "IAM_PERMISSION_DENIED",
		Domain:   domainOf(perm),
		Metadata: map[string]string{"permission": perm, "resource": resource},
	})
	if err != nil {
		return status.Error(codes.PermissionDenied, msg)
	}
	return st.Err()
}

// domainOf is the service whose permission perm is, for ErrorInfo.
func domainOf(perm string) string {
	if strings.HasPrefix(perm, "workflows.") {
		return "workflows.googleapis.com"
	}
	return "cloudtasks.googleapis.com"
}
