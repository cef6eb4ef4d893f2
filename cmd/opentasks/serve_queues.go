package main

import (
	"context"
	"flag"
	"log/slog"
	"strings"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/opentasks/opentasks/internal/cloudtasks"
	"github.com/opentasks/opentasks/internal/queuefile"
	"github.com/opentasks/opentasks/internal/server"
)

// queueFlags are serve's declared-queue flags (docs/operations.md).
type queueFlags struct {
	files      stringList
	names      stringList
	parent     string
	autoCreate bool
	decls      []queuefile.Decl
}

func (q *queueFlags) register(fs *flag.FlagSet) {
	fs.Var(&q.files, "queues", "create or update the queues this `FILE` declares on every start (queue.yaml, or a list of Queue resources in YAML or JSON); repeatable")
	fs.StringVar(&q.parent, "queues-parent", queuefile.DefaultParent, "`projects/P/locations/L` that queue.yaml's queues go under")
	fs.Var(&q.names, "queue", "create this queue (full `NAME`, projects/P/locations/L/queues/Q) with defaults if it does not exist; repeatable")
	fs.BoolVar(&q.autoCreate, "auto-create-queues", false, "create a missing queue on CreateTask (Cloud Tasks never does; for test set-ups)")
}

// load reads every file before anything changes, so that a bad file stops
// the start without applying the good ones.
func (q *queueFlags) load() error {
	for _, f := range q.files {
		decls, err := queuefile.ReadFile(f, q.parent)
		if err != nil {
			return err
		}
		q.decls = append(q.decls, decls...)
	}
	return nil
}

// declare applies the files and --queue flags through the service.
func (q *queueFlags) declare(ctx context.Context, svc *cloudtasks.Service, logger *slog.Logger) error {
	qs, err := queuefile.Apply(ctx, svc, q.decls)
	if err != nil {
		return err
	}
	for i, queue := range qs {
		logger.Info("declared queue", "queue", queue.Name, "state", queue.State, "from", q.decls[i].Source)
	}
	return queuefile.Ensure(ctx, svc, q.names)
}

// api is what the server serves: svc, creating missing queues on
// CreateTask when --auto-create-queues is set.
func (q *queueFlags) api(svc *cloudtasks.Service) server.API {
	if q.autoCreate {
		return autoCreating{svc}
	}
	return svc
}

// autoCreating creates a task's missing queue, with defaults, then the task.
type autoCreating struct {
	*cloudtasks.Service
}

func (a autoCreating) CreateTask(ctx context.Context, req *cloudtaskspb.CreateTaskRequest) (*cloudtaskspb.Task, error) {
	t, err := a.Service.CreateTask(ctx, req)
	if status.Code(err) != codes.NotFound {
		return t, err
	}
	name := req.GetParent()
	if _, qerr := a.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: name}); status.Code(qerr) != codes.NotFound {
		return t, err
	}
	// The queue name is valid: CreateTask checked it before looking.
	parent := name[:strings.LastIndex(name, "/queues/")]
	_, err = a.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: parent, Queue: &cloudtaskspb.Queue{Name: name}})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		// A recently deleted name stays reserved: say so, as CreateQueue does.
		return nil, err
	}
	return a.Service.CreateTask(ctx, req)
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

var _ flag.Value = (*stringList)(nil)
