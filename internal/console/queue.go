package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Task pages: tasksPerPage rows at most, from at most scanPages ListTasks
// pages when a filter skips most tasks.
const (
	tasksPerPage = 50
	scanPages    = 10
)

type taskState int

const (
	statePending taskState = iota
	stateInFlight
	stateRetrying
)

// stateOf tells a task's state from its attempts: an attempt without a
// response is in flight; a task attempted before and still here is
// waiting for a retry.
func stateOf(t *cloudtaskspb.Task) taskState {
	la := t.GetLastAttempt()
	switch {
	case la.GetDispatchTime() != nil && la.GetResponseTime() == nil:
		return stateInFlight
	case t.GetDispatchCount() > 0:
		return stateRetrying
	}
	return statePending
}

func (s taskState) String() string {
	return [...]string{"Pending", "In flight", "Retrying"}[s]
}

// filters are the task list's filters, by their query value.
var filters = []struct{ Value, Name string }{
	{"", "All"}, {"pending", "Pending"}, {"inflight", "In flight"}, {"retrying", "Retrying"},
}

func filterState(v string) (taskState, bool) {
	switch v {
	case "pending":
		return statePending, true
	case "inflight":
		return stateInFlight, true
	case "retrying":
		return stateRetrying, true
	}
	return 0, false
}

type taskRow struct {
	ID, URL, State        string
	Target                string
	Schedule              when
	Dispatches, Responses int32
	Last                  attemptView
}

type attemptView struct {
	Set                               bool
	Schedule, Dispatch, Response      when
	Status, StatusDetail, StatusClass string
}

// attemptOf shows an attempt. Cloud Tasks records only the dispatch time
// of a task's first attempt: dispatchOnly leaves its status out rather
// than call it in flight.
func attemptOf(a *cloudtaskspb.Attempt, now time.Time, dispatchOnly bool) attemptView {
	if a == nil {
		return attemptView{}
	}
	v := attemptView{Set: true, Schedule: tsOf(a.ScheduleTime, now), Dispatch: tsOf(a.DispatchTime, now), Response: tsOf(a.ResponseTime, now)}
	switch st := a.GetResponseStatus(); {
	case a.ResponseTime == nil && dispatchOnly:
	case a.ResponseTime == nil:
		v.Status, v.StatusClass = "In flight", "info"
	case st == nil || codes.Code(st.GetCode()) == codes.OK:
		v.Status, v.StatusClass = "OK", "ok"
		v.StatusDetail = st.GetMessage()
	default:
		v.Status, v.StatusClass = codes.Code(st.GetCode()).String(), "bad"
		v.StatusDetail = st.GetMessage()
		if i := strings.LastIndexByte(st.GetMessage(), ' '); i >= 0 {
			if n, err := strconv.Atoi(st.GetMessage()[i+1:]); err == nil {
				v.Status = "HTTP " + strconv.Itoa(n)
			}
		}
	}
	return v
}

func taskRowOf(t *cloudtaskspb.Task, now time.Time) taskRow {
	st := stateOf(t)
	row := taskRow{
		ID:         lastSegment(t.GetName()),
		URL:        Prefix + t.GetName(),
		State:      st.String(),
		Schedule:   tsOf(t.GetScheduleTime(), now),
		Dispatches: t.GetDispatchCount(),
		Responses:  t.GetResponseCount(),
		Last:       attemptOf(t.GetLastAttempt(), now, false),
	}
	if h := t.GetHttpRequest(); h != nil {
		row.Target = h.GetHttpMethod().String() + " " + h.GetUrl()
	} else if a := t.GetAppEngineHttpRequest(); a != nil {
		row.Target = a.GetHttpMethod().String() + " " + a.GetRelativeUri() + " (App Engine)"
	}
	return row
}

// taskForm is the create-task form as typed.
type taskForm struct {
	ID, URL, Method, Headers, Body, Schedule string
	// TZ is the browser's offset from UTC in minutes (getTimezoneOffset),
	// set by the script; without it the schedule time is UTC.
	TZ string
}

var methods = []string{"POST", "GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"}

type queueData struct {
	Q                                       *cloudtaskspb.Queue
	Name, ID, Project, Location, URL, State string
	Paused                                  bool
	Live                                    numbers
	LiveErr                                 string
	HaveStats                               bool
	Config                                  []configGroup
	Filters                                 []filterLink
	Tasks                                   []taskRow
	Filter, FilterName                      string
	Next, First                             string
	Scanned                                 int
	Form                                    taskForm
	FormError                               string
	Methods                                 []string
	Self                                    string
}

type filterLink struct {
	Name, URL string
	Current   bool
}

type configGroup struct {
	Title string
	Items []configItem
}

type configItem struct{ Name, Value string }

func queueName(r *http.Request) string {
	return "projects/" + r.PathValue("project") + "/locations/" + r.PathValue("location") + "/queues/" + r.PathValue("queue")
}

func (c *Console) queuePage(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	c.showQueue(ctx, w, r, http.StatusOK, taskForm{Method: "POST"}, "")
}

func (c *Console) showQueue(ctx context.Context, w http.ResponseWriter, r *http.Request, code int, form taskForm, formErr string) {
	name := queueName(r)
	q, err := c.cfg.API.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: name})
	if err != nil {
		c.apiError(w, r, "Reading queue "+lastSegment(name), err, crumb{"All queues", Prefix})
		return
	}
	now := c.cfg.Now()
	project, loc := r.PathValue("project"), r.PathValue("location")
	d := queueData{
		Q: q, Name: name, ID: lastSegment(name), Project: project, Location: loc,
		URL: Prefix + name, State: stateName(q.GetState()), Paused: q.GetState() == cloudtaskspb.Queue_PAUSED,
		HaveStats: c.cfg.Metrics != nil,
		Config:    configOf(q, now),
		Form:      form, FormError: formErr, Methods: methods,
	}
	if d.Live, err = c.numbersOf(ctx, sampleSpec{name, queueSample, sampleTTL}); err != nil {
		d.LiveErr = errMessage(err)
	}
	qv := r.URL.Query()
	d.Filter = qv.Get("state")
	want, filtered := filterState(d.Filter)
	for _, f := range filters {
		d.Filters = append(d.Filters, filterLink{Name: f.Name, URL: d.URL + query("state", f.Value), Current: f.Value == d.Filter || (!filtered && f.Value == "")})
		if f.Value == d.Filter {
			d.FilterName = f.Name
		}
	}
	if !filtered {
		d.Filter = ""
	}
	d.First = d.URL + query("state", d.Filter)
	d.Self = r.URL.RequestURI()
	token := qv.Get("page")
	for pages := 0; pages < scanPages && len(d.Tasks) < tasksPerPage; pages++ {
		resp, err := c.cfg.API.ListTasks(ctx, &cloudtaskspb.ListTasksRequest{Parent: name, PageSize: tasksPerPage, PageToken: token, ResponseView: cloudtaskspb.Task_BASIC})
		if err != nil {
			c.apiError(w, r, "Listing the tasks of "+d.ID, err, crumb{d.ID, d.URL})
			return
		}
		d.Scanned += len(resp.Tasks)
		for _, t := range resp.Tasks {
			if !filtered || stateOf(t) == want {
				d.Tasks = append(d.Tasks, taskRowOf(t, now))
			}
		}
		token = resp.NextPageToken
		if token == "" {
			break
		}
	}
	if token != "" {
		d.Next = d.URL + query("state", d.Filter, "page", token)
	}
	p := &page{
		Title:  d.ID,
		Crumbs: []crumb{{"Queues", Prefix}, {project + " / " + loc, Prefix + "#" + project + "-" + loc}},
		Live:   true,
	}
	c.render(w, r, code, "queue", p, d)
}

// query builds "?k=v&..." from pairs, leaving out empty values.
func query(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// configOf lists a queue's configuration as the queue page shows it.
func configOf(q *cloudtaskspb.Queue, now time.Time) []configGroup {
	rl, rc := q.GetRateLimits(), q.GetRetryConfig()
	maxAttempts := strconv.Itoa(int(rc.GetMaxAttempts()))
	if rc.GetMaxAttempts() == -1 {
		maxAttempts = "unlimited"
	}
	groups := []configGroup{
		{"Rate limits", []configItem{
			{"Max dispatches per second", rate(rl.GetMaxDispatchesPerSecond())},
			{"Max burst size", strconv.Itoa(int(rl.GetMaxBurstSize()))},
			{"Max concurrent dispatches", strconv.Itoa(int(rl.GetMaxConcurrentDispatches()))},
		}},
		{"Retry", []configItem{
			{"Max attempts", maxAttempts},
			{"Max retry duration", orUnlimited(dur(rc.GetMaxRetryDuration()))},
			{"Min backoff", dur(rc.GetMinBackoff())},
			{"Max backoff", dur(rc.GetMaxBackoff())},
			{"Max doublings", strconv.Itoa(int(rc.GetMaxDoublings()))},
		}},
	}
	var routing []configItem
	if o := q.GetAppEngineRoutingOverride(); o != nil {
		routing = append(routing,
			configItem{"App Engine service", orDefault(o.GetService())},
			configItem{"App Engine version", orDefault(o.GetVersion())},
			configItem{"App Engine instance", orDefault(o.GetInstance())},
			configItem{"App Engine host", orDefault(o.GetHost())})
	}
	if h := q.GetHttpTarget(); h != nil {
		if u := h.GetUriOverride(); u != nil {
			routing = append(routing, configItem{"URI override", uriOverride(u)})
		}
		if m := h.GetHttpMethod(); m != cloudtaskspb.HttpMethod_HTTP_METHOD_UNSPECIFIED {
			routing = append(routing, configItem{"HTTP method override", m.String()})
		}
		for _, hdr := range h.GetHeaderOverrides() {
			routing = append(routing, configItem{"Header " + hdr.GetHeader().GetKey(), hdr.GetHeader().GetValue()})
		}
		if t := h.GetOidcToken(); t != nil {
			routing = append(routing, configItem{"OIDC token", t.GetServiceAccountEmail()})
		}
		if t := h.GetOauthToken(); t != nil {
			routing = append(routing, configItem{"OAuth token", t.GetServiceAccountEmail()})
		}
	}
	if len(routing) == 0 {
		routing = append(routing, configItem{"Overrides", "none"})
	}
	groups = append(groups, configGroup{"Routing", routing})
	other := []configItem{
		{"Logging sampling ratio", rate(q.GetStackdriverLoggingConfig().GetSamplingRatio())},
		{"State", stateName(q.GetState())},
	}
	if pt := q.GetPurgeTime(); pt != nil {
		w := tsOf(pt, now)
		other = append(other, configItem{"Last purged", w.Abs + " (" + w.Rel + ")"})
	}
	return append(groups, configGroup{"Logging and state", other})
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

func orUnlimited(s string) string {
	if s == "0s" || s == "—" {
		return "unlimited"
	}
	return s
}

func uriOverride(u *cloudtaskspb.UriOverride) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	if u.GetScheme() != cloudtaskspb.UriOverride_SCHEME_UNSPECIFIED {
		add("scheme", strings.ToLower(u.GetScheme().String()))
	}
	add("host", u.GetHost())
	if u.Port != nil {
		add("port", strconv.FormatInt(u.GetPort(), 10))
	}
	add("path", u.GetPathOverride().GetPath())
	add("query", u.GetQueryOverride().GetQueryParams())
	if len(parts) == 0 {
		return "set, empty"
	}
	return strings.Join(parts, ", ")
}

// queueAction runs a queue action posted from the console.
func (c *Console) queueAction(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	name := queueName(r)
	id := lastSegment(name)
	var err error
	var msg string
	back := safeNext(r.PostForm.Get("back"))
	switch op := r.PathValue("op"); op {
	case "pause":
		_, err = c.cfg.API.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: name})
		msg = "Paused queue " + id + "."
	case "resume":
		_, err = c.cfg.API.ResumeQueue(ctx, &cloudtaskspb.ResumeQueueRequest{Name: name})
		msg = "Resumed queue " + id + "."
	case "purge":
		_, err = c.cfg.API.PurgeQueue(ctx, &cloudtaskspb.PurgeQueueRequest{Name: name})
		msg = "Purged queue " + id + ": its tasks are being deleted."
		c.forget(name)
	case "delete":
		_, err = c.cfg.API.DeleteQueue(ctx, &cloudtaskspb.DeleteQueueRequest{Name: name})
		msg = "Deleted queue " + id + "."
		c.forget(name)
		back = Prefix
	case "tasks":
		c.createTask(ctx, w, r)
		return
	default:
		c.render(w, r, http.StatusNotFound, "error", &page{Title: "Not found"}, errorData{Message: fmt.Sprintf("There is no queue action %q.", op), Back: crumb{id, Prefix + name}})
		return
	}
	c.acted(w, r, err, msg, back, crumb{id, Prefix + name})
}

func (c *Console) createTask(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	pf := r.PostForm
	f := taskForm{
		ID:       strings.TrimSpace(pf.Get("task_id")),
		URL:      strings.TrimSpace(pf.Get("url")),
		Method:   pf.Get("method"),
		Headers:  pf.Get("headers"),
		Body:     pf.Get("body"),
		Schedule: strings.TrimSpace(pf.Get("schedule")),
		TZ:       pf.Get("tz"),
	}
	name := queueName(r)
	t, err := f.task(name)
	if err != nil {
		c.showQueue(ctx, w, r, http.StatusBadRequest, f, err.Error())
		return
	}
	created, err := c.cfg.API.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: name, Task: t})
	if err != nil {
		c.showQueue(ctx, w, r, httpStatusOf(err), f, errMessage(err))
		return
	}
	flash(w, r, "Created task "+lastSegment(created.GetName())+".")
	http.Redirect(w, r, Prefix+name, http.StatusSeeOther)
}

// task builds the HTTP task the form describes; the API validates the rest.
func (f taskForm) task(queue string) (*cloudtaskspb.Task, error) {
	m, ok := cloudtaskspb.HttpMethod_value[f.Method]
	if !ok {
		return nil, fmt.Errorf("unknown HTTP method %q", f.Method)
	}
	req := &cloudtaskspb.HttpRequest{Url: f.URL, HttpMethod: cloudtaskspb.HttpMethod(m), Body: []byte(f.Body)}
	for i, line := range strings.Split(f.Headers, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("header line %d %q: write it as Name: value", i+1, line)
		}
		if req.Headers == nil {
			req.Headers = map[string]string{}
		}
		req.Headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	t := &cloudtaskspb.Task{MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: req}}
	if f.ID != "" {
		t.Name = queue + "/tasks/" + f.ID
	}
	if f.Schedule != "" {
		at, err := f.scheduleTime()
		if err != nil {
			return nil, err
		}
		t.ScheduleTime = timestamppb.New(at)
	}
	return t, nil
}

// scheduleTime reads the datetime-local field in the browser's zone.
func (f taskForm) scheduleTime() (time.Time, error) {
	var at time.Time
	var err error
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if at, err = time.Parse(layout, f.Schedule); err == nil {
			break
		}
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule time %q: use YYYY-MM-DDTHH:MM[:SS]", f.Schedule)
	}
	if f.TZ != "" {
		off, err := strconv.Atoi(f.TZ)
		if err != nil || off < -24*60 || off > 24*60 {
			return time.Time{}, fmt.Errorf("time zone offset %q is not a number of minutes", f.TZ)
		}
		// getTimezoneOffset is UTC minus local time.
		at = at.Add(time.Duration(off) * time.Minute)
	}
	return at, nil
}
