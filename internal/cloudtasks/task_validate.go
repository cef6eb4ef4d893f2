package cloudtasks

import (
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"golang.org/x/net/http/httpguts"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store"
)

// Task limits of spec sections 4.4 and 4.5.
const (
	maxTaskSize          = 1048569 // serialized stored task, measured on Cloud Tasks
	maxScheduleAhead     = 720 * time.Hour
	minDeadline          = 15 * time.Second
	maxHTTPDeadline      = 30 * time.Minute
	maxAppEngineDeadline = 24*time.Hour + 15*time.Second
	defaultHTTPDeadline  = 10 * time.Minute

	httpUserAgent      = "Google-Cloud-Tasks"
	appEngineUserAgent = "AppEngine-Google; (+http://code.google.com/appengine)"
)

// newTaskID returns an ID shaped like Cloud Tasks' own (decimal digits,
// 19 or 20 of them): the creation time in microseconds followed by four
// digits of a counter that starts at random. Time-ordered IDs land next to
// each other in the store's indexes, so a batch of creates dirties a few
// pages instead of one page per task; the counter keeps IDs made in the
// same microsecond apart.
func (s *Service) newTaskID() string {
	var b [24]byte
	id := strconv.AppendInt(b[:0], time.Now().UnixMicro(), 10)
	n := s.idSeq.Add(1) % 10000
	return string(append(id, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10)))
}

// newTask validates a CreateTask request's task for queue parent and
// returns it in its stored form (spec 4.6): generated name, defaults,
// reserved headers, truncated times, no output-only fields.
func (s *Service) newTask(parent string, in *cloudtaskspb.Task, now time.Time) (*store.Task, error) {
	if in == nil {
		return nil, invalid("Task is required.")
	}
	var id string
	if in.Name == "" {
		id = s.newTaskID()
	} else {
		queue, tid, ok := splitTaskName(in.Name)
		if !ok {
			return nil, invalid(msgTaskNameFormat)
		}
		if queue != parent {
			return nil, invalid("The queue name from request ('%s') must be the same as the queue name in the named task ('%s').", parent, queue)
		}
		if !taskIDRe.MatchString(tid) {
			return nil, errTaskID(tid)
		}
		id = tid
	}
	t := proto.Clone(in).(*cloudtaskspb.Task)
	t.Name = parent + "/tasks/" + id
	t.CreateTime = timestamppb.New(now.Truncate(time.Second))
	t.DispatchCount, t.ResponseCount = 0, 0
	t.FirstAttempt, t.LastAttempt = nil, nil
	t.View = cloudtaskspb.Task_VIEW_UNSPECIFIED

	switch mt := t.MessageType.(type) {
	case *cloudtaskspb.Task_HttpRequest:
		if err := normalizeHTTPRequest(mt.HttpRequest); err != nil {
			return nil, err
		}
		if s.checkTarget != nil {
			if err := s.checkTarget(mt.HttpRequest.GetUrl()); err != nil {
				return nil, invalid("HttpRequest.url: %v.", err)
			}
		}
		d, err := deadline(t.DispatchDeadline, maxHTTPDeadline, "[15s, 30m]")
		if err != nil {
			return nil, err
		}
		if d == 0 {
			d = defaultHTTPDeadline
		}
		t.DispatchDeadline = durationpb.New(d)
	case *cloudtaskspb.Task_AppEngineHttpRequest:
		project, _ := queueParts(parent)
		if err := normalizeAppEngineRequest(mt.AppEngineHttpRequest, project); err != nil {
			return nil, err
		}
		d, err := deadline(t.DispatchDeadline, maxAppEngineDeadline, "[15s, 24h15s]")
		if err != nil {
			return nil, err
		}
		t.DispatchDeadline = nil
		if d != 0 {
			t.DispatchDeadline = durationpb.New(d)
		}
	default:
		return nil, invalid("Task.httpRequest or Task.appEngineHttpRequest must be set.")
	}

	sched := now
	if st := t.ScheduleTime; st != nil {
		if st.CheckValid() != nil {
			return nil, invalid("Task.scheduleTime is not a valid timestamp.")
		}
		if at := st.AsTime(); at.After(now) {
			sched = at.Truncate(time.Microsecond)
		}
	}
	if sched.Sub(now) > maxScheduleAhead {
		return nil, invalid("The Task.scheduleTime, %s, is too far in the future. Schedule time must be no more than 720h in the future.",
			sched.In(s.pacific).Format(time.RFC3339))
	}
	t.ScheduleTime = timestamppb.New(sched)

	if rc := t.RetryConfig; rc != nil {
		if err := validateRetryConfig(rc); err != nil {
			return nil, err
		}
	}
	if proto.Size(t) > maxTaskSize {
		return nil, invalid(msgTaskTooLarge)
	}
	return &store.Task{Queue: parent, ID: id, Task: t, Created: now}, nil
}

// deadline validates an optional dispatch_deadline against [15s, maxD],
// truncated to milliseconds. It returns 0 for unset, and for an explicit 0,
// which the proto defines as "the default deadline" (proto3 clients cannot
// tell the two apart).
func deadline(d *durationpb.Duration, maxD time.Duration, rangeText string) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if d.CheckValid() != nil {
		return 0, invalid("Task.dispatchDeadline must be between %s.", rangeText)
	}
	v := d.AsDuration().Truncate(time.Millisecond)
	if v != 0 && (v < minDeadline || v > maxD) {
		return 0, invalid("Task.dispatchDeadline must be between %s.", rangeText)
	}
	return v, nil
}

func validMethod(m cloudtaskspb.HttpMethod) bool {
	_, ok := cloudtaskspb.HttpMethod_name[int32(m)]
	return ok
}

func normalizeHTTPRequest(r *cloudtaskspb.HttpRequest) error {
	if r == nil {
		return invalid("HttpRequest.url is required.")
	}
	switch lower := strings.ToLower(r.Url); {
	case r.Url == "":
		return invalid("HttpRequest.url is required.")
	case !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://"):
		return invalid("HttpTarget.url must start with 'http://' or 'https://'.")
	case encodedLen(r.Url) > maxURLLength:
		return invalid("HttpRequest.url must be at most 2083 characters.")
	}
	if !validMethod(r.HttpMethod) {
		return invalid("HttpRequest.httpMethod is not a valid HTTP method.")
	}
	if r.HttpMethod == cloudtaskspb.HttpMethod_HTTP_METHOD_UNSPECIFIED {
		r.HttpMethod = cloudtaskspb.HttpMethod_POST
	}
	if len(r.Body) > 0 {
		switch r.HttpMethod {
		case cloudtaskspb.HttpMethod_POST, cloudtaskspb.HttpMethod_PUT, cloudtaskspb.HttpMethod_PATCH:
		default:
			return invalid("HttpRequest.body is only allowed for POST, PUT and PATCH requests.")
		}
	}
	size, err := checkHeaders(r.Headers)
	if err != nil {
		return err
	}
	if size >= maxHeaderBytes {
		return invalid("HttpRequest.headers must total less than 80KB.")
	}
	if r.Headers == nil {
		r.Headers = map[string]string{}
	}
	deleteHeader(r.Headers, "User-Agent")
	r.Headers["User-Agent"] = httpUserAgent
	switch a := r.AuthorizationHeader.(type) {
	case *cloudtaskspb.HttpRequest_OauthToken:
		if a.OauthToken.GetServiceAccountEmail() == "" {
			return invalid("HttpRequest.oauthToken.serviceAccountEmail is required.")
		}
	case *cloudtaskspb.HttpRequest_OidcToken:
		if a.OidcToken.GetServiceAccountEmail() == "" {
			return invalid("HttpRequest.oidcToken.serviceAccountEmail is required.")
		}
	}
	return nil
}

func normalizeAppEngineRequest(r *cloudtaskspb.AppEngineHttpRequest, project string) error {
	if r == nil {
		return invalid("Task.appEngineHttpRequest must be set.")
	}
	if !validMethod(r.HttpMethod) {
		return invalid("AppEngineHttpRequest.httpMethod is not a valid HTTP method.")
	}
	if r.HttpMethod == cloudtaskspb.HttpMethod_HTTP_METHOD_UNSPECIFIED {
		r.HttpMethod = cloudtaskspb.HttpMethod_POST
	}
	if len(r.Body) > 0 && r.HttpMethod != cloudtaskspb.HttpMethod_POST && r.HttpMethod != cloudtaskspb.HttpMethod_PUT {
		return invalid("AppEngineHttpRequest.body is only allowed for POST and PUT requests.")
	}
	if r.RelativeUri == "" {
		r.RelativeUri = "/"
	}
	switch {
	case r.RelativeUri[0] != '/':
		return invalid("AppEngineHttpRequest.relativeUri must begin with \"/\".")
	case strings.ContainsAny(r.RelativeUri, " \t\r\n"):
		return invalid("AppEngineHttpRequest.relativeUri cannot contain spaces.")
	case len(r.RelativeUri) > maxURLLength:
		return invalid("AppEngineHttpRequest.relativeUri must be at most 2083 characters.")
	}
	if _, err := checkHeaders(r.Headers); err != nil {
		return err
	}
	if r.Headers == nil {
		r.Headers = map[string]string{}
	}
	ua := appEngineUserAgent
	if v, ok := deleteHeader(r.Headers, "User-Agent"); ok && v != "" {
		ua = v + " " + appEngineUserAgent
	}
	r.Headers["User-Agent"] = ua
	deleteHeader(r.Headers, "Content-Length")
	r.Headers["Content-Length"] = strconv.Itoa(len(r.Body))
	if len(r.Body) > 0 && !hasHeader(r.Headers, "Content-Type") {
		r.Headers["Content-Type"] = "application/octet-stream"
	}
	if r.AppEngineRouting == nil {
		r.AppEngineRouting = &cloudtaskspb.AppEngineRouting{}
	}
	r.AppEngineRouting.Host = appEngineHost(project, r.AppEngineRouting)
	return nil
}

// encodedLen is the length of the URL u once every byte that cannot
// appear in a URL as is has been percent-encoded: the proto limits the URL
// to 2083 characters "after encoding".
func encodedLen(u string) int {
	n := len(u)
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("\"<>\\^`{|}", c) >= 0 {
			n += 2 // c becomes %XX
		}
	}
	return n
}

// checkHeaders refuses header names and values that could not be sent as
// HTTP, and returns the headers' total size.
func checkHeaders(h map[string]string) (int, error) {
	size := 0
	for k, v := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return 0, invalid("Header name %q is not a valid HTTP header name.", k)
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return 0, invalid("Header %q has a value that is not valid in HTTP.", k)
		}
		size += len(k) + len(v)
	}
	return size, nil
}

// deleteHeader removes every case variant of key and returns one value.
func deleteHeader(h map[string]string, key string) (string, bool) {
	var val string
	found := false
	for k, v := range h {
		if strings.EqualFold(k, key) {
			val, found = v, true
			delete(h, k)
		}
	}
	return val, found
}

func hasHeader(h map[string]string, key string) bool {
	for k := range h {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// viewOf validates a requested response view; unspecified means BASIC.
func viewOf(v cloudtaskspb.Task_View) (cloudtaskspb.Task_View, error) {
	switch v {
	case cloudtaskspb.Task_VIEW_UNSPECIFIED:
		return cloudtaskspb.Task_BASIC, nil
	case cloudtaskspb.Task_BASIC, cloudtaskspb.Task_FULL:
		return v, nil
	}
	return 0, invalid("response_view %d is not a valid view.", int32(v))
}

// withView returns a copy of t as the given view shows it: BASIC omits the
// request bodies (the proto says App Engine's; Cloud Tasks also omits the
// HTTP one).
func withView(t *cloudtaskspb.Task, v cloudtaskspb.Task_View) *cloudtaskspb.Task {
	return inView(proto.Clone(t).(*cloudtaskspb.Task), v)
}

// inView is withView in place, for a task nothing else holds: one just
// created, which the store has encoded and let go. Saving the copy
// matters on the create path (a sixth of the handler's CPU).
func inView(c *cloudtaskspb.Task, v cloudtaskspb.Task_View) *cloudtaskspb.Task {
	c.View = v
	if v == cloudtaskspb.Task_BASIC {
		switch mt := c.MessageType.(type) {
		case *cloudtaskspb.Task_HttpRequest:
			mt.HttpRequest.Body = nil
		case *cloudtaskspb.Task_AppEngineHttpRequest:
			mt.AppEngineHttpRequest.Body = nil
		}
	}
	return c
}
