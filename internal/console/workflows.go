package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/opentasks/opentasks/internal/workflowsapi"
)

// Workflows is what the Workflows pages act through: the Workflows and
// Executions APIs, and the logs of executions (which the APIs do not
// return; Cloud Workflows sends them to Cloud Logging).
type Workflows interface {
	workflowspb.WorkflowsServer
	executionspb.ExecutionsServer
	ExecutionLog(name string) workflowsapi.ExecutionLog
}

// recentExecutions is how many executions a workflow's page lists.
const recentExecutions = 25

const (
	workflowPath  = Prefix + "projects/{project}/locations/{location}/workflows/{workflow}"
	executionPath = workflowPath + "/executions/{execution}"
)

func (c *Console) workflowRoutes() {
	if c.cfg.Workflows == nil {
		return
	}
	c.mux.HandleFunc("GET "+Prefix+"workflows", c.authed(c.workflowsPage))
	c.mux.HandleFunc("GET "+workflowPath, c.authed(c.workflowPage))
	c.mux.HandleFunc("POST "+workflowPath+"/execute", c.authed(c.execute))
	c.mux.HandleFunc("GET "+executionPath, c.authed(c.executionPage))
	c.mux.HandleFunc("POST "+executionPath+"/cancel", c.authed(c.cancelExecution))
}

func workflowName(r *http.Request) string {
	return "projects/" + r.PathValue("project") + "/locations/" + r.PathValue("location") + "/workflows/" + r.PathValue("workflow")
}

type workflowRow struct {
	ID, URL, Revision, Description string
	Deployed                       when
}

type workflowGroup struct {
	Project, Location string
	Workflows         []workflowRow
}

type workflowsData struct {
	Groups []workflowGroup
	Total  int
}

func (c *Console) workflowsPage(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	var parents []string
	if c.cfg.WorkflowParents != nil {
		var err error
		if parents, err = c.cfg.WorkflowParents(ctx); err != nil {
			c.apiError(w, r, "Finding the locations that hold workflows", err, crumb{})
			return
		}
	}
	slices.Sort(parents)
	now := c.cfg.Now()
	var d workflowsData
	for _, parent := range slices.Compact(parents) {
		var rows []workflowRow
		token := ""
		for {
			resp, err := c.cfg.Workflows.ListWorkflows(ctx, &workflowspb.ListWorkflowsRequest{Parent: parent, PageSize: 1000, PageToken: token})
			if err != nil {
				c.apiError(w, r, "Listing the workflows of "+parent, err, crumb{})
				return
			}
			for _, wf := range resp.GetWorkflows() {
				rows = append(rows, workflowRow{
					ID: lastSegment(wf.GetName()), URL: Prefix + wf.GetName(), Revision: wf.GetRevisionId(),
					Description: wf.GetDescription(), Deployed: tsOf(wf.GetRevisionCreateTime(), now),
				})
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		if len(rows) == 0 {
			continue
		}
		project, loc := splitParent(parent)
		d.Groups = append(d.Groups, workflowGroup{Project: project, Location: loc, Workflows: rows})
		d.Total += len(rows)
	}
	c.render(w, r, http.StatusOK, "workflows", &page{Title: "Workflows", Live: true}, d)
}

type sourceLine struct {
	N    int
	Text string
}

type executionRow struct {
	ID, URL, State, Duration, Revision string
	Started                            when
}

type workflowData struct {
	ID, Name, URL, Revision, Latest string
	Description                     string
	Fields                          []configItem
	Source                          []sourceLine
	Executions                      []executionRow
	// Argument and ArgError refill the execute form after a refusal.
	Argument, ArgError string
	Revisions          []string
}

func (c *Console) workflowPage(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	c.showWorkflow(ctx, w, r, http.StatusOK, "", "")
}

func (c *Console) showWorkflow(ctx context.Context, w http.ResponseWriter, r *http.Request, code int, argument, argErr string) {
	name := workflowName(r)
	id := r.PathValue("workflow")
	p := &page{Title: id, Crumbs: []crumb{{"Workflows", Prefix + "workflows"}}, Live: true}
	rev := r.URL.Query().Get("revision")
	wf, err := c.cfg.Workflows.GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: name, RevisionId: rev})
	if err != nil {
		c.apiError(w, r, "Reading workflow "+id, err, crumb{"Workflows", Prefix + "workflows"})
		return
	}
	latest := wf.GetRevisionId()
	if rev != "" {
		if cur, err := c.cfg.Workflows.GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: name}); err == nil {
			latest = cur.GetRevisionId()
		}
	}
	now := c.cfg.Now()
	d := workflowData{ID: id, Name: name, URL: Prefix + name, Revision: wf.GetRevisionId(), Latest: latest,
		Description: wf.GetDescription(), Argument: argument, ArgError: argErr}
	if d.Argument == "" {
		d.Argument = "{}"
	}
	deployed, created := tsOf(wf.GetRevisionCreateTime(), now), tsOf(wf.GetCreateTime(), now)
	d.Fields = []configItem{
		{"Name", name},
		{"Revision", wf.GetRevisionId()},
		{"Deployed", deployed.Abs + " (" + deployed.Rel + ")"},
		{"Created", created.Abs + " (" + created.Rel + ")"},
		{"State", wf.GetState().String()},
		{"Call log level", wf.GetCallLogLevel().String()},
	}
	for _, k := range slices.Sorted(maps.Keys(wf.GetLabels())) {
		d.Fields = append(d.Fields, configItem{"Label " + k, wf.GetLabels()[k]})
	}
	for i, line := range strings.Split(strings.TrimSuffix(wf.GetSourceContents(), "\n"), "\n") {
		d.Source = append(d.Source, sourceLine{i + 1, line})
	}
	revs, err := c.cfg.Workflows.ListWorkflowRevisions(ctx, &workflowspb.ListWorkflowRevisionsRequest{Name: name, PageSize: 20})
	if err == nil {
		for _, rv := range revs.GetWorkflows() {
			d.Revisions = append(d.Revisions, rv.GetRevisionId())
		}
	}
	execs, err := c.cfg.Workflows.ListExecutions(ctx, &executionspb.ListExecutionsRequest{Parent: name, PageSize: recentExecutions})
	if err != nil {
		c.apiError(w, r, "Listing the executions of "+id, err, crumb{"Workflows", Prefix + "workflows"})
		return
	}
	for _, e := range execs.GetExecutions() {
		d.Executions = append(d.Executions, executionRow{
			ID: lastSegment(e.GetName()), URL: Prefix + e.GetName(), State: e.GetState().String(),
			Started: tsOf(e.GetStartTime(), now), Duration: execDuration(e, now), Revision: e.GetWorkflowRevisionId(),
		})
	}
	c.render(w, r, code, "workflow", p, d)
}

// execDuration is how long an execution ran, or has been running.
func execDuration(e *executionspb.Execution, now time.Time) string {
	switch {
	case e.GetDuration() != nil:
		return e.GetDuration().AsDuration().Round(time.Millisecond).String()
	case e.GetState() == executionspb.Execution_ACTIVE && e.GetStartTime() != nil:
		return now.Sub(e.GetStartTime().AsTime()).Truncate(time.Second).String() + " so far"
	}
	return "—"
}

// execute starts an execution with the form's JSON argument and shows it.
func (c *Console) execute(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	typed := r.PostForm.Get("argument")
	arg := strings.TrimSpace(typed)
	if arg != "" && !json.Valid([]byte(arg)) {
		c.showWorkflow(ctx, w, r, http.StatusBadRequest, typed, "The argument is not valid JSON.")
		return
	}
	e, err := c.cfg.Workflows.CreateExecution(ctx, &executionspb.CreateExecutionRequest{
		Parent: workflowName(r), Execution: &executionspb.Execution{Argument: arg},
	})
	if code := status.Code(err); code == codes.InvalidArgument || code == codes.ResourceExhausted {
		c.showWorkflow(ctx, w, r, httpStatusOf(err), typed, errMessage(err))
		return
	}
	c.acted(w, r, err, "Started execution "+lastSegment(e.GetName())+".", Prefix+e.GetName(), crumb{r.PathValue("workflow"), Prefix + workflowName(r)})
}

type logView struct {
	// At is when, after the execution's start ("+12ms").
	At         string
	Time       when
	Kind       string
	Badge      string
	BadgeClass string
	Where      string
	Text       string
}

type executionData struct {
	ID, Name, URL, WorkflowURL, State string
	Active                            bool
	Fields                            []configItem
	Argument, Result                  string
	HasResult                         bool
	Error                             *errorView
	CurrentSteps                      []string
	Log                               []logView
	Dropped                           int
}

type errorView struct {
	Context, Payload   string
	Step, Routine      string
	Line               int
	SourceURL          string
	HasPlace, HasStack bool
}

func (c *Console) executionPage(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	wfID, id := r.PathValue("workflow"), r.PathValue("execution")
	name := workflowName(r) + "/executions/" + id
	back := crumb{wfID, Prefix + workflowName(r)}
	e, err := c.cfg.Workflows.GetExecution(ctx, &executionspb.GetExecutionRequest{Name: name, View: executionspb.ExecutionView_FULL})
	if err != nil {
		c.apiError(w, r, "Reading execution "+id, err, back)
		return
	}
	now := c.cfg.Now()
	d := executionData{ID: id, Name: name, URL: Prefix + name, WorkflowURL: back.URL, State: e.GetState().String(),
		Active:   e.GetState() == executionspb.Execution_ACTIVE || e.GetState() == executionspb.Execution_QUEUED,
		Argument: prettyJSON(e.GetArgument())}
	started, ended := tsOf(e.GetStartTime(), now), tsOf(e.GetEndTime(), now)
	d.Fields = []configItem{
		{"Name", name},
		{"Revision", e.GetWorkflowRevisionId()},
		{"Started", started.Abs + " (" + started.Rel + ")"},
		{"Ended", orDash(ended.Abs)},
		{"Duration", execDuration(e, now)},
		{"Call log level", e.GetCallLogLevel().String()},
	}
	for _, k := range slices.Sorted(maps.Keys(e.GetLabels())) {
		d.Fields = append(d.Fields, configItem{"Label " + k, e.GetLabels()[k]})
	}
	if e.GetState() == executionspb.Execution_SUCCEEDED {
		d.HasResult, d.Result = true, prettyJSON(e.GetResult())
	}
	if er := e.GetError(); er != nil {
		ev := &errorView{Context: er.GetContext(), Payload: prettyJSON(er.GetPayload())}
		if els := er.GetStackTrace().GetElements(); len(els) > 0 {
			el := els[0]
			ev.HasPlace, ev.Step, ev.Routine, ev.Line = true, el.GetStep(), el.GetRoutine(), int(el.GetPosition().GetLine())
			ev.SourceURL = fmt.Sprintf("%s?revision=%s#L%d", back.URL, url.QueryEscape(e.GetWorkflowRevisionId()), ev.Line)
		}
		d.Error = ev
	}
	for _, s := range e.GetStatus().GetCurrentSteps() {
		d.CurrentSteps = append(d.CurrentSteps, s.GetRoutine()+" › "+s.GetStep())
	}
	log := c.cfg.Workflows.ExecutionLog(name)
	d.Dropped = log.Dropped
	for _, l := range log.Entries {
		v := logViewOf(l, now)
		if st := e.GetStartTime(); st != nil {
			v.At = "+" + max(l.Time.Sub(st.AsTime()), 0).Round(10*time.Microsecond).String()
		}
		d.Log = append(d.Log, v)
	}
	p := &page{Title: id, Crumbs: []crumb{{"Workflows", Prefix + "workflows"}, back}, Live: d.Active}
	c.render(w, r, http.StatusOK, "execution", p, d)
}

// logViewOf shows one log entry: a sys.log line with its severity, or a
// call's state with its arguments, result or error.
func logViewOf(l workflowsapi.LogEntry, now time.Time) logView {
	v := logView{Time: timeOf(l.Time, now), Kind: l.Kind}
	if l.Kind == "sys.log" {
		v.Badge, v.Text = l.Severity, l.Text
		v.BadgeClass = map[string]string{"ERROR": "bad", "CRITICAL": "bad", "ALERT": "bad", "EMERGENCY": "bad", "WARNING": "warn"}[l.Severity]
		return v
	}
	v.Badge = l.State
	v.Where = fmt.Sprintf("%s · step %s, line %d", l.Callee, l.Step, l.Line)
	switch l.State {
	case "BEGUN":
		v.Text = "args " + l.Args
	case "SUCCEEDED":
		v.Text, v.BadgeClass = "result "+l.Result, "ok"
	default:
		v.Text, v.BadgeClass = l.Error, "bad"
	}
	return v
}

func (c *Console) cancelExecution(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	name := workflowName(r) + "/executions/" + r.PathValue("execution")
	_, err := c.cfg.Workflows.CancelExecution(ctx, &executionspb.CancelExecutionRequest{Name: name})
	c.acted(w, r, err, "Cancelled execution "+r.PathValue("execution")+".", Prefix+name, crumb{r.PathValue("execution"), Prefix + name})
}

// prettyJSON indents JSON text; other text is shown as it is.
func prettyJSON(s string) string {
	var out bytes.Buffer
	if json.Indent(&out, []byte(s), "", "  ") != nil {
		return s
	}
	return out.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
