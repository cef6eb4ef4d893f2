package cli

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// Queues is `opentasks queues`.
func Queues() *Group {
	fields := &queueFields{}
	return &Group{
		Name:    "queues",
		Summary: "Manage Cloud Tasks queues (as gcloud tasks queues).",
		Commands: []*Command{
			{Name: "create", Args: "QUEUE", Summary: "Create a queue.", Flags: fields.register(false), Run: fields.create},
			{Name: "update", Args: "QUEUE", Summary: "Update a queue's settings (only those given).", Flags: fields.register(true), Run: fields.update},
			{Name: "describe", Args: "QUEUE", Summary: "Show a queue.", Run: onQueue(describeQueue)},
			{Name: "list", Summary: "List the queues of a location.", Flags: registerList(true), Run: listQueues},
			{Name: "pause", Args: "QUEUE", Summary: "Pause a queue's dispatch.", Run: queueState("pause")},
			{Name: "resume", Args: "QUEUE", Summary: "Resume a paused queue.", Run: queueState("resume")},
			{Name: "purge", Args: "QUEUE", Summary: "Delete all of a queue's tasks.", Run: queueState("purge")},
			{Name: "delete", Args: "QUEUE", Summary: "Delete a queue and its tasks.", Run: queueState("delete")},
		},
	}
}

// queueName is QUEUE as a full name: a short ID goes under --project and
// --location.
func (c *Call) queueName(arg string) string {
	if strings.HasPrefix(arg, "projects/") {
		return arg
	}
	return c.LocationName() + "/queues/" + arg
}

// shortQueue is the "LOCATION/QUEUE" gcloud shows in status lines.
func shortQueue(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) == 6 {
		return parts[3] + "/" + parts[5]
	}
	return name
}

func queueID(name string) string { return name[strings.LastIndex(name, "/")+1:] }

func oneArg(args []string, what string) (string, error) {
	if len(args) != 1 {
		if len(args) == 0 {
			return "", Usagef("argument %s: Must be specified.", what)
		}
		return "", Usagef("unrecognized arguments: %s", strings.Join(args[1:], " "))
	}
	return args[0], nil
}

// queueField is one of gcloud's queue flags: what it sets, and the update
// mask path its --clear- twin resets.
type queueField struct {
	flag, path, usage string
	set               func(q *cloudtaskspb.Queue, v string) error
}

func rateLimits(q *cloudtaskspb.Queue) *cloudtaskspb.RateLimits {
	if q.RateLimits == nil {
		q.RateLimits = &cloudtaskspb.RateLimits{}
	}
	return q.RateLimits
}

func retryConfig(q *cloudtaskspb.Queue) *cloudtaskspb.RetryConfig {
	if q.RetryConfig == nil {
		q.RetryConfig = &cloudtaskspb.RetryConfig{}
	}
	return q.RetryConfig
}

func httpTarget(q *cloudtaskspb.Queue) *cloudtaskspb.HttpTarget {
	if q.HttpTarget == nil {
		q.HttpTarget = &cloudtaskspb.HttpTarget{}
	}
	return q.HttpTarget
}

func oidcOverride(q *cloudtaskspb.Queue) *cloudtaskspb.OidcToken {
	ht := httpTarget(q)
	if t, ok := ht.AuthorizationHeader.(*cloudtaskspb.HttpTarget_OidcToken); ok {
		return t.OidcToken
	}
	t := &cloudtaskspb.OidcToken{}
	ht.AuthorizationHeader = &cloudtaskspb.HttpTarget_OidcToken{OidcToken: t}
	return t
}

func oauthOverride(q *cloudtaskspb.Queue) *cloudtaskspb.OAuthToken {
	ht := httpTarget(q)
	if t, ok := ht.AuthorizationHeader.(*cloudtaskspb.HttpTarget_OauthToken); ok {
		return t.OauthToken
	}
	t := &cloudtaskspb.OAuthToken{}
	ht.AuthorizationHeader = &cloudtaskspb.HttpTarget_OauthToken{OauthToken: t}
	return t
}

func parseInt32(v string) (int32, error) {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", v)
	}
	return int32(n), nil
}

func parseFloat(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", v)
	}
	return f, nil
}

func parseMethod(v string) (cloudtaskspb.HttpMethod, error) {
	m, ok := cloudtaskspb.HttpMethod_value[strings.ToUpper(v)]
	if !ok || m == 0 {
		return 0, fmt.Errorf("%q: want GET, POST, PUT, DELETE, PATCH, HEAD or OPTIONS", v)
	}
	return cloudtaskspb.HttpMethod(m), nil
}

// queueFieldList returns gcloud's queue flags (gcloud tasks queues create).
func queueFieldList() []queueField {
	return []queueField{
		{"max-attempts", "retry_config.max_attempts", "most attempts per task, -1 or `unlimited` for no limit", func(q *cloudtaskspb.Queue, v string) error {
			if v == "unlimited" {
				retryConfig(q).MaxAttempts = -1
				return nil
			}
			n, err := parseInt32(v)
			retryConfig(q).MaxAttempts = n
			return err
		}},
		{"max-retry-duration", "retry_config.max_retry_duration", "time limit for retrying a task (e.g. 1h; 0 for none)", func(q *cloudtaskspb.Queue, v string) (err error) {
			retryConfig(q).MaxRetryDuration, err = parseDuration(v)
			return err
		}},
		{"min-backoff", "retry_config.min_backoff", "least wait before a retry (e.g. 0.1s)", func(q *cloudtaskspb.Queue, v string) (err error) {
			retryConfig(q).MinBackoff, err = parseDuration(v)
			return err
		}},
		{"max-backoff", "retry_config.max_backoff", "longest wait before a retry (e.g. 3600s)", func(q *cloudtaskspb.Queue, v string) (err error) {
			retryConfig(q).MaxBackoff, err = parseDuration(v)
			return err
		}},
		{"max-doublings", "retry_config.max_doublings", "times the retry interval doubles before growing linearly", func(q *cloudtaskspb.Queue, v string) (err error) {
			retryConfig(q).MaxDoublings, err = parseInt32(v)
			return err
		}},
		{"max-dispatches-per-second", "rate_limits.max_dispatches_per_second", "most task dispatches per second (at most 500)", func(q *cloudtaskspb.Queue, v string) (err error) {
			rateLimits(q).MaxDispatchesPerSecond, err = parseFloat(v)
			return err
		}},
		{"max-concurrent-dispatches", "rate_limits.max_concurrent_dispatches", "most tasks in flight at once (at most 5000)", func(q *cloudtaskspb.Queue, v string) (err error) {
			rateLimits(q).MaxConcurrentDispatches, err = parseInt32(v)
			return err
		}},
		{"routing-override", "app_engine_routing_override", "App Engine routing for every task: service:S,version:V,instance:I", func(q *cloudtaskspb.Queue, v string) error {
			kv, err := keyValues(v, "service", "version", "instance")
			q.AppEngineRoutingOverride = &cloudtaskspb.AppEngineRouting{Service: kv["service"], Version: kv["version"], Instance: kv["instance"]}
			return err
		}},
		{"log-sampling-ratio", "stackdriver_logging_config.sampling_ratio", "fraction of task operations to log, 0 to 1", func(q *cloudtaskspb.Queue, v string) error {
			f, err := parseFloat(v)
			q.StackdriverLoggingConfig = &cloudtaskspb.StackdriverLoggingConfig{SamplingRatio: f}
			return err
		}},
		{"http-uri-override", "http_target.uri_override", "override of HTTP tasks' URL: scheme:,host:,port:,path:,query:,mode:(ALWAYS|IF_NOT_EXISTS)", func(q *cloudtaskspb.Queue, v string) error {
			kv, err := keyValues(v, "scheme", "host", "port", "path", "query", "mode")
			if err != nil {
				return err
			}
			o := &cloudtaskspb.UriOverride{}
			if s, ok := kv["scheme"]; ok {
				sc, ok := cloudtaskspb.UriOverride_Scheme_value[strings.ToUpper(s)]
				if !ok {
					return fmt.Errorf("scheme %q: want http or https", s)
				}
				o.Scheme = cloudtaskspb.UriOverride_Scheme(sc).Enum()
			}
			if h, ok := kv["host"]; ok {
				o.Host = &h
			}
			if p, ok := kv["port"]; ok {
				n, err := strconv.ParseInt(p, 10, 64)
				if err != nil {
					return fmt.Errorf("port %q is not a number", p)
				}
				o.Port = &n
			}
			if p, ok := kv["path"]; ok {
				o.PathOverride = &cloudtaskspb.PathOverride{Path: p}
			}
			if qs, ok := kv["query"]; ok {
				o.QueryOverride = &cloudtaskspb.QueryOverride{QueryParams: qs}
			}
			if m, ok := kv["mode"]; ok {
				mode, ok := cloudtaskspb.UriOverride_UriOverrideEnforceMode_value[strings.ToUpper(m)]
				if !ok {
					return fmt.Errorf("mode %q: want ALWAYS or IF_NOT_EXISTS", m)
				}
				o.UriOverrideEnforceMode = cloudtaskspb.UriOverride_UriOverrideEnforceMode(mode)
			}
			httpTarget(q).UriOverride = o
			return nil
		}},
		{"http-method-override", "http_target.http_method", "HTTP method for every HTTP task", func(q *cloudtaskspb.Queue, v string) (err error) {
			httpTarget(q).HttpMethod, err = parseMethod(v)
			return err
		}},
		{"http-header-override", "http_target.header_overrides", "header for every HTTP task, \"KEY: VALUE\"; repeatable", func(q *cloudtaskspb.Queue, v string) error {
			k, val, err := header(v)
			ht := httpTarget(q)
			ht.HeaderOverrides = append(ht.HeaderOverrides, &cloudtaskspb.HttpTarget_HeaderOverride{Header: &cloudtaskspb.HttpTarget_Header{Key: k, Value: val}})
			return err
		}},
		{"http-oidc-service-account-email-override", "http_target.oidc_token", "service account whose OIDC token every HTTP task carries", func(q *cloudtaskspb.Queue, v string) error {
			oidcOverride(q).ServiceAccountEmail = v
			return nil
		}},
		{"http-oidc-token-audience-override", "http_target.oidc_token", "audience of that OIDC token", func(q *cloudtaskspb.Queue, v string) error {
			oidcOverride(q).Audience = v
			return nil
		}},
		{"http-oauth-service-account-email-override", "http_target.oauth_token", "service account whose OAuth token every HTTP task carries", func(q *cloudtaskspb.Queue, v string) error {
			oauthOverride(q).ServiceAccountEmail = v
			return nil
		}},
		{"http-oauth-token-scope-override", "http_target.oauth_token", "scope of that OAuth token", func(q *cloudtaskspb.Queue, v string) error {
			oauthOverride(q).Scope = v
			return nil
		}},
	}
}

// queueFields collects the queue flags of one invocation.
type queueFields struct {
	queue *cloudtaskspb.Queue
	paths []string
	clear []string
}

func (f *queueFields) register(withClear bool) func(fs *flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		f.queue, f.paths, f.clear = &cloudtaskspb.Queue{}, nil, nil
		for _, qf := range queueFieldList() {
			fs.Func(qf.flag, qf.usage, func(v string) error {
				if err := qf.set(f.queue, v); err != nil {
					return err
				}
				f.paths = append(f.paths, qf.path)
				return nil
			})
			if withClear {
				fs.BoolFunc("clear-"+qf.flag, "reset --"+qf.flag+" to the default", func(string) error {
					f.clear = append(f.clear, qf.path)
					return nil
				})
			}
		}
	}
}

// queueWarning is said before changing a queue, as gcloud warns that
// queue.yaml would undo it.
const queueWarning = "WARNING: a queue file given to `opentasks serve --queues` sets the queues it declares again on every start, undoing changes made here to them."

// onQueue makes a verb of f, which gets QUEUE's full name and a client.
func onQueue(f func(ctx context.Context, c *Call, client *cloudtasks.Client, name string) error) func(context.Context, *Call, []string) error {
	return func(ctx context.Context, c *Call, args []string) error {
		arg, err := oneArg(args, "QUEUE")
		if err != nil {
			return err
		}
		return c.WithClient(ctx, func(client *cloudtasks.Client) error { return f(ctx, c, client, c.queueName(arg)) })
	}
}

func (f *queueFields) create(ctx context.Context, c *Call, args []string) error {
	return onQueue(func(ctx context.Context, c *Call, client *cloudtasks.Client, name string) error {
		f.queue.Name = name
		q, err := client.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: name[:strings.LastIndex(name, "/queues/")], Queue: f.queue})
		if err != nil {
			return err
		}
		Status(c, "Created queue [%s].", shortQueue(q.Name))
		return PrintResult(c, q, queueColumns())
	})(ctx, c, args)
}

func (f *queueFields) update(ctx context.Context, c *Call, args []string) error {
	paths := slices.Compact(slices.Sorted(slices.Values(append(f.paths, f.clear...))))
	if len(paths) == 0 {
		return Usagef("Must specify at least one field to update.")
	}
	for _, p := range f.clear {
		if slices.Contains(f.paths, p) {
			return Usagef("a --clear- flag and the flag it clears were both given (%s)", p)
		}
	}
	return onQueue(func(ctx context.Context, c *Call, client *cloudtasks.Client, name string) error {
		f.queue.Name = name
		Status(c, "%s", queueWarning)
		q, err := client.UpdateQueue(ctx, &cloudtaskspb.UpdateQueueRequest{Queue: f.queue, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
		if err != nil {
			return err
		}
		Status(c, "Updated queue [%s].", queueID(q.Name))
		return PrintResult(c, q, queueColumns())
	})(ctx, c, args)
}

// queueColumns returns gcloud's queue list columns.
func queueColumns() []Column[*cloudtaskspb.Queue] {
	return []Column[*cloudtaskspb.Queue]{
		{"QUEUE_NAME", func(q *cloudtaskspb.Queue) string { return queueID(q.Name) }},
		{"STATE", func(q *cloudtaskspb.Queue) string { return q.State.String() }},
		{"MAX_NUM_OF_TASKS", func(q *cloudtaskspb.Queue) string {
			return unlimited(int64(q.GetRateLimits().GetMaxConcurrentDispatches()))
		}},
		{"MAX_RATE (/sec)", func(q *cloudtaskspb.Queue) string {
			return strconv.FormatFloat(q.GetRateLimits().GetMaxDispatchesPerSecond(), 'f', -1, 64)
		}},
		{"MAX_ATTEMPTS", func(q *cloudtaskspb.Queue) string { return unlimited(int64(q.GetRetryConfig().GetMaxAttempts())) }},
	}
}

// unlimited shows an empty or -1 limit as gcloud does.
func unlimited(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	return strconv.FormatInt(n, 10)
}

func describeQueue(ctx context.Context, c *Call, client *cloudtasks.Client, name string) error {
	q, err := client.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: name})
	if err != nil {
		return err
	}
	return PrintOne(c, q, queueColumns())
}

func listQueues(ctx context.Context, c *Call, args []string) error {
	if len(args) > 0 {
		return Usagef("unrecognized arguments: %s", strings.Join(args, " "))
	}
	return c.WithClient(ctx, func(client *cloudtasks.Client) error {
		lf, err := listOptions(c.Flags)
		if err != nil {
			return err
		}
		it := client.ListQueues(ctx, &cloudtaskspb.ListQueuesRequest{Parent: c.LocationName(), Filter: lf.filter, PageSize: int32(lf.pageSize)})
		return listAll(c, lf, it.Next, queueColumns())
	})
}

// queueState is pause, resume, purge or delete.
func queueState(verb string) func(context.Context, *Call, []string) error {
	return onQueue(func(ctx context.Context, c *Call, client *cloudtasks.Client, name string) error {
		var err error
		switch verb {
		case "purge", "delete":
			if err := c.Confirm(fmt.Sprintf("You are about to %s queue [%s].", verb, queueID(name))); err != nil {
				return err
			}
		}
		if verb != "purge" {
			Status(c, "%s", queueWarning)
		}
		var q *cloudtaskspb.Queue
		switch verb {
		case "pause":
			q, err = client.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: name})
		case "resume":
			q, err = client.ResumeQueue(ctx, &cloudtaskspb.ResumeQueueRequest{Name: name})
		case "purge":
			q, err = client.PurgeQueue(ctx, &cloudtaskspb.PurgeQueueRequest{Name: name})
		case "delete":
			err = client.DeleteQueue(ctx, &cloudtaskspb.DeleteQueueRequest{Name: name})
		}
		if err != nil {
			return err
		}
		past := map[string]string{"pause": "Paused", "resume": "Resumed", "purge": "Purged", "delete": "Deleted"}[verb]
		Status(c, "%s queue [%s].", past, queueID(name))
		if q != nil {
			return PrintResult(c, q, queueColumns())
		}
		return nil
	})
}
