package main

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/opentasks/opentasks/internal/auth"
	"github.com/opentasks/opentasks/internal/console"
	"github.com/opentasks/opentasks/internal/metrics"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store"
)

// consoleOption mounts the web console at /console/. It acts through the
// API as clients see it (behind IAM when authentication is on), with the
// principal of the token its user signed in with; only the list of
// locations that hold queues comes from the store, since the API cannot
// list projects. m (nil with --metrics=false) gives the live per-queue
// figures and recent attempts. wf adds the Workflows pages, for the
// locations of queues and those wfParents names.
func consoleOption(st store.Store, api server.API, authn *auth.Authenticator, m *metrics.Metrics, wf console.Workflows, wfParents []string, logger *slog.Logger) (server.Option, error) {
	cfg := console.Config{
		API:       api,
		Locations: api,
		Parents:   console.ParentsOf(st.AllQueues),
		Logger:    logger,
	}
	if m != nil {
		cfg.Metrics = m
	}
	if wf != nil {
		cfg.Workflows = wf
		cfg.WorkflowParents = func(ctx context.Context) ([]string, error) {
			ps, err := cfg.Parents(ctx)
			return append(ps, wfParents...), err
		}
	}
	if authn != nil {
		cfg.Authenticate = func(r *http.Request) (context.Context, error) {
			token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			p, err := authn.Authenticate(r.Context(), token)
			if err != nil {
				return nil, err
			}
			return auth.WithPrincipal(r.Context(), p), nil
		}
	}
	c, err := console.New(cfg)
	if err != nil {
		return nil, err
	}
	return server.WithHandler(console.Prefix, c), nil
}
