package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"

	"github.com/opentasks/opentasks/internal/auth"
	"github.com/opentasks/opentasks/internal/console"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/workflowsapi"
	"github.com/opentasks/opentasks/workflows"
)

// workflowsFlags configure the Workflows and Executions APIs of serve.
type workflowsFlags struct {
	maxActive int
	maxQueued int
	retention time.Duration
	leaseTTL  time.Duration
	mocks     string
}

func (f *workflowsFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.maxActive, "workflows-max-active", 1000, "most ACTIVE executions of one workflow; new ones past it are QUEUED")
	fs.IntVar(&f.maxQueued, "workflows-max-queued", 10000, "most QUEUED executions of one workflow (started oldest first as active ones end); CreateExecution past it is RESOURCE_EXHAUSTED; 0 queues none")
	fs.DurationVar(&f.retention, "workflows-retention", 30*24*time.Hour, "how long a finished workflow execution is kept")
	fs.StringVar(&f.mocks, "workflows-mocks", "", "`FILE` of mock rules (docs/workflows-mocks.md) answering the calls of every deployed workflow, for tests without a cloud project")
	fs.DurationVar(&f.leaseTTL, "workflows-lease-ttl", 30*time.Second, "postgres: an execution whose node died ends FAILED (interrupted) about this long after")
}

// startWorkflows starts the Workflows and Executions APIs on st for the
// server listening on addr, whose handler executions' connectors reach
// through self, with sec's checks; serve them with the returned options,
// and call stop before closing st.
func startWorkflows(ctx context.Context, f *serveFlags, addr string, self *loopback, sec *security, st store.Store, logger *slog.Logger) (svc *workflowsapi.Service, opts []server.Option, stop func(), err error) {
	ws, ok := st.(store.WorkflowStore)
	if !ok {
		return nil, nil, nil, fmt.Errorf("the store %s cannot hold workflows", f.store)
	}
	var mocks *workflows.Mocks
	if f.wf.mocks != "" {
		if mocks, err = workflows.LoadMocksFile(f.wf.mocks); err != nil {
			return nil, nil, nil, fmt.Errorf("--workflows-mocks: %w", err)
		}
	}
	// Executions' http.* calls go where tasks may go (--deny-targets).
	tp, err := f.security.targetPolicy(logger)
	if err != nil {
		return nil, nil, nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost, tr.DialContext = 256, tp.DialContext
	svc = workflowsapi.New(ws, st, workflowsapi.Config{
		HTTPClient: &http.Client{Transport: tr},
		Mocks:      mocks,
		Connectors: self.transport,
		ActAs:      sec.actAs(),
		Endpoint:   f.security.scheme() + "://" + dialable(addr),
		MaxActive:  f.wf.maxActive,
		MaxQueued:  f.wf.maxQueued,
		Retention:  f.wf.retention,
		LeaseTTL:   f.wf.leaseTTL,
		SoleOwner:  strings.HasPrefix(f.store, "sqlite:"),
		Logger:     logger,
	})
	if err := svc.Start(ctx); err != nil {
		return nil, nil, nil, err
	}
	api := sec.workflows(svc)
	return svc, []server.Option{
		server.WithService(&workflowspb.Workflows_ServiceDesc, api),
		server.WithService(&executionspb.Executions_ServiceDesc, api),
		server.WithRESTRules(workflowsapi.MixinRules()...),
		// API routes: authenticated when authentication is on.
		server.WithAPIHandler(workflowsapi.CreateExecutionRoute, workflowsapi.CreateExecutionHandler(api)),
		server.WithAPIHandler(workflowsapi.CallbacksRoute, sec.callbacks(svc.CallbacksHandler())),
		server.WithAPIHandler(workflows.CallbackRESTPattern, sec.callbacks(svc.CallbacksHandler())),
		server.WithAPIHandler(workflowsapi.ListCallbacksRoute, sec.callbacks(svc.ListCallbacksHandler())),
	}, svc.Stop, nil
}

// guardedWorkflows is what the console acts through: the Workflows and
// Executions APIs behind IAM, and the logs of the executions they return.
type guardedWorkflows struct {
	*auth.WorkflowsGuard
	svc *workflowsapi.Service
}

func (g guardedWorkflows) ExecutionLog(name string) workflowsapi.ExecutionLog {
	return g.svc.ExecutionLog(name)
}

// workflows returns svc behind IAM when authentication is on.
func (s *security) workflows(svc *workflowsapi.Service) console.Workflows {
	if s.authn == nil {
		return svc
	}
	return guardedWorkflows{auth.NewWorkflowsGuard(svc, s.authz), svc}
}

// callbacks returns h behind IAM (workflows.callbacks.send and .list)
// when authentication is on.
func (s *security) callbacks(h http.Handler) http.Handler {
	if s.authn == nil {
		return h
	}
	return s.authz.CallbacksGuard(h, server.WriteError)
}

// dialable turns a listen address into one this process can dial: an
// unspecified host (":8123", "0.0.0.0:8123") becomes loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
