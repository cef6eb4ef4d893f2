package workflows

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultEndpoint is where connectors reach Cloud Tasks unless configured:
// the local OpenTasks server.
const DefaultEndpoint = "http://127.0.0.1:8123"

// Execution limits.
const (
	maxCallDepth      = 20
	maxParallelDepth  = 2
	maxStepsPerRun    = 100000
	maxConcurrentWork = 20
)

// Config is what a run may use from the outside world. The zero value is
// usable: real clock, real sleeps, default endpoint, empty environment.
type Config struct {
	// Endpoint is the base URL of the googleapis.cloudtasks.* and
	// googleapis.workflowexecutions.* connectors (OpenTasks serves both).
	Endpoint string
	// Env feeds sys.get_env: a deployment's user-defined variables
	// (userEnvVars) and, for a local run, whatever else the caller wants
	// visible. The built-in GOOGLE_CLOUD_* variables may be given here or
	// in Identity, whose non-empty fields win.
	Env map[string]string
	// Identity names the execution for the built-in variables.
	Identity Identity
	// HTTPClient sends http.* requests, and connector requests unless
	// ConnectorClient is set.
	HTTPClient *http.Client
	// ConnectorClient, if set, sends connector requests (those to
	// Endpoint): a server running its own executions hands them to itself
	// in-process, as the execution's identity, rather than over the
	// network without credentials.
	ConnectorClient *http.Client
	// Now is the clock behind sys.now and time functions.
	Now func() time.Time
	// Sleep waits for d or until ctx is done; retries and sys.sleep use it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Log receives sys.log entries, one JSON object per line; nil discards them.
	Log io.Writer
	// OnStep, when set, is called as each step starts (the Executions
	// API's status.currentSteps); parallel branches call it concurrently.
	OnStep func(routine, step string)
	// OnCall, when set, is called as each call step's call begins and
	// ends (what Cloud Workflows' call logs record); parallel branches
	// call it concurrently.
	OnCall func(CallEvent)
	// Callbacks serves events.create_callback_endpoint and
	// events.await_callback; without it they raise a ValueError.
	Callbacks Callbacks
	// Mocks, if set, answers calls instead of the world (see Mocks). Load
	// the workflow WithMocks too, so that it accepts connectors only the
	// mocks know.
	Mocks *Mocks
}

// DefaultLocation is GOOGLE_CLOUD_LOCATION when Identity gives none.
const DefaultLocation = "us-central1"

// Identity is what the built-in environment variables report. A field
// left empty is taken from Env's variable of the same name, so that a
// caller may give either; Run then fills Location, WorkflowID, RevisionID
// and ExecutionID if still empty, so that every execution has them, as on
// Cloud Workflows.
type Identity struct {
	ProjectID      string // GOOGLE_CLOUD_PROJECT_ID
	ProjectNumber  string // GOOGLE_CLOUD_PROJECT_NUMBER
	Location       string // GOOGLE_CLOUD_LOCATION; default DefaultLocation
	WorkflowID     string // GOOGLE_CLOUD_WORKFLOW_ID; default "workflow"
	RevisionID     string // GOOGLE_CLOUD_WORKFLOW_REVISION_ID; default derived from the source
	ExecutionID    string // GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID; default a new UUID
	ServiceAccount string // GOOGLE_CLOUD_SERVICE_ACCOUNT_NAME
}

// fields pairs each field with its variable name.
func (id *Identity) fields() map[string]*string {
	return map[string]*string{
		"GOOGLE_CLOUD_PROJECT_ID":            &id.ProjectID,
		"GOOGLE_CLOUD_PROJECT_NUMBER":        &id.ProjectNumber,
		"GOOGLE_CLOUD_LOCATION":              &id.Location,
		"GOOGLE_CLOUD_WORKFLOW_ID":           &id.WorkflowID,
		"GOOGLE_CLOUD_WORKFLOW_REVISION_ID":  &id.RevisionID,
		"GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID": &id.ExecutionID,
		"GOOGLE_CLOUD_SERVICE_ACCOUNT_NAME":  &id.ServiceAccount,
	}
}

// complete fills empty fields from env, then the defaults.
func (id Identity) complete(w *Workflow, env map[string]string) Identity {
	for name, field := range id.fields() {
		if *field == "" {
			*field = env[name]
		}
	}
	for field, def := range map[*string]func() string{
		&id.Location:    func() string { return DefaultLocation },
		&id.WorkflowID:  func() string { return "workflow" },
		&id.RevisionID:  w.RevisionID,
		&id.ExecutionID: newUUID,
	} {
		if *field == "" {
			*field = def()
		}
	}
	return id
}

// environment merges Env with the built-in variables.
func (cfg *Config) environment() map[string]string {
	env := make(map[string]string, len(cfg.Env)+7)
	for k, v := range cfg.Env {
		env[k] = v
	}
	for name, field := range cfg.Identity.fields() {
		if *field != "" {
			env[name] = *field
		}
	}
	return env
}

func realSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type execution struct {
	wf    *Workflow
	cfg   Config
	env   map[string]string // sys.get_env's view: Env plus the built-ins
	mocks *mockRun          // nil without mocks
	steps atomic.Int64
	logMu sync.Mutex
}

// Run executes the workflow with arg bound to main's parameter (if it has
// one). A workflow error is returned as *Error; other errors come from ctx.
func (w *Workflow) Run(ctx context.Context, arg any, cfg Config) (any, error) {
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.ConnectorClient == nil {
		cfg.ConnectorClient = cfg.HTTPClient
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = realSleep
	}
	cfg.Identity = cfg.Identity.complete(w, cfg.Env)
	ex := &execution{wf: w, cfg: cfg, env: cfg.environment(), mocks: newMockRun(cfg.Mocks)}
	if cfg.Callbacks != nil {
		defer cfg.Callbacks.Release(ex.name())
	}
	main := w.routines["main"]
	var args []any
	if len(main.params) == 1 {
		args = []any{arg}
	}
	return ex.callRoutine(ctx, main, args, nil, 0, 0)
}

// name is the execution's resource name, as callbacks know it.
func (ex *execution) name() string {
	id := ex.cfg.Identity
	project := id.ProjectID
	if project == "" {
		project = "-" // the API's "any project"
	}
	return "projects/" + project + "/locations/" + id.Location + "/workflows/" + id.WorkflowID + "/executions/" + id.ExecutionID
}

// frame is one invocation of a routine.
type frame struct {
	ex      *execution
	routine *routine
	depth   int
}

// callRoutine runs r with positional args followed by named args.
func (ex *execution) callRoutine(ctx context.Context, r *routine, pos []any, named map[string]any, depth, parDepth int) (any, error) {
	if depth >= maxCallDepth {
		return nil, errorf(tagRecursion, "maximum call depth %d exceeded calling %s", maxCallDepth, r.name)
	}
	if len(pos) > len(r.params) {
		return nil, typeErrorf("%s takes %d arguments, got %d", r.name, len(r.params), len(pos))
	}
	f := &frame{ex: ex, routine: r, depth: depth + 1}
	sc := newScope()
	sc.parDepth = parDepth
	for i, p := range r.params {
		var v any
		switch {
		case i < len(pos):
			v = pos[i]
		case hasKey(named, p.name):
			v = named[p.name]
		case p.hasDefault:
			var err error
			if v, err = f.eval(ctx, sc, p.def); err != nil {
				return nil, err
			}
		default:
			return nil, typeErrorf("%s: missing argument %q", r.name, p.name)
		}
		sc.setLocal(p.name, v)
	}
	for k := range named {
		if !r.hasParam(k) {
			return nil, typeErrorf("%s has no parameter %q", r.name, k)
		}
	}
	out, err := f.runSteps(ctx, sc, r.steps)
	if err != nil {
		return nil, err
	}
	if out.kind == flowReturn {
		return out.value, nil
	}
	return nil, nil
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

// env is the expression environment of a frame at a scope.
type env struct {
	f  *frame
	sc *scope
}

func (e env) lookupVar(name string) (any, bool) { return e.sc.get(name) }

func (e env) resolveName(name string) (any, bool) {
	if v, ok := libraryConstants[name]; ok {
		return v, true
	}
	if _, ok := library[name]; ok {
		return funcRef{name}, true
	}
	if _, ok := e.f.ex.wf.routines[name]; ok {
		return funcRef{name}, true
	}
	return nil, false
}

func (e env) callFunc(ctx context.Context, name string, args []any) (any, error) {
	if r, ok := e.f.ex.wf.routines[name]; ok {
		return e.f.ex.callRoutine(ctx, r, args, nil, e.f.depth, e.sc.parDepth)
	}
	if fn, ok := library[name]; ok {
		if len(args) > len(fn.params) {
			return nil, typeErrorf("%s takes at most %d arguments, got %d", name, len(fn.params), len(args))
		}
		if e.f.ex.mocks != nil {
			named := make(map[string]any, len(args))
			for i, a := range args {
				named[fn.params[i]] = a
			}
			if result, handled, err := e.f.ex.answerMock(ctx, name, named, ""); handled {
				return result, err
			}
		}
		return fn.call(ctx, e, name, args)
	}
	if v, ok := e.lookupVar(name); ok {
		if ref, ok := v.(funcRef); ok && ref.name != name {
			return e.callFunc(ctx, ref.name, args)
		}
	}
	return nil, typeErrorf("%s is not a function", name)
}

// callRef calls a function value, as retry predicates are called.
func (e env) callRef(ctx context.Context, fn any, args ...any) (any, error) {
	ref, ok := fn.(funcRef)
	if !ok {
		return nil, typeErrorf("expected a function, got %s", typeName(fn))
	}
	return e.callFunc(ctx, ref.name, args)
}

func (f *frame) eval(ctx context.Context, sc *scope, t tmpl) (any, error) {
	switch x := t.(type) {
	case nil:
		return nil, nil
	case constT:
		return x.v, nil
	case *exprT:
		return x.e.eval(ctx, env{f, sc})
	case *listT:
		out := make([]any, len(x.items))
		for i, it := range x.items {
			v, err := f.eval(ctx, sc, it)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case *mapT:
		if x == nil {
			return map[string]any{}, nil
		}
		out := make(map[string]any, len(x.keys))
		for i, k := range x.keys {
			if ke := x.keyExpr[i]; ke != nil {
				kv, err := ke.e.eval(ctx, env{f, sc})
				if err != nil {
					return nil, err
				}
				s, ok := kv.(string)
				if !ok {
					return nil, typeErrorf("a map key must be a string, got %s from ${%s}", typeName(kv), ke.e.src)
				}
				k = s
			}
			v, err := f.eval(ctx, sc, x.vals[i])
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	}
	return nil, errors.New("workflows: unknown template")
}
