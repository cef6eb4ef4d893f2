package workflowsapi

import (
	"context"
	"errors"
	"strings"
	"sync"

	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
)

// Why a run's context ended, other than the workflow finishing.
var (
	errCancelled = errors.New("execution cancelled")
	errShutdown  = errors.New("server stopping")
)

// runs are the executions this process is running.
type runs struct {
	mu      sync.Mutex
	ctx     context.Context // parent of every run; nil before start
	stopBg  context.CancelFunc
	byName  map[string]*run
	stopped bool
	wg      sync.WaitGroup
}

// run is one execution in progress.
type run struct {
	cancel context.CancelCauseFunc
	done   chan struct{} // closed once the run's end is stored
	mu     sync.Mutex
	step   *executionspb.Execution_Status_Step // the step last started
}

func newRuns() *runs { return &runs{byName: map[string]*run{}} }

func (rs *runs) start(ctx context.Context, stop context.CancelFunc) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.ctx, rs.stopBg = ctx, stop
	rs.wg.Add(1) // the housekeeper
}

// launch runs fn as execution name in its own goroutine; false when the
// service is not running.
func (rs *runs) launch(name string, fn func(ctx context.Context, r *run)) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.ctx == nil || rs.stopped {
		return false
	}
	ctx, cancel := context.WithCancelCause(rs.ctx)
	r := &run{cancel: cancel, done: make(chan struct{})}
	rs.byName[name] = r
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		defer cancel(nil)
		fn(ctx, r)
		rs.mu.Lock()
		delete(rs.byName, name)
		rs.mu.Unlock()
		close(r.done)
	}()
	return true
}

func (rs *runs) get(name string) *run {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.byName[name]
}

func (rs *runs) names() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]string, 0, len(rs.byName))
	for n := range rs.byName {
		out = append(out, n)
	}
	return out
}

// cancel stops the named execution if it runs here.
func (rs *runs) cancel(name string) {
	if r := rs.get(name); r != nil {
		r.cancel(errCancelled)
	}
}

// cancelWorkflow stops the workflow's executions running here.
func (rs *runs) cancelWorkflow(workflow string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for n, r := range rs.byName {
		if strings.HasPrefix(n, workflow+"/executions/") {
			r.cancel(errCancelled)
		}
	}
}

// stop interrupts every run and the housekeeper and waits for them.
func (rs *runs) stop() {
	rs.mu.Lock()
	if rs.stopped || rs.ctx == nil {
		rs.mu.Unlock()
		return
	}
	rs.stopped = true
	for _, r := range rs.byName {
		r.cancel(errShutdown)
	}
	rs.stopBg()
	rs.mu.Unlock()
	rs.wg.Wait()
}

func (r *run) onStep(routine, step string) {
	r.mu.Lock()
	r.step = &executionspb.Execution_Status_Step{Routine: routine, Step: step}
	r.mu.Unlock()
}

// status is the execution's status.currentSteps as of now.
func (r *run) status() *executionspb.Execution_Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.step == nil {
		return nil
	}
	return &executionspb.Execution_Status{CurrentSteps: []*executionspb.Execution_Status_Step{
		{Routine: r.step.Routine, Step: r.step.Step},
	}}
}
