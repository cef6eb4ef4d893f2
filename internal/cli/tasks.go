package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Tasks is `opentasks tasks`.
func Tasks() *Group {
	tf := &taskFlags{}
	return &Group{
		Name:    "tasks",
		Summary: "Manage Cloud Tasks tasks (as gcloud tasks).",
		Commands: []*Command{
			{Name: "create-http-task", Args: "[TASK]", Summary: "Create an HTTP task.", Flags: tf.register(true), Run: tf.createHTTP},
			{Name: "create-app-engine-task", Args: "[TASK]", Summary: "Create an App Engine task.", Flags: tf.register(false), Run: tf.createAppEngine},
			{Name: "describe", Args: "TASK", Summary: "Show a task.", Flags: registerTaskRef(true), Run: onTask(describeTask)},
			{Name: "list", Summary: "List a queue's tasks.", Flags: registerTaskList, Run: listTasks},
			{Name: "run", Args: "TASK", Summary: "Dispatch a task now, whatever its schedule and its queue's state.", Flags: registerTaskRef(false), Run: onTask(runTask)},
			{Name: "delete", Args: "TASK", Summary: "Delete a task.", Flags: registerTaskRef(false), Run: onTask(deleteTask)},
		},
	}
}

// taskName is TASK as a full name: a short ID goes under --queue.
func (c *Call) taskName(arg string) (string, error) {
	if strings.HasPrefix(arg, "projects/") {
		return arg, nil
	}
	queue := c.Flags.Lookup("queue").Value.String()
	if queue == "" {
		return "", Usagef("argument --queue: Must be specified with a task ID (or give the full task name).")
	}
	return c.queueName(queue) + "/tasks/" + arg, nil
}

func registerQueueFlag(fs *flag.FlagSet, required bool) {
	usage := "queue `ID` or full name the task is in"
	if required {
		usage += " (required)"
	}
	fs.String("queue", "", usage)
}

func registerTaskRef(withView bool) func(fs *flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		registerQueueFlag(fs, false)
		if withView {
			fs.String("response-view", "basic", "basic, or full to include the body")
		}
	}
}

func registerTaskList(fs *flag.FlagSet) {
	registerQueueFlag(fs, true)
	registerList(false)(fs)
}

// requiredQueue is --queue as a full name, or a usage error.
func (c *Call) requiredQueue() (string, error) {
	q := c.Flags.Lookup("queue").Value.String()
	if q == "" {
		return "", Usagef("argument --queue: Must be specified.")
	}
	return c.queueName(q), nil
}

// taskFlags are the create-*-task flags of one invocation.
type taskFlags struct {
	url, method, bodyContent, bodyFile, scheduleTime string
	relativeURI, routing                             string
	oidcEmail, oidcAudience, oauthEmail, oauthScope  string
	headers                                          []string
}

func (tf *taskFlags) register(http bool) func(fs *flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		*tf = taskFlags{}
		registerQueueFlag(fs, true)
		if http {
			fs.StringVar(&tf.url, "url", "", "full URL the task is sent to (required)")
			fs.StringVar(&tf.oidcEmail, "oidc-service-account-email", "", "service account whose OIDC token the request carries")
			fs.StringVar(&tf.oidcAudience, "oidc-token-audience", "", "audience of that OIDC token (default: the URL)")
			fs.StringVar(&tf.oauthEmail, "oauth-service-account-email", "", "service account whose OAuth token the request carries")
			fs.StringVar(&tf.oauthScope, "oauth-token-scope", "", "scope of that OAuth token")
		} else {
			fs.StringVar(&tf.relativeURI, "relative-uri", "/", "path and query the request goes to")
			fs.StringVar(&tf.routing, "routing", "", "App Engine routing: service:S,version:V,instance:I")
		}
		fs.StringVar(&tf.method, "method", "", "HTTP method (default POST)")
		fs.Func("header", "request header \"KEY: VALUE\"; repeatable", func(v string) error {
			if _, _, err := header(v); err != nil {
				return err
			}
			tf.headers = append(tf.headers, v)
			return nil
		})
		fs.StringVar(&tf.bodyContent, "body-content", "", "request body")
		fs.StringVar(&tf.bodyFile, "body-file", "", "file holding the request body")
		fs.StringVar(&tf.scheduleTime, "schedule-time", "", "when to send it, RFC 3339 (e.g. 2026-01-02T15:04:05Z); default now")
	}
}

// request is what both kinds of task request share.
type request struct {
	method  cloudtaskspb.HttpMethod
	headers map[string]string
	body    []byte
}

// common reads what both kinds of task share: the queue, the task with its
// name and schedule, and the request's method, headers and body.
func (tf *taskFlags) common(c *Call, args []string) (task *cloudtaskspb.Task, queue string, req request, err error) {
	if queue, err = c.requiredQueue(); err != nil {
		return nil, "", req, err
	}
	task = &cloudtaskspb.Task{}
	switch len(args) {
	case 0:
	case 1:
		task.Name, err = c.taskName(args[0])
		if err != nil {
			return nil, "", req, err
		}
	default:
		return nil, "", req, Usagef("unrecognized arguments: %s", strings.Join(args[1:], " "))
	}
	if tf.method != "" {
		if req.method, err = parseMethod(tf.method); err != nil {
			return nil, "", req, Usagef("argument --method: %v", err)
		}
	}
	for _, h := range tf.headers {
		k, v, _ := header(h)
		if req.headers == nil {
			req.headers = map[string]string{}
		}
		req.headers[k] = v
	}
	switch {
	case tf.bodyContent != "" && tf.bodyFile != "":
		return nil, "", req, Usagef("argument --body-content: At most one of --body-content | --body-file can be specified.")
	case tf.bodyContent != "":
		req.body = []byte(tf.bodyContent)
	case tf.bodyFile != "":
		if req.body, err = os.ReadFile(tf.bodyFile); err != nil {
			return nil, "", req, fmt.Errorf("reading --body-file: %w", err)
		}
	}
	if tf.scheduleTime != "" {
		t, err := time.Parse(time.RFC3339Nano, tf.scheduleTime)
		if err != nil {
			return nil, "", req, Usagef("argument --schedule-time: %q is not an RFC 3339 time (e.g. 2026-01-02T15:04:05Z)", tf.scheduleTime)
		}
		task.ScheduleTime = timestamppb.New(t)
	}
	return task, queue, req, nil
}

func (tf *taskFlags) createHTTP(ctx context.Context, c *Call, args []string) error {
	task, queue, parts, err := tf.common(c, args)
	if err != nil {
		return err
	}
	if tf.url == "" {
		return Usagef("argument --url: Must be specified.")
	}
	req := &cloudtaskspb.HttpRequest{Url: tf.url, HttpMethod: parts.method, Headers: parts.headers, Body: parts.body}
	switch {
	case tf.oidcEmail != "" && tf.oauthEmail != "":
		return Usagef("argument --oidc-service-account-email: At most one of --oidc-service-account-email | --oauth-service-account-email can be specified.")
	case tf.oidcEmail != "":
		req.AuthorizationHeader = &cloudtaskspb.HttpRequest_OidcToken{OidcToken: &cloudtaskspb.OidcToken{ServiceAccountEmail: tf.oidcEmail, Audience: tf.oidcAudience}}
	case tf.oauthEmail != "":
		req.AuthorizationHeader = &cloudtaskspb.HttpRequest_OauthToken{OauthToken: &cloudtaskspb.OAuthToken{ServiceAccountEmail: tf.oauthEmail, Scope: tf.oauthScope}}
	case tf.oidcAudience != "" || tf.oauthScope != "":
		return Usagef("--oidc-token-audience and --oauth-token-scope need their service account email flag")
	}
	task.MessageType = &cloudtaskspb.Task_HttpRequest{HttpRequest: req}
	return createTask(ctx, c, queue, task)
}

func (tf *taskFlags) createAppEngine(ctx context.Context, c *Call, args []string) error {
	task, queue, parts, err := tf.common(c, args)
	if err != nil {
		return err
	}
	req := &cloudtaskspb.AppEngineHttpRequest{RelativeUri: tf.relativeURI, HttpMethod: parts.method, Headers: parts.headers, Body: parts.body}
	if tf.routing != "" {
		kv, err := keyValues(tf.routing, "service", "version", "instance")
		if err != nil {
			return Usagef("argument --routing: %v", err)
		}
		req.AppEngineRouting = &cloudtaskspb.AppEngineRouting{Service: kv["service"], Version: kv["version"], Instance: kv["instance"]}
	}
	task.MessageType = &cloudtaskspb.Task_AppEngineHttpRequest{AppEngineHttpRequest: req}
	return createTask(ctx, c, queue, task)
}

func createTask(ctx context.Context, c *Call, queue string, task *cloudtaskspb.Task) error {
	return c.WithClient(ctx, func(client *cloudtasks.Client) error {
		t, err := client.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: task})
		if err != nil {
			return err
		}
		Status(c, "Created task [%s].", t.Name)
		return PrintResult(c, t, taskColumns())
	})
}

// taskColumns returns gcloud's task list columns.
func taskColumns() []Column[*cloudtaskspb.Task] {
	return []Column[*cloudtaskspb.Task]{
		{"TASK_NAME", func(t *cloudtaskspb.Task) string { return queueID(t.Name) }},
		{"TYPE", func(t *cloudtaskspb.Task) string {
			switch t.MessageType.(type) {
			case *cloudtaskspb.Task_HttpRequest:
				return "http"
			case *cloudtaskspb.Task_AppEngineHttpRequest:
				return "app-engine"
			}
			return "pull"
		}},
		{"CREATE_TIME", func(t *cloudtaskspb.Task) string { return timeString(t.CreateTime) }},
		{"SCHEDULE_TIME", func(t *cloudtaskspb.Task) string { return timeString(t.ScheduleTime) }},
		{"DISPATCH_ATTEMPTS", func(t *cloudtaskspb.Task) string { return strconv.Itoa(int(t.DispatchCount)) }},
		{"RESPONSE_ATTEMPTS", func(t *cloudtaskspb.Task) string { return strconv.Itoa(int(t.ResponseCount)) }},
		{"LAST_ATTEMPT_STATUS", func(t *cloudtaskspb.Task) string {
			if m := t.GetLastAttempt().GetResponseStatus().GetMessage(); m != "" {
				return m
			}
			return "Unknown"
		}},
	}
}

func timeString(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

func viewOf(c *Call) (cloudtaskspb.Task_View, error) {
	switch v := strings.ToUpper(c.Flags.Lookup("response-view").Value.String()); v {
	case "BASIC", "FULL":
		return cloudtaskspb.Task_View(cloudtaskspb.Task_View_value[v]), nil
	}
	return 0, Usagef("argument --response-view: want basic or full")
}

// onTask makes a verb of f, which gets TASK's full name and a client.
func onTask(f func(ctx context.Context, c *Call, client *cloudtasks.Client, name string) error) func(context.Context, *Call, []string) error {
	return func(ctx context.Context, c *Call, args []string) error {
		arg, err := oneArg(args, "TASK")
		if err != nil {
			return err
		}
		name, err := c.taskName(arg)
		if err != nil {
			return err
		}
		return c.WithClient(ctx, func(client *cloudtasks.Client) error { return f(ctx, c, client, name) })
	}
}

func describeTask(ctx context.Context, c *Call, client *cloudtasks.Client, name string) error {
	view, err := viewOf(c)
	if err != nil {
		return err
	}
	t, err := client.GetTask(ctx, &cloudtaskspb.GetTaskRequest{Name: name, ResponseView: view})
	if err != nil {
		return err
	}
	return PrintOne(c, t, taskColumns())
}

func runTask(ctx context.Context, c *Call, client *cloudtasks.Client, name string) error {
	t, err := client.RunTask(ctx, &cloudtaskspb.RunTaskRequest{Name: name})
	if err != nil {
		return err
	}
	return PrintOne(c, t, taskColumns())
}

func deleteTask(ctx context.Context, c *Call, client *cloudtasks.Client, name string) error {
	if err := client.DeleteTask(ctx, &cloudtaskspb.DeleteTaskRequest{Name: name}); err != nil {
		return err
	}
	Status(c, "Deleted task [%s].", queueID(name))
	return nil
}

func listTasks(ctx context.Context, c *Call, args []string) error {
	if len(args) > 0 {
		return Usagef("unrecognized arguments: %s", strings.Join(args, " "))
	}
	queue, err := c.requiredQueue()
	if err != nil {
		return err
	}
	return c.WithClient(ctx, func(client *cloudtasks.Client) error {
		lf, err := listOptions(c.Flags)
		if err != nil {
			return err
		}
		it := client.ListTasks(ctx, &cloudtaskspb.ListTasksRequest{Parent: queue, PageSize: int32(lf.pageSize)})
		return listAll(c, lf, it.Next, taskColumns())
	})
}
