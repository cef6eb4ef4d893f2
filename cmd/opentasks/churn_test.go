package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudtasksapi "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/api/googleapi"
	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/opentasks/opentasks/internal/store/postgres/pgtest"
)

// TestChurnLogsNoErrors runs a conformance-style churn (queues created,
// filled, paused, resumed, purged and deleted in quick succession while
// their schedulers deliver, and calls on what was just deleted; targets
// that fail; a SIGTERM with attempts in flight) against a real server
// process at --log-level debug, over gRPC and REST. Every one of these is
// normal use: the server's log may not have a single ERROR
// line, since ERROR is kept for faults an operator must act on. Runs on
// SQLite, and on PostgreSQL when OPENTASKS_TEST_POSTGRES is set.
func TestChurnLogsNoErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a real server process")
	}
	t.Run("sqlite", func(t *testing.T) {
		churn(t, "sqlite:"+filepath.Join(t.TempDir(), "churn.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		churn(t, pgtest.SchemaURL(t))
	})
}

func churn(t *testing.T, store string) {
	ctx := deadline(t, 2*time.Minute)
	// Targets fail too in normal use: every other attempt gets a 503, and
	// each round has a task for a closed port.
	var answered atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if answered.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(target.Close)

	logPath := filepath.Join(t.TempDir(), "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	p := startProcessLogging(t, logFile, "--store", store, "--log-level", "debug")
	clients := []*cloudtasksapi.Client{grpcClient(t, p.addr), restClient(t, p.addr)}

	const workers, rounds, tasks = 8, 12, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[w%len(clients)]
			for r := range rounds {
				if err := churnRound(ctx, c, fmt.Sprintf("projects/churn/locations/us-central1/queues/w%d-r%d", w, r), target.URL, tasks); err != nil {
					errs <- fmt.Errorf("worker %d round %d: %w", w, r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Stopping with attempts in flight is normal too.
	arrived := make(chan struct{}, 1)
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	t.Cleanup(hung.Close)
	const busy = "projects/churn/locations/us-central1/queues/busy"
	if _, err := clients[0].CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: busy[:strings.LastIndex(busy, "/queues/")], Queue: &cloudtaskspb.Queue{Name: busy}}); err != nil {
		t.Fatal(err)
	}
	for range tasks {
		if _, err := clients[0].CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: busy, Task: &cloudtaskspb.Task{
			MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: hung.URL}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-arrived:
	case <-ctx.Done():
		t.Fatal("no attempt reached the hanging target")
	}
	if err := p.terminate(); err != nil {
		t.Errorf("server exit after SIGTERM: %v", err)
	}

	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var rpcs int
	lines := bufio.NewScanner(bytes.NewReader(log))
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		line := lines.Text()
		if strings.Contains(line, " level=ERROR ") {
			t.Errorf("ERROR in the server's log on normal use: %s", line)
		}
		if strings.Contains(line, " msg=rpc ") {
			rpcs++
			// Named: the queue or task the call was about.
			if !strings.Contains(line, " resource=projects/churn/locations/us-central1") {
				t.Errorf("rpc line without its resource: %s", line)
			}
		}
	}
	// The log was the server's, at debug level: every call is in it.
	if want := workers * rounds * (2*tasks + 9); rpcs < want {
		t.Errorf("%d rpc lines in the server's log, want at least %d", rpcs, want)
	}
}

// churnRound puts one queue through its life while its scheduler
// delivers, then calls on it once it is gone; each call must answer as
// Cloud Tasks does.
func churnRound(ctx context.Context, c *cloudtasksapi.Client, queue, url string, tasks int) error {
	parent := queue[:strings.LastIndex(queue, "/queues/")]
	if _, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: parent, Queue: &cloudtaskspb.Queue{Name: queue}}); err != nil {
		return fmt.Errorf("CreateQueue: %w", err)
	}
	create := func() (*cloudtaskspb.Task, error) {
		return c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: &cloudtaskspb.Task{
			MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: url}},
		}})
	}
	for range tasks {
		if _, err := create(); err != nil {
			return fmt.Errorf("CreateTask: %w", err)
		}
	}
	if _, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: &cloudtaskspb.Task{
		MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: "http://127.0.0.1:1/closed"}},
	}}); err != nil {
		return fmt.Errorf("CreateTask for a closed port: %w", err)
	}
	if _, err := c.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: queue}); err != nil {
		return fmt.Errorf("PauseQueue: %w", err)
	}
	for range tasks {
		if _, err := create(); err != nil {
			return fmt.Errorf("CreateTask (paused): %w", err)
		}
	}
	if _, err := c.ResumeQueue(ctx, &cloudtaskspb.ResumeQueueRequest{Name: queue}); err != nil {
		return fmt.Errorf("ResumeQueue: %w", err)
	}
	last, err := create()
	if err != nil {
		return fmt.Errorf("CreateTask (resumed): %w", err)
	}
	if _, err := c.PurgeQueue(ctx, &cloudtaskspb.PurgeQueueRequest{Name: queue}); err != nil {
		return fmt.Errorf("PurgeQueue: %w", err)
	}
	if _, err := create(); err != nil {
		return fmt.Errorf("CreateTask (purged): %w", err)
	}
	// Delete while tasks keep arriving, each waking the scheduler, so that
	// the queue goes while its scheduler steps; the stream then ends with
	// NOT_FOUND.
	streaming, streamed := make(chan struct{}), make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if i == 3 {
				close(streaming)
			}
			if _, err := create(); err != nil {
				if i < 3 {
					close(streaming)
				}
				if callCode(err) == codes.NotFound {
					err = nil
				}
				streamed <- err
				return
			}
		}
	}()
	<-streaming
	if err := c.DeleteQueue(ctx, &cloudtaskspb.DeleteQueueRequest{Name: queue}); err != nil {
		return fmt.Errorf("DeleteQueue: %w", err)
	}
	if err := <-streamed; err != nil {
		return fmt.Errorf("CreateTask while deleting: %w", err)
	}
	// Gone: the recorded NOT_FOUNDs, and the name is held.
	gone := map[string]error{}
	_, gone["GetQueue"] = c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queue})
	_, gone["CreateTask"] = create()
	_, gone["RunTask"] = c.RunTask(ctx, &cloudtaskspb.RunTaskRequest{Name: last.GetName()})
	gone["DeleteQueue"] = c.DeleteQueue(ctx, &cloudtaskspb.DeleteQueueRequest{Name: queue})
	for call, err := range gone {
		if callCode(err) != codes.NotFound {
			return fmt.Errorf("%s on a deleted queue: %v, want NOT_FOUND", call, err)
		}
	}
	_, err = c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: parent, Queue: &cloudtaskspb.Queue{Name: queue}})
	if callCode(err) != codes.FailedPrecondition {
		return fmt.Errorf("CreateQueue of a deleted name: %v, want FAILED_PRECONDITION", err)
	}
	return nil
}

// callCode is the canonical code of an error of the official client over
// either transport: over REST the client maps the HTTP status alone
// (FAILED_PRECONDITION's 400 reads as INVALID_ARGUMENT), so the body's
// status name is read instead.
func callCode(err error) codes.Code {
	var herr *googleapi.Error
	if errors.As(err, &herr) {
		var body struct{ Error struct{ Status string } }
		if json.Unmarshal([]byte(herr.Body), &body) == nil {
			if c, ok := rpccode.Code_value[body.Error.Status]; ok {
				return codes.Code(c)
			}
		}
	}
	return status.Code(err)
}
