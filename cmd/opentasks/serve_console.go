package main

import (
	"log/slog"

	"github.com/opentasks/opentasks/internal/cloudtasks"
	"github.com/opentasks/opentasks/internal/console"
	"github.com/opentasks/opentasks/internal/metrics"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store"
)

// consoleOption mounts the web console at /console/. It acts through svc,
// as a client would; only the list of locations that hold queues comes
// from the store, since the API cannot list projects. m (nil with
// --metrics=false) gives the live per-queue figures and recent attempts.
func consoleOption(st store.Store, svc *cloudtasks.Service, m *metrics.Metrics, logger *slog.Logger) (server.Option, error) {
	cfg := console.Config{
		API:       svc,
		Locations: svc,
		Parents:   console.ParentsOf(st.AllQueues),
		Logger:    logger,
	}
	if m != nil {
		cfg.Metrics = m
	}
	c, err := console.New(cfg)
	if err != nil {
		return nil, err
	}
	return server.WithHandler(console.Prefix, c), nil
}
