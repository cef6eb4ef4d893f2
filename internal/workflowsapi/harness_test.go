package workflowsapi_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	workflows "cloud.google.com/go/workflows/apiv1"
	"cloud.google.com/go/workflows/apiv1/workflowspb"
	executions "cloud.google.com/go/workflows/executions/apiv1"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	ctapi "github.com/opentasks/opentasks/internal/cloudtasks"
	"github.com/opentasks/opentasks/internal/dispatch"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/postgres"
	"github.com/opentasks/opentasks/internal/store/postgres/pgtest"
	"github.com/opentasks/opentasks/internal/store/sqlite"
	"github.com/opentasks/opentasks/internal/workflowsapi"
	wfrun "github.com/opentasks/opentasks/workflows"
)

const (
	loc      = "projects/p/locations/us-central1"
	waitSpan = 30 * time.Second
)

// fullStore is what serve gives the APIs: both store interfaces.
type fullStore interface {
	store.Store
	store.WorkflowStore
}

// openSQLite opens a store file in dir.
func openSQLite(t testing.TB, dir string) fullStore {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "opentasks.db"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// stores are the backends every API test runs on; PostgreSQL only when
// OPENTASKS_TEST_POSTGRES is set.
func stores(t *testing.T) map[string]func(t *testing.T) fullStore {
	m := map[string]func(t *testing.T) fullStore{
		"sqlite": func(t *testing.T) fullStore { return openSQLite(t, t.TempDir()) },
	}
	if os.Getenv("OPENTASKS_TEST_POSTGRES") != "" {
		m["postgres"] = func(t *testing.T) fullStore {
			st, err := postgres.Open(context.Background(), pgtest.SchemaURL(t))
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
	}
	return m
}

// env is a real OpenTasks server (Cloud Tasks, dispatcher, Workflows and
// Executions on one port) with the official clients of each API, over
// gRPC and REST.
type env struct {
	base string // http://127.0.0.1:PORT
	svc  *workflowsapi.Service
	st   fullStore
	wf   map[string]*workflows.Client
	ex   map[string]execAPI
	ct   *cloudtasks.Client
	stop func() // stops the server (and the service); idempotent
}

func start(t testing.TB, st fullStore, cfg workflowsapi.Config) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	d := dispatch.New(st, dispatch.Config{})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.Endpoint = base
	svc := workflowsapi.New(st, st, cfg)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h := server.New(ctapi.New(st, ctapi.Config{Dispatcher: d}),
		server.WithService(&workflowspb.Workflows_ServiceDesc, svc),
		server.WithService(&executionspb.Executions_ServiceDesc, svc),
		server.WithRESTRules(workflowsapi.MixinRules()...),
		server.WithHandler(workflowsapi.CreateExecutionRoute, workflowsapi.CreateExecutionHandler(svc)),
		server.WithHandler(workflowsapi.CallbacksRoute, svc.CallbacksHandler()),
		server.WithHandler(wfrun.CallbackRESTPattern, svc.CallbacksHandler()),
		server.WithHandler(workflowsapi.ListCallbacksRoute, svc.ListCallbacksHandler()))
	served := make(chan error, 1)
	go func() { served <- server.Serve(ctx, ln, h, 5*time.Second) }()
	e := &env{base: base, svc: svc, st: st, wf: map[string]*workflows.Client{}, ex: map[string]execAPI{}}
	stopped := false
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		svc.Stop()
		d.Stop()
	}
	t.Cleanup(func() {
		e.stop()
		st.Close()
	})

	grpcOpts := []option.ClientOption{option.WithEndpoint(ln.Addr().String()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
	restOpts := []option.ClientOption{option.WithEndpoint(base), option.WithoutAuthentication()}
	if e.wf["grpc"], err = workflows.NewClient(ctx, grpcOpts...); err != nil {
		t.Fatal(err)
	}
	if e.wf["rest"], err = workflows.NewRESTClient(ctx, restOpts...); err != nil {
		t.Fatal(err)
	}
	exGRPC, err := executions.NewClient(ctx, grpcOpts...)
	if err != nil {
		t.Fatal(err)
	}
	e.ex["grpc"] = grpcExecutions{exGRPC}
	e.ex["rest"] = restExecutions{base}
	if e.ct, err = cloudtasks.NewRESTClient(ctx, restOpts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range e.wf {
			c.Close()
		}
		exGRPC.Close()
		e.ct.Close()
	})
	return e
}

// deploy creates workflow id from source through transport's client and
// waits for its operation.
func (e *env) deploy(t testing.TB, transport, id, source string, envVars map[string]string) *workflowspb.Workflow {
	t.Helper()
	ctx := context.Background()
	op, err := e.wf[transport].CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{
		Parent: loc, WorkflowId: id,
		Workflow: &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: source}, UserEnvVars: envVars},
	})
	if err != nil {
		t.Fatalf("CreateWorkflow(%s): %v", id, err)
	}
	w, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("CreateWorkflow(%s) operation: %v", id, err)
	}
	return w
}

// execute starts an execution of workflow id with argument (JSON) and
// waits for it to end.
func (e *env) execute(t testing.TB, transport, id, argument string) *executionspb.Execution {
	t.Helper()
	ctx := context.Background()
	started, err := e.ex[transport].CreateExecution(ctx, &executionspb.CreateExecutionRequest{
		Parent: loc + "/workflows/" + id, Execution: &executionspb.Execution{Argument: argument},
	})
	if err != nil {
		t.Fatalf("CreateExecution(%s): %v", id, err)
	}
	if started.GetState() != executionspb.Execution_ACTIVE {
		t.Fatalf("CreateExecution returned state %v, want ACTIVE", started.GetState())
	}
	return e.await(t, transport, started.GetName())
}

// await waits for the execution to end and reads it.
func (e *env) await(t testing.TB, transport, name string) *executionspb.Execution {
	t.Helper()
	select {
	case <-e.svc.Finished(name):
	case <-time.After(waitSpan):
		t.Fatalf("execution %s did not end within %v", name, waitSpan)
	}
	got, err := e.ex[transport].GetExecution(context.Background(), &executionspb.GetExecutionRequest{Name: name})
	if err != nil {
		t.Fatalf("GetExecution: %v", err)
	}
	return got
}

// createQueue creates a queue and a task in it for a target, scheduled an
// hour ahead so that only RunTask runs it.
func (e *env) createTask(t testing.TB, queueID, taskID, url string) string {
	t.Helper()
	ctx := context.Background()
	q := loc + "/queues/" + queueID
	if _, err := e.ct.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: q}); err != nil {
		if _, err := e.ct.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: loc, Queue: &cloudtaskspb.Queue{Name: q}}); err != nil {
			t.Fatal(err)
		}
	}
	task, err := e.ct.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: q, Task: &cloudtaskspb.Task{
		Name:         q + "/tasks/" + taskID,
		ScheduleTime: timestamppb.New(time.Now().Add(time.Hour)),
		MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
			Url: url, Body: []byte(`{"hello":"workflows"}`),
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return task.GetName()
}

// target is an HTTP target that hands every request body to received.
type target struct {
	url      string
	received chan string
	// hold, when not nil, keeps each request open until it is closed.
	hold chan struct{}
}

func newTarget(t testing.TB) *target {
	t.Helper()
	tg := &target{received: make(chan string, 64)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		tg.received <- string(b)
		if tg.hold != nil {
			select {
			case <-tg.hold:
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	tg.url = srv.URL
	return tg
}

func (tg *target) next(t testing.TB) string {
	t.Helper()
	select {
	case b := <-tg.received:
		return b
	case <-time.After(waitSpan):
		t.Fatal("the target was never called")
	}
	return ""
}

// seed is the README's RunTask workflow, the one the workflows package
// tests end to end.
func seed(t testing.TB) string {
	b, err := os.ReadFile("../../workflows/testdata/e2e/seed_run.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func transports() []string { return []string{"grpc", "rest"} }
