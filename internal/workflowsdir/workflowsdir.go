package workflowsdir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"github.com/fsnotify/fsnotify"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// Label marks the workflows a folder deployed (key and value): only those
// are deleted when their file goes.
const (
	LabelKey   = "managed-by"
	LabelValue = "opentasks-workflows-dir"
)

// DefaultDebounce is how long the folder must be quiet before a flush: long
// enough for an editor's save (a few events within milliseconds), short
// enough not to be noticed.
const DefaultDebounce = 100 * time.Millisecond

// Config configures a Watcher; Dir, Parent and API are required.
type Config struct {
	// Dir is the folder of definitions.
	Dir string
	// Parent is where the workflows go: "projects/P/locations/L".
	Parent string
	// API is the Workflows service the files are deployed through.
	API workflowspb.WorkflowsServer
	// Debounce: see DefaultDebounce.
	Debounce time.Duration
	// Logger logs every outcome; default discards.
	Logger *slog.Logger
	// Applied, if set, is called with every outcome, in order, on the
	// watcher's goroutine (and on Start's, for the first pass).
	Applied func(Event)
}

// Op is what a flush did about one file or workflow.
type Op string

const (
	// Deployed: the workflow was created or got a new revision.
	Deployed Op = "deployed"
	// Unchanged: the file's source is what is deployed already.
	Unchanged Op = "unchanged"
	// Deleted: the file is gone, and so is its workflow.
	Deleted Op = "deleted"
	// Skipped: the file could not be deployed (Err says why); what was
	// deployed before keeps serving.
	Skipped Op = "skipped"
)

// Event is the outcome of a flush for one file or workflow.
type Event struct {
	Op Op
	// File is the definition's path ("" for a workflow deleted at start,
	// whose file was gone before).
	File string
	// Workflow is the full name ("" when the file name is not a workflow
	// ID).
	Workflow string
	// Revision is the revision serving after a deploy.
	Revision string
	// Line is where in File the error is (Skipped; 0 when unknown).
	Line int
	Err  error
}

// Watcher keeps the workflows of Config.Parent following Config.Dir.
type Watcher struct {
	cfg   Config
	fsw   *fsnotify.Watcher
	done  chan struct{}
	stop  context.CancelFunc
	owner map[string]string // workflow ID -> the file (base name) it was deployed from
}

// Start deploys the folder, deletes this folder's workflows whose files
// are gone, and then follows the folder until Stop or ctx ends. A file
// that cannot be deployed is skipped, not an error: Start fails only when
// the folder cannot be read or watched.
func Start(ctx context.Context, cfg Config) (*Watcher, error) {
	if cfg.Dir == "" || cfg.Parent == "" || cfg.API == nil {
		return nil, errors.New("workflowsdir: Config.Dir, Parent and API are required")
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", cfg.Dir, err)
	}
	// Watch first, so that nothing saved during the first pass is missed.
	if err := fsw.Add(cfg.Dir); err != nil {
		fsw.Close()
		return nil, fmt.Errorf("watching %s: %w", cfg.Dir, err)
	}
	w := &Watcher{cfg: cfg, fsw: fsw, done: make(chan struct{}), owner: map[string]string{}}
	dirty, err := w.initial(ctx)
	if err != nil {
		fsw.Close()
		return nil, err
	}
	w.flush(ctx, dirty)
	ctx, w.stop = context.WithCancel(ctx)
	go w.loop(ctx)
	return w, nil
}

// Stop stops following the folder; deployed workflows stay.
func (w *Watcher) Stop() {
	w.stop()
	<-w.done
}

// initial is the first pass's dirty set: every definition in the folder
// and every workflow this folder deployed before.
func (w *Watcher) initial(ctx context.Context) (map[string]bool, error) {
	dirty := map[string]bool{}
	entries, err := os.ReadDir(w.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", w.cfg.Dir, err)
	}
	for _, e := range entries {
		if isDefinition(e.Name()) {
			dirty[e.Name()] = true
		}
	}
	token := ""
	for {
		resp, err := w.cfg.API.ListWorkflows(ctx, &workflowspb.ListWorkflowsRequest{Parent: w.cfg.Parent, PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, fmt.Errorf("listing the workflows of %s: %w", w.cfg.Parent, err)
		}
		for _, wf := range resp.GetWorkflows() {
			if wf.GetLabels()[LabelKey] == LabelValue {
				// A name, not a file: flush finds its files, if any.
				dirty[deletedMarker+lastSegment(wf.GetName())] = true
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			return dirty, nil
		}
	}
}

// deletedMarker prefixes a workflow ID in a dirty set where a file name
// is expected (no file name starts with a NUL).
const deletedMarker = "\x00"

func lastSegment(name string) string { return name[strings.LastIndexByte(name, '/')+1:] }

func (w *Watcher) loop(ctx context.Context) {
	defer close(w.done)
	defer w.fsw.Close()
	dirty := map[string]bool{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			name := filepath.Base(ev.Name)
			if filepath.Clean(ev.Name) == filepath.Clean(w.cfg.Dir) || !isDefinition(name) {
				continue
			}
			dirty[name] = true
			timer.Reset(w.cfg.Debounce)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// An overflow loses events: look at everything again.
			w.cfg.Logger.Error("watching the workflows folder", "dir", w.cfg.Dir, "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				if all, err := w.initial(ctx); err == nil {
					maps.Copy(dirty, all)
					timer.Reset(w.cfg.Debounce)
				}
			}
		case <-timer.C:
			w.flush(ctx, dirty)
			dirty = map[string]bool{}
		}
	}
}

// isDefinition: a file name the folder deploys; hidden files and editors'
// lock and backup files (".#a.yaml", "#a.yaml#", "a.yaml~") are not.
func isDefinition(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") {
		return false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// workflowIDRe is the Workflows ID rule (workflowId in CreateWorkflow's
// reference: a letter first, then letters, digits, - and _, at most 64,
// not ending in - or _), on the lower-cased name.
var workflowIDRe = regexp.MustCompile(`^[a-z]([a-z0-9_-]{0,62}[a-z0-9])?$`)

// idOf is the workflow ID of a definition's file name.
func idOf(file string) (string, error) {
	id := strings.ToLower(strings.TrimSuffix(file, filepath.Ext(file)))
	if !workflowIDRe.MatchString(id) {
		return "", fmt.Errorf("%q is not a workflow ID: it must start with a letter, have only letters, digits, - and _, end with a letter or digit, and be at most 64 characters", id)
	}
	return id, nil
}

// flush brings each dirty file's workflow to what the folder holds now.
func (w *Watcher) flush(ctx context.Context, dirty map[string]bool) {
	ids := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(dirty)) {
		if id, ok := strings.CutPrefix(name, deletedMarker); ok {
			ids[id] = true
			continue
		}
		id, err := idOf(name)
		if err != nil {
			if _, statErr := os.Stat(w.file(name)); statErr == nil {
				w.skip(Event{File: w.file(name)}, err)
			}
			continue
		}
		ids[id] = true
	}
	if len(ids) == 0 {
		return
	}
	files, err := w.files()
	if err != nil {
		w.cfg.Logger.Error("reading the workflows folder", "dir", w.cfg.Dir, "err", err)
		return
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		if ctx.Err() != nil {
			return
		}
		w.sync(ctx, id, files[id])
	}
}

// files maps each workflow ID to its files in the folder, sorted.
func (w *Watcher) files() (map[string][]string, error) {
	entries, err := os.ReadDir(w.cfg.Dir)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, e := range entries {
		if !isDefinition(e.Name()) || e.IsDir() {
			continue
		}
		if id, err := idOf(e.Name()); err == nil {
			out[id] = append(out[id], e.Name())
		}
	}
	return out, nil
}

func (w *Watcher) file(name string) string { return filepath.Join(w.cfg.Dir, name) }

// sync makes workflow id what its files say: deleted without a file,
// deployed from the one file (or, when several files have the name, from
// the one it came from before, else the first; the others are skipped).
func (w *Watcher) sync(ctx context.Context, id string, files []string) {
	name := w.cfg.Parent + "/workflows/" + id
	if len(files) == 0 {
		w.remove(ctx, id, name)
		return
	}
	from := files[0]
	if slices.Contains(files, w.owner[id]) {
		from = w.owner[id]
	}
	for _, f := range files {
		if f != from {
			w.skip(Event{File: w.file(f), Workflow: name}, fmt.Errorf("workflow %s is deployed from %s: two files have its name", id, from))
		}
	}
	w.deploy(ctx, id, name, from)
}

// remove deletes a workflow this folder deployed.
func (w *Watcher) remove(ctx context.Context, id, name string) {
	file := w.owner[id]
	delete(w.owner, id)
	if file != "" {
		file = w.file(file)
	}
	wf, err := w.cfg.API.GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: name})
	if status.Code(err) == codes.NotFound || (err == nil && wf.GetLabels()[LabelKey] != LabelValue) {
		return // not there, or not this folder's
	}
	if err == nil {
		err = opError(w.cfg.API.DeleteWorkflow(ctx, &workflowspb.DeleteWorkflowRequest{Name: name}))
	}
	if err != nil {
		w.cfg.Logger.Error("deleting a workflow whose file is gone", "workflow", name, "file", file, "err", err)
		return
	}
	w.cfg.Logger.Info("workflow deleted: its file is gone", "workflow", name, "file", file)
	w.applied(Event{Op: Deleted, File: file, Workflow: name})
}

// deploy creates the workflow from file, or updates it when its source
// differs.
func (w *Watcher) deploy(ctx context.Context, id, name, file string) {
	ev := Event{File: w.file(file), Workflow: name}
	src, err := os.ReadFile(ev.File)
	if errors.Is(err, fs.ErrNotExist) {
		return // gone since the folder was read: its own event follows
	}
	if err != nil {
		w.skip(ev, fmt.Errorf("reading the file: %w", err))
		return
	}
	desc := "Deployed from " + file + " by opentasks serve --workflows-dir."
	cur, err := w.cfg.API.GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: name})
	switch {
	case status.Code(err) == codes.NotFound:
		err = opError(w.cfg.API.CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{
			Parent:     w.cfg.Parent,
			WorkflowId: id,
			Workflow: &workflowspb.Workflow{
				SourceCode:  &workflowspb.Workflow_SourceContents{SourceContents: string(src)},
				Description: desc,
				Labels:      map[string]string{LabelKey: LabelValue},
			},
		}))
	case err != nil:
	case cur.GetSourceContents() == string(src) && cur.GetLabels()[LabelKey] == LabelValue:
		w.owner[id] = file
		ev.Op, ev.Revision = Unchanged, cur.GetRevisionId()
		w.applied(ev)
		return
	default:
		labels := maps.Clone(cur.GetLabels())
		if labels == nil {
			labels = map[string]string{}
		}
		labels[LabelKey] = LabelValue
		err = opError(w.cfg.API.UpdateWorkflow(ctx, &workflowspb.UpdateWorkflowRequest{
			Workflow: &workflowspb.Workflow{
				Name:        name,
				SourceCode:  &workflowspb.Workflow_SourceContents{SourceContents: string(src)},
				Description: desc,
				Labels:      labels,
			},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"source_contents", "description", "labels"}},
		}))
	}
	if err == nil {
		cur, err = w.cfg.API.GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: name})
	}
	if err != nil {
		w.skip(ev, err)
		return
	}
	w.owner[id] = file
	ev.Op, ev.Revision = Deployed, cur.GetRevisionId()
	w.cfg.Logger.Info("workflow deployed", "workflow", name, "revision", ev.Revision, "file", ev.File)
	w.applied(ev)
}

// lineRe finds the line the loader names in a refused definition
// ("failed to build: line 4: step \"x\": ...").
var lineRe = regexp.MustCompile(`\bline (\d+):`)

// skip logs a file that was not deployed as FILE:LINE: message, the form
// editors and terminals link to the place.
func (w *Watcher) skip(ev Event, err error) {
	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = st.Message()
	}
	ev.Op, ev.Err, ev.Line = Skipped, err, 1
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		ev.Line, _ = strconv.Atoi(m[1])
	}
	w.cfg.Logger.Error(fmt.Sprintf("%s:%d: not deployed: %s", ev.File, ev.Line, msg), "workflow", ev.Workflow)
	w.applied(ev)
}

func (w *Watcher) applied(ev Event) {
	if w.cfg.Applied != nil {
		w.cfg.Applied(ev)
	}
}

// opError is the error of a workflow write: the call's, or its
// operation's.
func opError(op *longrunningpb.Operation, err error) error {
	if err != nil {
		return err
	}
	if e := op.GetError(); e != nil {
		return status.ErrorProto(e)
	}
	return nil
}
