package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"cloud.google.com/go/workflows/apiv1/workflowspb"

	"github.com/opentasks/opentasks/internal/queuefile"
	"github.com/opentasks/opentasks/internal/workflowsdir"
)

// workflowsDirFlags are serve's --workflows-dir flags (docs/workflows-dir.md).
type workflowsDirFlags struct {
	dir, parent string
}

func (d *workflowsDirFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.dir, "workflows-dir", "", "deploy every *.yaml, *.yml and *.json file in `DIR` as a workflow named after the file, and follow the folder: a save deploys a new revision, a delete deletes the workflow")
	fs.StringVar(&d.parent, "workflows-parent", queuefile.DefaultParent, "`projects/P/locations/L` that --workflows-dir's workflows go under")
}

func (d *workflowsDirFlags) validate() error {
	if p := strings.Split(d.parent, "/"); len(p) != 4 || p[0] != "projects" || p[1] == "" || p[2] != "locations" || p[3] == "" {
		return fmt.Errorf("--workflows-parent %q: want projects/PROJECT/locations/LOCATION", d.parent)
	}
	if d.dir == "" {
		return nil
	}
	if fi, err := os.Stat(d.dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("--workflows-dir %q: not a folder", d.dir)
	}
	return nil
}

// start deploys the folder through api and follows it until stop.
func (d *workflowsDirFlags) start(ctx context.Context, api workflowspb.WorkflowsServer, logger *slog.Logger) (stop func(), err error) {
	if d.dir == "" {
		return func() {}, nil
	}
	w, err := workflowsdir.Start(ctx, workflowsdir.Config{Dir: d.dir, Parent: d.parent, API: api, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("--workflows-dir: %w", err)
	}
	logger.Info("following the workflows folder", "dir", d.dir, "parent", d.parent)
	return w.Stop, nil
}

// consoleParents are the locations the console's Workflows page shows
// besides those of queues (the API cannot list projects): the folder's,
// and the default one of the CLI and the connectors.
func (d *workflowsDirFlags) consoleParents() []string {
	return []string{d.parent, queuefile.DefaultParent}
}
