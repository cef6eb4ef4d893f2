package workflowsapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/workflows"
)

// Records is the part of store.Store that keeps the long-running
// operations of workflow writes, where Cloud Tasks' GetOperation (the one
// Operations service on the port) finds them.
type Records interface {
	UpdateRecord(ctx context.Context, kind, key string, fn func(cur []byte) ([]byte, error)) error
}

// Config tunes a Service; zero fields take the defaults documented on each.
type Config struct {
	// Endpoint is this server's base URL (SCHEME://HOST:PORT): the
	// connectors of executions reach Cloud Tasks and Executions there, and
	// callback endpoints are URLs under it.
	Endpoint string
	// HTTPClient sends executions' http.* requests, and connector requests
	// unless Connectors is set; default one that keeps up to 256 idle
	// connections a host.
	HTTPClient *http.Client
	// Connectors, if set, carries the connector requests of executions of
	// a workflow whose service account is serviceAccount ("" when none is
	// set): the server hands them to itself in-process, as that account,
	// so that they pass its TLS and authentication as Cloud Workflows'
	// connectors act as the workflow's service account.
	Connectors func(serviceAccount string) http.RoundTripper
	// ActAs, if set, is asked whether the caller of CreateWorkflow or
	// UpdateWorkflow may act as the service account the workflow names
	// (iam.serviceAccounts.actAs), as Cloud Workflows asks: its
	// connectors act as that account, so naming one is borrowing its
	// permissions.
	ActAs func(ctx context.Context, serviceAccount string) error
	// Now is the clock of timestamps and leases; default time.Now.
	Now func() time.Time
	// MaxActive bounds the ACTIVE executions of one workflow; past it new
	// ones are QUEUED. Default 1000.
	MaxActive int
	// MaxQueued bounds the QUEUED executions of one workflow, which wait
	// for an ACTIVE one to end and start oldest first; past it
	// CreateExecution fails with RESOURCE_EXHAUSTED. 0 queues none.
	MaxQueued int
	// Retention is how long a finished execution is kept; default 30 days.
	Retention time.Duration
	// LeaseTTL is how long an execution's lease lasts unless renewed; an
	// execution whose process died ends FAILED this long after its last
	// renewal at the latest. Default 30s.
	LeaseTTL time.Duration
	// SoleOwner says that no other process shares the store (SQLite): at
	// Start every ACTIVE execution is known to be interrupted and ends
	// FAILED at once instead of when its lease runs out.
	SoleOwner bool
	// Logger receives sys.log entries of executions and background errors;
	// default discards.
	Logger *slog.Logger
	// Mocks, when set, answer the calls of every deployed workflow, which
	// may then use connectors the runner does not know (--workflows-mocks).
	Mocks *workflows.Mocks
}

// Service implements the Workflows and Executions APIs on a store.
type Service struct {
	workflowspb.UnimplementedWorkflowsServer
	executionspb.UnimplementedExecutionsServer

	st   store.WorkflowStore
	rec  Records
	cfg  Config
	now  func() time.Time
	log  *slog.Logger
	runs *runs
	// callbacks are the endpoints of events.create_callback_endpoint,
	// served at /callbacks/ on the port (CallbacksHandler).
	callbacks *workflows.MemoryCallbacks
	// logs keeps executions' sys.log lines and call logs (ExecutionLog).
	logs *execLogs

	// programs caches loaded definitions by workflow name and revision.
	programs sync.Map // string -> *workflows.Workflow
}

// New returns a Service storing workflows and executions in st and
// operations in rec. Start it before serving it.
func New(st store.WorkflowStore, rec Records, cfg Config) *Service {
	if cfg.Endpoint == "" {
		cfg.Endpoint = workflows.DefaultEndpoint
	}
	if cfg.HTTPClient == nil {
		// Executions call this same server (connectors) many at a time:
		// keep their connections instead of the default two per host.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 256
		cfg.HTTPClient = &http.Client{Transport: tr}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxActive <= 0 {
		cfg.MaxActive = 1000
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, rec: rec, cfg: cfg, now: cfg.Now, log: cfg.Logger, runs: newRuns(),
		callbacks: workflows.NewMemoryCallbacks(cfg.Endpoint), logs: newExecLogs(cfg.Now)}
}

// Start ends the executions that an earlier process left ACTIVE (all of
// them with Config.SoleOwner, else those whose lease ran out) and deletes
// those past retention, then renews
// the leases of this process's executions, ends those of dead processes
// and deletes expired ones in the background until Stop.
func (s *Service) Start(ctx context.Context) error {
	before := s.now()
	if s.cfg.SoleOwner {
		before = before.Add(100 * 365 * 24 * time.Hour)
	}
	if _, err := s.st.FailExpiredExecutions(ctx, before, s.interrupted); err != nil {
		return fmt.Errorf("ending interrupted executions: %w", err)
	}
	if err := s.deleteOld(ctx); err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.runs.start(bg, cancel)
	s.startAllQueued(bg)
	go s.housekeep(bg)
	return nil
}

// Stop ends this process's executions FAILED (interrupted), waits for
// them and stops the background work. The store must stay open until Stop
// returns.
func (s *Service) Stop() {
	s.runs.stop()
}

// housekeep runs every quarter lease until the service stops.
func (s *Service) housekeep(ctx context.Context) {
	defer s.runs.wg.Done() // added by runs.start
	tick := time.NewTicker(s.cfg.LeaseTTL / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.sweep(ctx)
	}
}

// sweep renews this process's leases, stops its executions that were
// cancelled or deleted elsewhere (another node), ends those of dead processes and
// deletes the finished ones past retention.
func (s *Service) sweep(ctx context.Context) {
	now := s.now()
	names := s.runs.names()
	// A sweep cut short by Stop is no fault.
	if err := s.st.RenewExecutions(ctx, names, now.Add(s.cfg.LeaseTTL)); err != nil && ctx.Err() == nil {
		s.log.Error("renewing execution leases", "err", err)
	}
	for _, n := range names {
		e, err := s.st.GetExecution(ctx, n)
		if errors.Is(err, store.ErrNotFound) || (err == nil && store.ExecutionFinished(e.GetState())) {
			s.runs.cancel(n) // cancelled, or deleted with its workflow, elsewhere
		}
	}
	if _, err := s.st.FailExpiredExecutions(ctx, now, s.interrupted); err != nil && ctx.Err() == nil {
		s.log.Error("ending interrupted executions", "err", err)
	}
	if err := s.deleteOld(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("housekeeping", "err", err)
	}
	s.startAllQueued(ctx)
}

// startAllQueued starts the queued executions that have room: those left
// by a process that died, or whose room was made on another node.
func (s *Service) startAllQueued(ctx context.Context) {
	wfs, err := s.st.QueuedWorkflows(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Error("listing queued executions", "err", err)
	}
	for _, wf := range wfs {
		s.startQueued(ctx, wf)
	}
}

// deleteOld deletes the executions that ended longer ago than Retention.
func (s *Service) deleteOld(ctx context.Context) error {
	if _, err := s.st.DeleteExecutionsEndedBefore(ctx, s.now().Add(-s.cfg.Retention)); err != nil {
		return fmt.Errorf("deleting old executions: %w", err)
	}
	return nil
}

// Finished returns a channel that is closed once the named execution,
// if this process runs it, has ended and its end is stored; closed
// already when it does not run here. Tests and benchmarks wait on it.
func (s *Service) Finished(name string) <-chan struct{} {
	if r := s.runs.get(name); r != nil {
		return r.done
	}
	done := make(chan struct{})
	close(done)
	return done
}

// CallbacksRoute is where CallbacksHandler is served.
const CallbacksRoute = "/callbacks/"

// CallbacksHandler receives the HTTP requests that complete callbacks
// (http://ADDR/callbacks/NAME). Endpoints live in this process's memory:
// with several PostgreSQL nodes, a callback must reach the node running
// its execution.
func (s *Service) CallbacksHandler() http.Handler { return s.callbacks }

// loadOptions are how definitions are loaded: with the server's mocks.
func (s *Service) loadOptions() []workflows.LoadOption {
	if s.cfg.Mocks == nil {
		return nil
	}
	return []workflows.LoadOption{workflows.WithMocks(s.cfg.Mocks)}
}
