package workflowsapi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/apierr"
	"github.com/opentasks/opentasks/internal/pagetoken"
	"github.com/opentasks/opentasks/internal/protofilter"
	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/workflows"
)

// Limits of the Execution resource (spec section 3).
const (
	// maxArgumentBytes is the documented argument size (512 KB); the proto
	// still says 32 KB, the newer page wins.
	maxArgumentBytes     = 512 * 1024
	defaultExecutionPage = 100
	maxBasicPage         = 1000
	maxFullPage          = 100
)

// orderPaths are the fields ListExecutions may order by.
func orderPaths() []string {
	return []string{"name", "state", "start_time", "end_time", "duration", "workflow_revision_id"}
}

func (s *Service) CreateExecution(ctx context.Context, req *executionspb.CreateExecutionRequest) (*executionspb.Execution, error) {
	wn, ok := parseWorkflow(req.GetParent())
	if !ok {
		return nil, invalid(msgWorkflowFormat)
	}
	in := req.GetExecution()
	argText := in.GetArgument()
	if argText == "" {
		argText = "null"
	}
	if len(argText) > maxArgumentBytes {
		return nil, invalid("Execution argument is %d bytes; the limit is %d bytes.", len(argText), maxArgumentBytes)
	}
	arg, err := workflows.DecodeJSON([]byte(argText))
	if err != nil {
		return nil, invalid("Execution argument is not valid JSON: %v", err)
	}
	if _, ok := executionspb.Execution_CallLogLevel_name[int32(in.GetCallLogLevel())]; !ok {
		return nil, invalid("Invalid call_log_level %d.", in.GetCallLogLevel())
	}
	if err := checkLabels(in.GetLabels()); err != nil {
		return nil, err
	}
	w, err := s.st.GetWorkflow(ctx, wn.String(), "")
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("Workflow", wn.String())
	}
	if err != nil {
		return nil, apierr.Internal("reading workflow", err)
	}
	prog, err := s.program(w)
	if err != nil {
		return nil, apierr.Internal("loading workflow", err)
	}
	id := uuid.NewString()
	now := s.now()
	labels := maps.Clone(w.GetLabels())
	if labels == nil && len(in.GetLabels()) > 0 {
		labels = map[string]string{}
	}
	maps.Copy(labels, in.GetLabels())
	e := &executionspb.Execution{
		Name:               wn.String() + "/executions/" + id,
		StartTime:          timestamppb.New(now),
		State:              executionspb.Execution_ACTIVE,
		Argument:           argText,
		WorkflowRevisionId: w.GetRevisionId(),
		CallLogLevel:       in.GetCallLogLevel(),
		Labels:             labels,
	}
	if e.CallLogLevel == executionspb.Execution_CALL_LOG_LEVEL_UNSPECIFIED {
		// The workflow's level applies unless the execution sets its own.
		e.CallLogLevel = executionspb.Execution_CallLogLevel(w.GetCallLogLevel())
	}
	err = s.st.CreateExecution(ctx, e, store.ExecutionLimits{MaxActive: s.cfg.MaxActive, MaxQueued: s.cfg.MaxQueued}, now.Add(s.cfg.LeaseTTL))
	switch {
	case errors.Is(err, store.ErrLimit):
		return nil, status.Errorf(codes.ResourceExhausted, "Workflow %s has %d active and %d queued executions, the most this server allows (--workflows-max-active, --workflows-max-queued); retry later.",
			wn.String(), s.cfg.MaxActive, s.cfg.MaxQueued)
	case errors.Is(err, store.ErrNotFound):
		return nil, notFound("Workflow", wn.String())
	case err != nil:
		return nil, apierr.Internal("creating execution", err)
	}
	if e.GetState() == executionspb.Execution_QUEUED {
		return e, nil // started when an active one ends (startQueued)
	}
	if err := s.launch(ctx, proto.Clone(e).(*executionspb.Execution), w, prog, arg); err != nil {
		return nil, err
	}
	return e, nil
}

// launch runs a stored ACTIVE execution of revision w in the background.
func (s *Service) launch(ctx context.Context, e *executionspb.Execution, w *workflowspb.Workflow, prog *workflows.Workflow, arg any) error {
	wn, id, _ := parseExecution(e.GetName())
	cfg := workflows.Config{Env: w.GetUserEnvVars(), Identity: identity(w, wn, id)}
	if s.runs.launch(e.GetName(), func(ctx context.Context, r *run) { s.execute(ctx, r, e, prog, arg, cfg) }) {
		return nil
	}
	// Stopping: end it as an interrupted one would be.
	if _, err := s.st.UpdateExecution(ctx, e.GetName(), func(cur *executionspb.Execution) (*executionspb.Execution, error) {
		return s.interrupted(cur), nil
	}); err != nil {
		return apierr.Internal("ending execution", err)
	}
	return status.Error(codes.Unavailable, "The server is stopping.")
}

// startQueued starts the workflow's queued executions that its limit of
// active ones leaves room for, oldest first. Each runs the revision it
// was created on; one that cannot (its revision is gone) ends FAILED.
func (s *Service) startQueued(ctx context.Context, workflow string) {
	now := s.now()
	started, err := s.st.StartQueued(ctx, workflow, s.cfg.MaxActive, now.Add(s.cfg.LeaseTTL), func(e *executionspb.Execution) *executionspb.Execution {
		e.State, e.StartTime = executionspb.Execution_ACTIVE, timestamppb.New(now)
		return e
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("starting queued executions", "workflow", workflow, "err", err)
		}
		return
	}
	for _, e := range started {
		if err := s.launchStored(ctx, e); err != nil && ctx.Err() == nil {
			s.log.Error("starting a queued execution", "execution", e.GetName(), "err", err)
		}
	}
}

// launchStored launches an execution taken from the store.
func (s *Service) launchStored(ctx context.Context, e *executionspb.Execution) error {
	w, err := s.st.GetWorkflow(ctx, store.ExecutionWorkflow(e.GetName()), e.GetWorkflowRevisionId())
	var prog *workflows.Workflow
	var arg any
	if err == nil {
		if prog, err = s.program(w); err == nil {
			arg, err = workflows.DecodeJSON([]byte(e.GetArgument()))
		}
	}
	if err != nil {
		_, uerr := s.st.UpdateExecution(ctx, e.GetName(), func(cur *executionspb.Execution) (*executionspb.Execution, error) {
			s.end(cur, nil)
			cur.State = executionspb.Execution_FAILED
			cur.Error = executionError(fmt.Errorf("starting the queued execution: %w", err))
			return cur, nil
		})
		return errors.Join(err, uerr)
	}
	return s.launch(ctx, e, w, prog, arg)
}

func (s *Service) GetExecution(ctx context.Context, req *executionspb.GetExecutionRequest) (*executionspb.Execution, error) {
	if _, _, ok := parseExecution(req.GetName()); !ok {
		return nil, invalid(msgExecutionFormat)
	}
	e, err := s.st.GetExecution(ctx, req.GetName())
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("Execution", req.GetName())
	}
	if err != nil {
		return nil, apierr.Internal("reading execution", err)
	}
	s.live(e)
	if req.GetView() == executionspb.ExecutionView_BASIC {
		return basic(e), nil
	}
	return e, nil
}

// live fills in the current steps of an execution running here.
func (s *Service) live(e *executionspb.Execution) {
	if e.GetState() != executionspb.Execution_ACTIVE {
		return
	}
	if r := s.runs.get(e.GetName()); r != nil {
		e.Status = r.status()
	}
}

// basic is the BASIC view of an execution.
func basic(e *executionspb.Execution) *executionspb.Execution {
	return &executionspb.Execution{
		Name: e.GetName(), StartTime: e.GetStartTime(), EndTime: e.GetEndTime(), Duration: e.GetDuration(),
		State: e.GetState(), WorkflowRevisionId: e.GetWorkflowRevisionId(),
	}
}

func (s *Service) ListExecutions(ctx context.Context, req *executionspb.ListExecutionsRequest) (*executionspb.ListExecutionsResponse, error) {
	wn, ok := parseWorkflow(req.GetParent())
	if !ok {
		return nil, invalid(msgWorkflowFormat)
	}
	view := req.GetView()
	max := maxBasicPage
	if view == executionspb.ExecutionView_FULL {
		max = maxFullPage
	}
	size, err := pageSize(req.GetPageSize(), min(defaultExecutionPage, max), max)
	if err != nil {
		return nil, err
	}
	md := (&executionspb.Execution{}).ProtoReflect().Descriptor()
	match, err := protofilter.Compile(md, executionFields(req.GetFilter()))
	if err != nil {
		return nil, err
	}
	orderBy := req.GetOrderBy()
	ascending, keyed := keysetOrder(orderBy)
	if strings.TrimSpace(orderBy) == "" {
		orderBy = "startTime desc"
	}
	order, err := protofilter.CompileOrder(md, executionFields(orderBy), orderPaths())
	if err != nil {
		return nil, err
	}
	if _, err := s.st.GetWorkflow(ctx, wn.String(), ""); errors.Is(err, store.ErrNotFound) {
		return nil, notFound("Workflow", wn.String())
	} else if err != nil {
		return nil, apierr.Internal("reading workflow", err)
	}
	scope := pagetoken.Scope("ListExecutions", wn.String(), req.GetFilter()+"\x00"+orderBy)
	var es []*executionspb.Execution
	var next string
	if keyed {
		es, next, err = s.listByKey(ctx, wn.String(), func(e *executionspb.Execution) bool { return match(e.ProtoReflect()) },
			ascending, size, req.GetPageToken(), scope)
	} else {
		es, next, err = s.listAll(ctx, wn.String(), func(e *executionspb.Execution) bool { return match(e.ProtoReflect()) },
			func(a, b *executionspb.Execution) int { return order(a.ProtoReflect(), b.ProtoReflect()) }, size, req.GetPageToken(), scope)
	}
	if err != nil {
		return nil, err
	}
	if view != executionspb.ExecutionView_FULL {
		for i, e := range es {
			es[i] = basic(e)
		}
	}
	return &executionspb.ListExecutionsResponse{Executions: es, NextPageToken: next}, nil
}

// keysetOrder reports whether the store's keys serve order_by (the
// default, or createTime either way: when CreateExecution stored the
// execution, ties by name in the same direction), and in which direction.
// Other orders are sorted in memory (listAll).
func keysetOrder(orderBy string) (ascending, ok bool) {
	f := strings.Fields(orderBy)
	if len(f) == 0 {
		return false, true
	}
	if f[0] != "createTime" && f[0] != "create_time" || len(f) > 2 {
		return false, false
	}
	if len(f) == 1 || f[1] == "asc" {
		return true, true
	}
	return false, f[1] == "desc"
}

// listByKey reads a page of the workflow's executions that match from the
// store by key, a page (and one more) at a time until it has one more
// than a page or none are left: the token names the last one returned, so
// executions created or deleted between pages make later pages neither
// repeat nor skip the others.
func (s *Service) listByKey(ctx context.Context, workflow string, match func(*executionspb.Execution) bool, ascending bool, size int, token, scope string) ([]*executionspb.Execution, string, error) {
	after, err := pagetoken.Decode(token, scope, s.now())
	if err != nil {
		return nil, "", err
	}
	var key *store.ExecutionKey
	if after != "" {
		created, name, ok := strings.Cut(after, " ")
		us, err := strconv.ParseInt(created, 10, 64)
		if !ok || err != nil {
			return nil, "", invalid("Invalid page token.")
		}
		key = &store.ExecutionKey{Created: us, Name: name}
	}
	var out []*executionspb.Execution
	var keys []store.ExecutionKey
	for len(out) <= size {
		batch, bkeys, err := s.st.ListExecutionsPage(ctx, workflow, key, ascending, size+1)
		if err != nil {
			return nil, "", apierr.Internal("listing executions", err)
		}
		for i, e := range batch {
			s.live(e)
			if match(e) && len(out) <= size {
				out, keys = append(out, e), append(keys, bkeys[i])
			}
		}
		if len(batch) < size+1 {
			break
		}
		key = &bkeys[len(bkeys)-1]
	}
	if len(out) <= size {
		return out, "", nil
	}
	last := keys[size-1]
	return out[:size], pagetoken.Encode(scope, strconv.FormatInt(last.Created, 10)+" "+last.Name, s.now()), nil
}

// listAll reads all of the workflow's executions and pages them by offset,
// for the orders the store's keys cannot serve: a page may then repeat or
// skip executions created or deleted since the one before.
func (s *Service) listAll(ctx context.Context, workflow string, match func(*executionspb.Execution) bool, order func(a, b *executionspb.Execution) int, size int, token, scope string) ([]*executionspb.Execution, string, error) {
	all, err := s.st.ListExecutions(ctx, workflow)
	if err != nil {
		return nil, "", apierr.Internal("listing executions", err)
	}
	for _, e := range all {
		s.live(e)
	}
	all = slices.DeleteFunc(all, func(e *executionspb.Execution) bool { return !match(e) })
	slices.SortStableFunc(all, order)
	return page(all, token, scope, size, s.now)
}

// executionFields maps the names the API documents for filter and
// order_by onto Execution's fields: executionId is the name (IDs are its
// last segment, so they order alike), createTime the start.
func executionFields(text string) string {
	return strings.NewReplacer("executionId", "name", "execution_id", "name",
		"createTime", "startTime", "create_time", "start_time").Replace(text)
}

func (s *Service) CancelExecution(ctx context.Context, req *executionspb.CancelExecutionRequest) (*executionspb.Execution, error) {
	name := req.GetName()
	if _, _, ok := parseExecution(name); !ok {
		return nil, invalid(msgExecutionFormat)
	}
	var st *executionspb.Execution_Status
	if r := s.runs.get(name); r != nil {
		st = r.status()
	}
	e, err := s.st.UpdateExecution(ctx, name, func(cur *executionspb.Execution) (*executionspb.Execution, error) {
		if store.ExecutionFinished(cur.GetState()) {
			return nil, status.Errorf(codes.FailedPrecondition, "Execution %s has already finished (%s) and cannot be cancelled.", name, cur.GetState())
		}
		now := s.now()
		cur.State = executionspb.Execution_CANCELLED
		cur.EndTime = timestamppb.New(now)
		if cur.GetStartTime() != nil { // a QUEUED one never started
			cur.Duration = durationpb.New(now.Sub(cur.GetStartTime().AsTime()))
		}
		if st != nil {
			cur.Status = st
		}
		cur.Error = &executionspb.Execution_Error{Payload: `"Execution cancelled."`, Context: "Execution cancelled."}
		return cur, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("Execution", name)
	}
	if err != nil {
		return nil, apierr.Internal("cancelling execution", err)
	}
	// Here at once; on another node at its next sweep.
	s.runs.cancel(name)
	s.startQueued(ctx, store.ExecutionWorkflow(name))
	return e, nil
}

var _ workflowspb.WorkflowsServer = (*Service)(nil)
var _ executionspb.ExecutionsServer = (*Service)(nil)
