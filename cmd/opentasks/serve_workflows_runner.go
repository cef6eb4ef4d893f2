package main

import (
	"fmt"

	"cloud.google.com/go/workflows/executions/apiv1/executionspb"

	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/workflows"
)

// workflowsRunner gives executions of the Workflows API what the runner
// library offers beyond the service itself: callback endpoints served on
// the server's own port at /callbacks/..., and the answers of a mocks
// file (--workflows-mocks) for every deployed workflow.
type workflowsRunner struct {
	callbacks *workflows.MemoryCallbacks
	mocks     *workflows.Mocks // nil without --workflows-mocks
}

// newWorkflowsRunner prepares the runner for a server reachable at base
// (http://HOST:PORT).
func newWorkflowsRunner(mocksFile, base string) (*workflowsRunner, error) {
	r := &workflowsRunner{callbacks: workflows.NewMemoryCallbacks(base)}
	if mocksFile != "" {
		m, err := workflows.LoadMocksFile(mocksFile)
		if err != nil {
			return nil, fmt.Errorf("--workflows-mocks: %w", err)
		}
		r.mocks = m
	}
	return r, nil
}

// configure is the service's per-execution hook.
func (r *workflowsRunner) configure(_ *executionspb.Execution, cfg *workflows.Config) {
	cfg.Callbacks = r.callbacks
	cfg.Mocks = r.mocks
}

// loadOptions let deploys accept the connectors the mocks answer.
func (r *workflowsRunner) loadOptions() []workflows.LoadOption {
	if r.mocks == nil {
		return nil
	}
	return []workflows.LoadOption{workflows.WithMocks(r.mocks)}
}

// serverOptions mount the callback endpoints on the port, at the URLs
// create_callback_endpoint returns and at sendHttpCallback's REST path.
func (r *workflowsRunner) serverOptions() []server.Option {
	return []server.Option{
		server.WithHandler("/callbacks/", r.callbacks),
		server.WithHandler(workflows.CallbackRESTPattern, r.callbacks),
	}
}
