package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/opentasks/opentasks/internal/metrics"
)

type header struct{ Name, Value string }

// bodyView is a task body shown decoded when it is text.
type bodyView struct {
	Size int
	// Kind is "JSON", "text", "binary" or "" (no body).
	Kind, Text string
}

func bodyOf(b []byte) bodyView {
	v := bodyView{Size: len(b)}
	switch {
	case len(b) == 0:
	case json.Valid(b):
		var out bytes.Buffer
		_ = json.Indent(&out, b, "", "  ") // valid JSON: cannot fail
		v.Kind, v.Text = "JSON", out.String()
	case utf8.Valid(b):
		v.Kind, v.Text = "text", string(b)
	default:
		v.Kind, v.Text = "binary", base64.StdEncoding.EncodeToString(b)
	}
	return v
}

type taskData struct {
	Gone                    bool
	Name, ID, URL, QueueURL string
	State                   string
	Target                  string
	Fields                  []configItem
	Headers                 []header
	Body                    bodyView
	First, Last             attemptView
	Log                     []logLine
	HaveLog                 bool
	Self                    string
}

type logLine struct {
	Time          when
	Status, Class string
	Text          string
}

// logLineOf shows one attempt: its status, when it started, how long the
// target took and how late after its schedule time it started.
func logLineOf(a metrics.Attempt, now time.Time) logLine {
	l := logLine{Time: timeOf(a.DispatchTime, now), Status: "HTTP " + strconv.Itoa(a.HTTPStatus), Class: "bad"}
	if a.HTTPStatus == 0 {
		l.Status = codes.Code(a.Code).String()
	}
	if codes.Code(a.Code) == codes.OK {
		l.Class = "ok"
	}
	l.Text = fmt.Sprintf("attempt %d · answered in %s · started %s after its schedule time", a.DispatchCount,
		a.ResponseTime.Sub(a.DispatchTime).Round(time.Millisecond), max(a.DispatchTime.Sub(a.ScheduleTime), 0).Round(time.Millisecond))
	return l
}

func taskName(r *http.Request) string {
	return queueName(r) + "/tasks/" + r.PathValue("task")
}

func (c *Console) taskPage(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	name := taskName(r)
	queue := queueName(r)
	d := taskData{Name: name, ID: r.PathValue("task"), URL: Prefix + name, QueueURL: Prefix + queue, Self: r.URL.RequestURI(), HaveLog: c.cfg.Metrics != nil}
	p := &page{
		Title:  d.ID,
		Crumbs: []crumb{{"Queues", Prefix}, {r.PathValue("queue"), d.QueueURL}},
		Live:   true,
	}
	t, err := c.cfg.API.GetTask(ctx, &cloudtaskspb.GetTaskRequest{Name: name, ResponseView: cloudtaskspb.Task_FULL})
	if status.Code(err) == codes.NotFound {
		// Completed or deleted: the page says so (and keeps polling, in
		// case the name is reused).
		d.Gone = true
		code := http.StatusNotFound
		if r.Header.Get(liveHeader) != "" {
			code = http.StatusOK // an update, not a failed load, for the page's script
		}
		c.render(w, r, code, "task", p, d)
		return
	}
	if err != nil {
		c.apiError(w, r, "Reading task "+d.ID, err, crumb{r.PathValue("queue"), d.QueueURL})
		return
	}
	now := c.cfg.Now()
	d.State = stateOf(t).String()
	d.First, d.Last = attemptOf(t.GetFirstAttempt(), now, true), attemptOf(t.GetLastAttempt(), now, false)
	ct, sch := tsOf(t.GetCreateTime(), now), tsOf(t.GetScheduleTime(), now)
	d.Fields = []configItem{
		{"Name", t.GetName()},
		{"Created", ct.Abs + " (" + ct.Rel + ")"},
		{"Scheduled", sch.Abs + " (" + sch.Rel + ")"},
		{"Dispatch deadline", dur(t.GetDispatchDeadline())},
		{"Dispatch count", strconv.Itoa(int(t.GetDispatchCount()))},
		{"Response count", strconv.Itoa(int(t.GetResponseCount()))},
		{"View", t.GetView().String()},
	}
	var hdrs map[string]string
	switch {
	case t.GetHttpRequest() != nil:
		h := t.GetHttpRequest()
		d.Target = h.GetHttpMethod().String() + " " + h.GetUrl()
		d.Fields = append(d.Fields, configItem{"Target", "HTTP"}, configItem{"Method", h.GetHttpMethod().String()}, configItem{"URL", h.GetUrl()})
		if o := h.GetOidcToken(); o != nil {
			d.Fields = append(d.Fields, configItem{"OIDC token", fmt.Sprintf("%s (audience %s)", o.GetServiceAccountEmail(), orDefault(o.GetAudience()))})
		}
		if o := h.GetOauthToken(); o != nil {
			d.Fields = append(d.Fields, configItem{"OAuth token", fmt.Sprintf("%s (scope %s)", o.GetServiceAccountEmail(), orDefault(o.GetScope()))})
		}
		hdrs = h.GetHeaders()
		d.Body = bodyOf(h.GetBody())
	case t.GetAppEngineHttpRequest() != nil:
		a := t.GetAppEngineHttpRequest()
		ro := a.GetAppEngineRouting()
		d.Target = a.GetHttpMethod().String() + " " + a.GetRelativeUri()
		d.Fields = append(d.Fields, configItem{"Target", "App Engine"}, configItem{"Method", a.GetHttpMethod().String()},
			configItem{"Relative URI", a.GetRelativeUri()}, configItem{"Service", orDefault(ro.GetService())},
			configItem{"Version", orDefault(ro.GetVersion())}, configItem{"Instance", orDefault(ro.GetInstance())},
			configItem{"Host", ro.GetHost()})
		hdrs = a.GetHeaders()
		d.Body = bodyOf(a.GetBody())
	}
	for k, v := range hdrs {
		d.Headers = append(d.Headers, header{k, v})
	}
	slices.SortFunc(d.Headers, func(a, b header) int { return strings.Compare(a.Name, b.Name) })
	if c.cfg.Metrics != nil {
		for _, a := range c.cfg.Metrics.TaskAttempts(name) {
			d.Log = append(d.Log, logLineOf(a, now))
		}
	}
	c.render(w, r, http.StatusOK, "task", p, d)
}

// taskAction runs or deletes a task.
func (c *Console) taskAction(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	name, id := taskName(r), r.PathValue("task")
	queueURL := Prefix + queueName(r)
	back := safeNext(r.PostForm.Get("back"))
	var err error
	var msg string
	switch op := r.PathValue("op"); op {
	case "run":
		_, err = c.cfg.API.RunTask(ctx, &cloudtaskspb.RunTaskRequest{Name: name})
		msg = "Ran task " + id + "."
	case "delete":
		_, err = c.cfg.API.DeleteTask(ctx, &cloudtaskspb.DeleteTaskRequest{Name: name})
		msg = "Deleted task " + id + "."
		if back == Prefix+name {
			back = queueURL
		}
	default:
		c.render(w, r, http.StatusNotFound, "error", &page{Title: "Not found"}, errorData{Message: fmt.Sprintf("There is no task action %q.", op), Back: crumb{"Task " + id, Prefix + name}})
		return
	}
	c.acted(w, r, err, msg, back, crumb{r.PathValue("queue"), queueURL})
}
