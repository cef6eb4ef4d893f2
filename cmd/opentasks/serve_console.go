package main

import (
	"log/slog"

	"github.com/opentasks/opentasks/internal/cloudtasks"
	"github.com/opentasks/opentasks/internal/console"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store"
)

// consoleOption mounts the web console at /console/. It acts through svc,
// as a client would; only the list of locations that hold queues comes
// from the store, since the API cannot list projects.
func consoleOption(st store.Store, svc *cloudtasks.Service, logger *slog.Logger) (server.Option, error) {
	c, err := console.New(console.Config{
		API:       svc,
		Locations: svc,
		Parents:   console.ParentsOf(st.AllQueues),
		Logger:    logger,
	})
	if err != nil {
		return nil, err
	}
	return server.WithHandler(console.Prefix, c), nil
}
