package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/genproto/googleapis/cloud/location"

	"github.com/opentasks/opentasks/internal/metrics"
)

// Prefix is where the console is mounted.
const Prefix = "/console/"

// Metrics is what the console reads from internal/metrics: in-memory
// figures, so that reading them costs no store access.
type Metrics interface {
	// QueueStats returns a queue's live figures by its full name.
	QueueStats(queue string) metrics.QueueStats
	// TaskAttempts returns a task's recent attempts by its full name,
	// oldest first.
	TaskAttempts(task string) []metrics.Attempt
}

// Config is what the console needs; API and Parents are required.
type Config struct {
	// API is the Cloud Tasks service the console acts through, called
	// with the context Authenticate returns.
	API cloudtaskspb.CloudTasksServer
	// Locations lists the locations offered when creating a queue;
	// optional.
	Locations location.LocationsServer
	// Parents returns the locations ("projects/P/locations/L") that hold
	// queues; the Queues page lists each of them with ListQueues.
	Parents func(ctx context.Context) ([]string, error)
	// Metrics gives the live per-queue figures and recent attempts;
	// optional (without it the console shows what the API gives).
	Metrics Metrics
	// Authenticate, when set, turns authentication on: it is called with
	// the request carrying the console's token as "Authorization: Bearer
	// TOKEN" and returns the context to call the API with (holding the
	// principal), or an error, which sends the user to the sign-in page.
	Authenticate func(r *http.Request) (context.Context, error)
	// Workflows, when set, adds the Workflows pages (workflows,
	// executions, their logs); WorkflowParents lists the locations
	// ("projects/P/locations/L") they show.
	Workflows       Workflows
	WorkflowParents func(ctx context.Context) ([]string, error)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger logs failures the user cannot act on; default discards.
	Logger *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Console serves the console's pages; it is an http.Handler.
type Console struct {
	cfg    Config
	pages  map[string]*template.Template
	static *assets
	mux    *http.ServeMux
	xorig  *http.CrossOriginProtection
	// sample caches each queue's task sample for the live numbers.
	sampleMu sync.Mutex
	samples  map[sampleKey]*sampleEntry
}

// New returns the console for cfg, to be mounted at Prefix.
func New(cfg Config) (*Console, error) {
	if cfg.API == nil || cfg.Parents == nil {
		return nil, errors.New("console: Config.API and Config.Parents are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	static, err := loadAssets(staticFS)
	if err != nil {
		return nil, err
	}
	c := &Console{
		cfg:     cfg,
		static:  static,
		mux:     http.NewServeMux(),
		xorig:   http.NewCrossOriginProtection(),
		samples: map[sampleKey]*sampleEntry{},
	}
	if c.pages, err = parsePages(templateFS, static); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// parsePages parses each page template together with the shared layout.
func parsePages(fsys fs.FS, static *assets) (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range []string{"queues", "queue", "task", "login", "error", "workflows", "workflow", "execution"} {
		t, err := template.New(name).Funcs(funcs(static)).ParseFS(fsys, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: parsing %s template: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

const queuePath = Prefix + "projects/{project}/locations/{location}/queues/{queue}"

func (c *Console) routes() {
	c.mux.Handle("GET "+Prefix+"static/", c.static)
	c.mux.HandleFunc("GET "+Prefix+"login", c.loginPage)
	c.mux.HandleFunc("POST "+Prefix+"login", c.login)
	c.mux.HandleFunc("POST "+Prefix+"logout", c.logout)
	c.mux.HandleFunc("GET "+Prefix+"{$}", c.authed(c.queuesPage))
	c.mux.HandleFunc("POST "+Prefix+"queues", c.authed(c.createQueue))
	c.mux.HandleFunc("GET "+queuePath, c.authed(c.queuePage))
	c.mux.HandleFunc("POST "+queuePath+"/{op}", c.authed(c.queueAction))
	c.mux.HandleFunc("GET "+queuePath+"/tasks/{task}", c.authed(c.taskPage))
	c.mux.HandleFunc("POST "+queuePath+"/tasks/{task}/{op}", c.authed(c.taskAction))
	c.workflowRoutes()
	c.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "error", &page{Title: "Not found"}, errorData{Message: "There is no console page at " + r.URL.Path + "."})
	})
}

// ServeHTTP serves the console; POSTs must pass the cross-origin checks.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	if r.Method == http.MethodPost {
		if err := c.xorig.Check(r); err != nil {
			c.render(w, r, http.StatusForbidden, "error", &page{Title: "Forbidden"}, errorData{Message: "This request came from another site and was refused."})
			return
		}
		if err := readForm(w, r); err != nil {
			code, msg := http.StatusBadRequest, "The form could not be read: "+err.Error()
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				code, msg = http.StatusRequestEntityTooLarge, "The form is too large: at most 2 MiB, task body included."
			}
			c.render(w, r, code, "error", &page{Title: "Form not accepted"}, errorData{Message: msg})
			return
		}
		if !csrfValid(r) {
			c.render(w, r, http.StatusForbidden, "error", &page{Title: "Forbidden"}, errorData{Message: "The form had expired or did not come from this console. Reload the page and try again."})
			return
		}
	}
	c.mux.ServeHTTP(w, r)
}
