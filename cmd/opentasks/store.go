package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/postgres"
	"github.com/opentasks/opentasks/internal/store/sqlite"
)

// openStore opens the backend the URL's scheme names:
// "sqlite:PATH" or "postgres://..." (also "postgresql://..."); pgOpts
// apply to the latter only.
func openStore(ctx context.Context, url string, pgOpts ...postgres.Option) (store.Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
		if path == "" {
			return nil, errors.New("store URL sqlite: needs a path, e.g. sqlite:./opentasks.db")
		}
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
		}
		return st, nil
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		st, err := postgres.Open(ctx, url, pgOpts...)
		if err != nil {
			return nil, fmt.Errorf("opening postgres store: %w", err)
		}
		return st, nil
	default:
		return nil, fmt.Errorf("store URL %q: unknown scheme (want sqlite:PATH or postgres://...)", url)
	}
}
