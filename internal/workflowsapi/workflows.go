package workflowsapi

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/apierr"
	"github.com/opentasks/opentasks/internal/pagetoken"
	"github.com/opentasks/opentasks/internal/protofilter"
	"github.com/opentasks/opentasks/internal/protopath"
	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/workflows"
)

// Limits of the Workflow resource (spec section 2).
const (
	maxSourceBytes      = 128 * 1024
	maxDescriptionRunes = 1000
	maxLabels           = 64
	maxEnvVars          = 20
	maxEnvVarBytes      = 4 * 1024
	defaultWorkflowPage = 500
	maxWorkflowPage     = 1000
	defaultRevisionPage = 20
	maxRevisionPage     = 100
)

var (
	labelKeyRe   = regexp.MustCompile(`^\p{Ll}[\p{Ll}\p{Lo}\p{N}_-]{0,62}$`)
	labelValueRe = regexp.MustCompile(`^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$`)
)

// mutablePaths are the Workflow fields a caller sets; an update without a
// mask replaces all of them.
func mutablePaths() []string {
	return []string{
		"description", "labels", "service_account", "source_contents", "crypto_key_name",
		"call_log_level", "user_env_vars", "execution_history_level", "tags",
	}
}

// revisionPaths are the fields whose change makes a new revision: the
// proto's source and service account, and the environment variables that
// an execution reads for its whole life.
func revisionPaths() []string {
	return []string{"service_account", "source_contents", "user_env_vars"}
}

var errWorkflowExists = errors.New("workflow exists")

// newRevisionID returns the ID of revision n: "000001-a4d".
func newRevisionID(n int) string {
	b := make([]byte, 2)
	rand.Read(b)
	return fmt.Sprintf("%06d-%03x", n, (int(b[0])<<8|int(b[1]))&0xfff)
}

// revisionOrdinal is n of a revision ID made by newRevisionID.
func revisionOrdinal(id string) int {
	n, _ := strconv.Atoi(strings.SplitN(id, "-", 2)[0])
	return n
}

// validateWorkflow checks a workflow's settings and compiles its source,
// so that a bad definition is refused at deploy with the step and line.
func validateWorkflow(w *workflowspb.Workflow, opts ...workflows.LoadOption) error {
	src := w.GetSourceContents()
	switch {
	case src == "":
		return invalid("Workflow source_contents is required.")
	case len(src) > maxSourceBytes:
		return invalid("Workflow source_contents is %d bytes; the limit is %d bytes.", len(src), maxSourceBytes)
	case utf8.RuneCountInString(w.GetDescription()) > maxDescriptionRunes:
		return invalid("Workflow description must be at most %d characters.", maxDescriptionRunes)
	case len(w.GetLabels()) > maxLabels:
		return invalid("A workflow can have at most %d labels.", maxLabels)
	case len(w.GetUserEnvVars()) > maxEnvVars:
		return invalid("A workflow can have at most %d user-defined environment variables.", maxEnvVars)
	}
	if err := checkLabels(w.GetLabels()); err != nil {
		return err
	}
	for k, v := range w.GetUserEnvVars() {
		switch {
		case k == "":
			return invalid("User-defined environment variable names must not be empty.")
		case strings.HasPrefix(k, "GOOGLE") || strings.HasPrefix(k, "WORKFLOWS"):
			return invalid("User-defined environment variable %q: names starting with GOOGLE or WORKFLOWS are reserved.", k)
		case len(k) > maxEnvVarBytes || len(v) > maxEnvVarBytes:
			return invalid("User-defined environment variable %q: names and values are at most %d bytes.", k, maxEnvVarBytes)
		}
	}
	if _, ok := workflowspb.Workflow_CallLogLevel_name[int32(w.GetCallLogLevel())]; !ok {
		return invalid("Invalid call_log_level %d.", w.GetCallLogLevel())
	}
	if _, ok := workflowspb.ExecutionHistoryLevel_name[int32(w.GetExecutionHistoryLevel())]; !ok {
		return invalid("Invalid execution_history_level %d.", w.GetExecutionHistoryLevel())
	}
	if _, err := workflows.Load([]byte(src), opts...); err != nil {
		// Cloud Workflows: "failed to build: error in step step2: ..."
		return invalid("failed to build: %v", err)
	}
	return nil
}

// checkLabels applies Google's label syntax to workflows' and executions'
// labels.
func checkLabels(labels map[string]string) error {
	for k, v := range labels {
		if !labelKeyRe.MatchString(k) || !labelValueRe.MatchString(v) {
			return invalid("Label %q: %q is not valid: keys and values have at most 63 lowercase letters, digits, underscores and hyphens, and keys start with a letter.", k, v)
		}
	}
	return nil
}

// clearOutputOnly drops the fields the server sets.
func clearOutputOnly(w *workflowspb.Workflow) {
	w.Name, w.State, w.RevisionId = "", 0, ""
	w.CreateTime, w.UpdateTime, w.RevisionCreateTime = nil, nil, nil
	w.StateError, w.AllKmsKeys, w.AllKmsKeysVersions, w.CryptoKeyVersion = nil, nil, nil, ""
}

func (s *Service) CreateWorkflow(ctx context.Context, req *workflowspb.CreateWorkflowRequest) (*longrunningpb.Operation, error) {
	parent := req.GetParent()
	if _, _, ok := parseLocation(parent); !ok {
		return nil, invalid(msgLocationFormat)
	}
	id := req.GetWorkflowId()
	if !workflowIDRe.MatchString(id) {
		return nil, invalid("Invalid workflow_id %q: it must have 1 to 64 letters, digits, underscores or hyphens, start with a letter and end with a letter or digit.", id)
	}
	if req.GetWorkflow() == nil {
		return nil, invalid("Workflow is required.")
	}
	in := proto.Clone(req.GetWorkflow()).(*workflowspb.Workflow)
	clearOutputOnly(in)
	if err := validateWorkflow(in, s.loadOptions()...); err != nil {
		return nil, err
	}
	if err := s.actAs(ctx, in.GetServiceAccount()); err != nil {
		return nil, err
	}
	name := parent + "/workflows/" + id
	now := timestamppb.New(s.now())
	out, err := s.st.UpdateWorkflow(ctx, name, func(cur *workflowspb.Workflow) (*workflowspb.Workflow, bool, error) {
		if cur != nil {
			return nil, false, errWorkflowExists
		}
		in.Name, in.State, in.RevisionId = name, workflowspb.Workflow_ACTIVE, newRevisionID(1)
		in.CreateTime, in.UpdateTime, in.RevisionCreateTime = now, now, now
		return in, true, nil
	})
	if errors.Is(err, errWorkflowExists) {
		return s.operation(ctx, parent, name, "create", nil,
			status.Newf(codes.AlreadyExists, "Resource '%s' already exists", name).Proto())
	}
	if err != nil {
		return nil, apierr.Internal("creating workflow", err)
	}
	return s.operation(ctx, parent, name, "create", out, nil)
}

func (s *Service) UpdateWorkflow(ctx context.Context, req *workflowspb.UpdateWorkflowRequest) (*longrunningpb.Operation, error) {
	in := req.GetWorkflow()
	if in == nil {
		return nil, invalid("Workflow is required.")
	}
	wn, ok := parseWorkflow(in.GetName())
	if !ok {
		return nil, invalid(msgWorkflowFormat)
	}
	name := wn.String()
	paths := mutablePaths()
	if m := req.GetUpdateMask(); m != nil && len(m.GetPaths()) > 0 {
		paths = nil
		for _, p := range m.GetPaths() {
			fds, ok := protopath.Resolve(in.ProtoReflect().Descriptor(), p)
			if !ok || !slices.Contains(mutablePaths(), protopath.Name(fds)) {
				return nil, invalid("Invalid update_mask: field %q cannot be updated.", p)
			}
			paths = append(paths, protopath.Name(fds))
		}
	}
	if slices.Contains(paths, "service_account") {
		if err := s.actAs(ctx, in.GetServiceAccount()); err != nil {
			return nil, err
		}
	}
	now := timestamppb.New(s.now())
	out, err := s.st.UpdateWorkflow(ctx, name, func(cur *workflowspb.Workflow) (*workflowspb.Workflow, bool, error) {
		if cur == nil {
			return nil, false, notFound("Workflow", name)
		}
		next := proto.Clone(cur).(*workflowspb.Workflow)
		for _, p := range paths {
			fds, _ := protopath.Resolve(in.ProtoReflect().Descriptor(), p)
			protopath.Copy(next, in, fds)
		}
		if err := validateWorkflow(next, s.loadOptions()...); err != nil {
			return nil, false, err
		}
		next.UpdateTime = now
		newRev := false
		for _, p := range revisionPaths() {
			fds, _ := protopath.Resolve(in.ProtoReflect().Descriptor(), p)
			if !fieldEqual(cur.ProtoReflect(), next.ProtoReflect(), fds[0]) {
				newRev = true
			}
		}
		if newRev {
			next.RevisionId = newRevisionID(revisionOrdinal(cur.GetRevisionId()) + 1)
			next.RevisionCreateTime = now
		}
		return next, newRev, nil
	})
	if err != nil {
		return nil, apierr.Internal("updating workflow", err)
	}
	return s.operation(ctx, "projects/"+wn.project+"/locations/"+wn.location, name, "update", out, nil)
}

// fieldEqual compares one field of two messages of the same type.
func fieldEqual(a, b protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	return a.Get(fd).Equal(b.Get(fd))
}

func (s *Service) DeleteWorkflow(ctx context.Context, req *workflowspb.DeleteWorkflowRequest) (*longrunningpb.Operation, error) {
	wn, ok := parseWorkflow(req.GetName())
	if !ok {
		return nil, invalid(msgWorkflowFormat)
	}
	name := wn.String()
	_, err := s.st.UpdateWorkflow(ctx, name, func(cur *workflowspb.Workflow) (*workflowspb.Workflow, bool, error) {
		if cur == nil {
			return nil, false, notFound("Workflow", name)
		}
		return nil, false, nil
	})
	if err != nil {
		return nil, apierr.Internal("deleting workflow", err)
	}
	// Its executions are gone from the store; stop those running here.
	s.runs.cancelWorkflow(name)
	s.forget(name)
	return s.operation(ctx, "projects/"+wn.project+"/locations/"+wn.location, name, "delete", &emptypb.Empty{}, nil)
}

// GetWorkflow reads the latest revision, or the one in revision_id or
// after "@" in the name (NAME@REVISION, as gcloud writes it).
func (s *Service) GetWorkflow(ctx context.Context, req *workflowspb.GetWorkflowRequest) (*workflowspb.Workflow, error) {
	name, rev, _ := strings.Cut(req.GetName(), "@")
	if r := req.GetRevisionId(); r != "" {
		rev = r
	}
	wn, ok := parseWorkflow(name)
	if !ok {
		return nil, invalid(msgWorkflowFormat)
	}
	w, err := s.st.GetWorkflow(ctx, wn.String(), rev)
	if errors.Is(err, store.ErrNotFound) {
		if rev != "" {
			return nil, notFound("Workflow revision", wn.String()+"@"+rev)
		}
		return nil, notFound("Workflow", wn.String())
	}
	if err != nil {
		return nil, apierr.Internal("reading workflow", err)
	}
	return w, nil
}

// pageSize is the effective size of a page: def when 0, at most max.
func pageSize(requested int32, def, max int) (int, error) {
	switch {
	case requested < 0:
		return 0, invalid("page_size cannot be negative.")
	case requested == 0:
		return def, nil
	case int(requested) > max:
		return max, nil
	}
	return int(requested), nil
}

// page returns list[offset:offset+size] and the token of the next page.
// The offset in a token is the count of items already returned, which is
// right as long as the list does not change between pages.
func page[T any](list []T, token, scope string, size int, now func() time.Time) ([]T, string, error) {
	after, err := pagetoken.Decode(token, scope, now())
	if err != nil {
		return nil, "", err
	}
	offset := 0
	if after != "" {
		if offset, err = strconv.Atoi(after); err != nil || offset < 0 {
			return nil, "", invalid("Invalid page token.")
		}
	}
	if offset >= len(list) {
		return nil, "", nil
	}
	end := min(offset+size, len(list))
	next := ""
	if end < len(list) {
		next = pagetoken.Encode(scope, strconv.Itoa(end), now())
	}
	return list[offset:end], next, nil
}

func (s *Service) ListWorkflows(ctx context.Context, req *workflowspb.ListWorkflowsRequest) (*workflowspb.ListWorkflowsResponse, error) {
	parent := req.GetParent()
	if _, _, ok := parseLocation(parent); !ok {
		return nil, invalid(msgLocationFormat)
	}
	size, err := pageSize(req.GetPageSize(), defaultWorkflowPage, maxWorkflowPage)
	if err != nil {
		return nil, err
	}
	md := (&workflowspb.Workflow{}).ProtoReflect().Descriptor()
	match, err := protofilter.Compile(md, req.GetFilter())
	if err != nil {
		return nil, err
	}
	order, err := protofilter.CompileOrder(md, req.GetOrderBy(), nil)
	if err != nil {
		return nil, err
	}
	all, err := s.st.ListWorkflows(ctx, parent)
	if err != nil {
		return nil, apierr.Internal("listing workflows", err)
	}
	all = slices.DeleteFunc(all, func(w *workflowspb.Workflow) bool { return !match(w.ProtoReflect()) })
	slices.SortStableFunc(all, func(a, b *workflowspb.Workflow) int { return order(a.ProtoReflect(), b.ProtoReflect()) })
	scope := pagetoken.Scope("ListWorkflows", parent, req.GetFilter()+"\x00"+req.GetOrderBy())
	ws, next, err := page(all, req.GetPageToken(), scope, size, s.now)
	if err != nil {
		return nil, err
	}
	return &workflowspb.ListWorkflowsResponse{Workflows: ws, NextPageToken: next}, nil
}

func (s *Service) ListWorkflowRevisions(ctx context.Context, req *workflowspb.ListWorkflowRevisionsRequest) (*workflowspb.ListWorkflowRevisionsResponse, error) {
	wn, ok := parseWorkflow(req.GetName())
	if !ok {
		return nil, invalid(msgWorkflowFormat)
	}
	size, err := pageSize(req.GetPageSize(), defaultRevisionPage, maxRevisionPage)
	if err != nil {
		return nil, err
	}
	scope := pagetoken.Scope("ListWorkflowRevisions", wn.String(), "")
	after, err := pagetoken.Decode(req.GetPageToken(), scope, s.now())
	if err != nil {
		return nil, err
	}
	skip := 0
	if after != "" {
		if skip, err = strconv.Atoi(after); err != nil || skip < 0 {
			return nil, invalid("Invalid page token.")
		}
	}
	// One more than a page tells whether there is a next one.
	revs, err := s.st.ListWorkflowRevisions(ctx, wn.String(), skip, size+1)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("Workflow", wn.String())
	}
	if err != nil {
		return nil, apierr.Internal("listing revisions", err)
	}
	resp := &workflowspb.ListWorkflowRevisionsResponse{Workflows: revs}
	if len(revs) > size {
		resp.Workflows = revs[:size]
		resp.NextPageToken = pagetoken.Encode(scope, strconv.Itoa(skip+size), s.now())
	}
	return resp, nil
}

// program returns the loaded definition of a workflow revision, loading
// it once.
func (s *Service) program(w *workflowspb.Workflow) (*workflows.Workflow, error) {
	// The revision's birth too: a workflow deleted and created again
	// numbers its revisions from 1 anew.
	key := fmt.Sprintf("%s@%s@%d", w.GetName(), w.GetRevisionId(), w.GetRevisionCreateTime().AsTime().UnixNano())
	if p, ok := s.programs.Load(key); ok {
		return p.(*workflows.Workflow), nil
	}
	p, err := workflows.Load([]byte(w.GetSourceContents()), s.loadOptions()...)
	if err != nil {
		return nil, err
	}
	s.programs.Store(key, p)
	return p, nil
}

// forget drops the cached programs of a workflow's revisions.
func (s *Service) forget(name string) {
	for k := range s.programs.Range {
		if strings.HasPrefix(k.(string), name+"@") {
			s.programs.Delete(k)
		}
	}
}

// identity is what an execution's built-in variables report.
func identity(w *workflowspb.Workflow, wn workflowName, executionID string) workflows.Identity {
	return workflows.Identity{
		ProjectID: wn.project, Location: wn.location, WorkflowID: wn.id,
		RevisionID: w.GetRevisionId(), ExecutionID: executionID,
		ServiceAccount: serviceAccountEmail(w.GetServiceAccount()),
	}
}

// actAs checks that the caller may have a workflow act as sa.
func (s *Service) actAs(ctx context.Context, sa string) error {
	if s.cfg.ActAs == nil || sa == "" {
		return nil
	}
	return s.cfg.ActAs(ctx, serviceAccountEmail(sa))
}

// serviceAccountEmail is the account of a workflow's serviceAccount
// field, which may also be projects/P/serviceAccounts/ACCOUNT.
func serviceAccountEmail(sa string) string {
	if _, acct, ok := strings.Cut(sa, "/serviceAccounts/"); ok {
		return acct
	}
	return sa
}
