package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opentasks/opentasks/workflows"
)

const workflowsUsage = `usage: opentasks workflows deploy|describe|list|delete|execute|run NAME ... (on a server)
       opentasks workflows executions list|describe|cancel ... (on a server)
       opentasks workflows run FILE [--data JSON] [--endpoint URL] [--env KEY=VALUE ...]
       [--project ID] [--location L] [--workflow-id ID] [--revision-id ID] [--execution-id ID]
       [--mocks FILE] [--callback-addr HOST:PORT]

The first forms speak the Workflows and Executions APIs of an OpenTasks server
(--endpoint, --project, --location, --format as for queues); "run NAME" waits for
the execution and prints it as gcloud workflows run does. "opentasks workflows
deploy --help" and the like describe each.

"run FILE" runs a Google Cloud Workflows definition (YAML or JSON) locally; FILE "-" reads
it from standard input. The result is printed as JSON on stdout; an error is
printed as JSON on stderr followed by the step, routine and line where it was
raised, with exit status 1.

The built-in variables GOOGLE_CLOUD_PROJECT_ID, GOOGLE_CLOUD_LOCATION,
GOOGLE_CLOUD_WORKFLOW_ID, GOOGLE_CLOUD_WORKFLOW_REVISION_ID and
GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID come from the flags above; by default the
project and location are read from the environment (location us-central1 when
unset), the workflow ID is FILE's base name, the revision ID is derived from the
source and the execution ID is a new UUID.

--mocks FILE answers calls from a YAML list of rules instead of the world, and
lets the workflow use connectors OpenTasks does not have (docs/workflows-mocks.md).

Callback endpoints (events.create_callback_endpoint) are served during the run at
http://HOST:PORT/callbacks/... on --callback-addr (default 127.0.0.1:0, a free port;
the workflow sees the URL, and sys.log can print it).
`

// envFlags collects repeated --env KEY=VALUE flags.
type envFlags map[string]string

func (e envFlags) String() string { return "" }

func (e envFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	e[k] = v
	return nil
}

// runWorkflows implements `opentasks workflows ...`; args follow "workflows".
// The process environment (environ) and --env feed sys.get_env.
func runWorkflows(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) int {
	return routeWorkflows(ctx, args, os.Stdin, stdout, stderr, environ)
}

// runWorkflowsIO is runWorkflows with standard input given, for FILE "-".
func runWorkflowsIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprint(stderr, workflowsUsage)
		return 2
	}
	env := envFlags{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			env[k] = v
		}
	}
	fs := flag.NewFlagSet("workflows run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, workflowsUsage) }
	data := fs.String("data", "", "execution argument as JSON")
	endpoint := fs.String("endpoint", workflows.DefaultEndpoint, "Cloud Tasks endpoint for connectors")
	fs.Var(env, "env", "KEY=VALUE for sys.get_env (repeatable)")
	callbackAddr := fs.String("callback-addr", "127.0.0.1:0", "address that serves callback endpoints during the run")
	mocksFile := fs.String("mocks", "", "YAML file of mock rules that answer calls (docs/workflows-mocks.md)")
	var id workflows.Identity
	fs.StringVar(&id.ProjectID, "project", "", "GOOGLE_CLOUD_PROJECT_ID (default: from the environment)")
	fs.StringVar(&id.Location, "location", "", "GOOGLE_CLOUD_LOCATION (default: from the environment, else "+workflows.DefaultLocation+")")
	fs.StringVar(&id.WorkflowID, "workflow-id", "", "GOOGLE_CLOUD_WORKFLOW_ID (default: FILE's base name)")
	fs.StringVar(&id.RevisionID, "revision-id", "", "GOOGLE_CLOUD_WORKFLOW_REVISION_ID (default: derived from the source)")
	fs.StringVar(&id.ExecutionID, "execution-id", "", "GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID (default: a new UUID)")
	// Flags may come before or after FILE.
	var files []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 {
		fmt.Fprint(stderr, workflowsUsage)
		return 2
	}
	var arg any
	var err error
	if *data != "" {
		if arg, err = workflows.DecodeJSON([]byte(*data)); err != nil {
			fmt.Fprintf(stderr, "opentasks: --data is not valid JSON: %v\n", err)
			return 2
		}
	}
	src, err := readSource(files[0], stdin)
	if err != nil {
		fmt.Fprintf(stderr, "opentasks: %v\n", err)
		return 1
	}
	var mocks *workflows.Mocks
	var loadOpts []workflows.LoadOption
	if *mocksFile != "" {
		if mocks, err = workflows.LoadMocksFile(*mocksFile); err != nil {
			fmt.Fprintf(stderr, "opentasks: --mocks: %v\n", err)
			return 2
		}
		loadOpts = append(loadOpts, workflows.WithMocks(mocks))
	}
	wf, err := workflows.Load(src, loadOpts...)
	if err != nil {
		fmt.Fprintf(stderr, "opentasks: %s: %v\n", files[0], err)
		return 1
	}
	if id.WorkflowID == "" {
		id.WorkflowID = workflowIDFromFile(files[0])
	}
	if id.Location == "" {
		id.Location = env["GOOGLE_CLOUD_LOCATION"]
	}
	callbacks, stopCallbacks, err := serveCallbacks(*callbackAddr)
	if err != nil {
		fmt.Fprintf(stderr, "opentasks: --callback-addr: %v\n", err)
		return 2
	}
	defer stopCallbacks()
	result, err := wf.Run(ctx, arg, workflows.Config{Endpoint: *endpoint, Env: env, Identity: id, Log: stderr, Mocks: mocks, Callbacks: callbacks})
	var werr *workflows.Error
	switch {
	case errors.As(err, &werr):
		payload, jerr := workflows.EncodeJSON(werr.Value)
		if jerr != nil {
			payload = []byte(fmt.Sprintf("%q", werr.Message()))
		}
		fmt.Fprintf(stderr, "%s\n%s\n", payload, werr.Context())
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "opentasks: %v\n", err)
		return 1
	}
	out, err := workflows.EncodeJSON(result)
	if err != nil {
		fmt.Fprintf(stderr, "opentasks: the result cannot be returned: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return 0
}

// readSource reads the definition from FILE, or from stdin for "-".
func readSource(file string, stdin io.Reader) ([]byte, error) {
	if file == "-" {
		src, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("reading the workflow from standard input: %w", err)
		}
		return src, nil
	}
	return os.ReadFile(file)
}

// workflowIDFromFile names a local run after its file (flow.yaml → flow),
// kept to the characters a workflow ID allows; "workflow" when nothing is
// left (and for standard input).
func workflowIDFromFile(file string) string {
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	id := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return '-'
	}, base)
	id = strings.TrimLeft(id, "-_0123456789")
	if file == "-" || id == "" {
		return "workflow"
	}
	return id
}

// serveCallbacks serves an in-memory callback registry on addr for the
// length of a run, so that a standalone run can receive callbacks.
func serveCallbacks(addr string) (*workflows.MemoryCallbacks, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	callbacks := workflows.NewMemoryCallbacks("http://" + dialable(ln.Addr().String()))
	mux := http.NewServeMux()
	mux.Handle("/callbacks/", callbacks)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns when closed below
	}()
	return callbacks, func() {
		// Shutdown, not Close: the callback that ended the run may still
		// be writing its 200 to the caller.
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}
