package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"

	"github.com/opentasks/opentasks/internal/dispatch"
	"github.com/opentasks/opentasks/internal/metrics"
	"github.com/opentasks/opentasks/internal/redact"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store"
)

// logFormat is --log-format: text (for a terminal) or json (one JSON
// object a line, attempt logs in Cloud Logging's shape).
type logFormat string

func (f *logFormat) String() string { return string(*f) }

func (f *logFormat) Set(v string) error {
	if v != "text" && v != "json" {
		return errors.New("must be text or json")
	}
	*f = logFormat(v)
	return nil
}

// addMetricsFlags declares --metrics and --log-format.
func addMetricsFlags(fs *flag.FlagSet, f *serveFlags) {
	f.logFormat = "text"
	fs.Var(&f.logFormat, "log-format", "log line `format`: text or json (attempt logs shaped like Cloud Tasks' task operation log)")
	fs.BoolVar(&f.metrics, "metrics", true, "serve Prometheus metrics at /metrics")
}

// newLogger returns the server's logger in --log-format at --log-level,
// with secrets redacted.
func newLogger(w io.Writer, f *serveFlags) *slog.Logger {
	opts := &slog.HandlerOptions{Level: f.logLevel, ReplaceAttr: redact.ReplaceAttr}
	if f.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// observability is what --metrics adds to the server; its zero value
// (--metrics=false) adds nothing.
type observability struct {
	metrics *metrics.Metrics
	options []server.Option // for server.New
}

// observe wraps st to keep the metrics (see metrics.Wrap) and returns the
// store for everything that adds or removes tasks (st itself without
// metrics). The wrapper is a store.Cluster when st is, but hides st's other
// optional interfaces (store.WorkflowStore): take those from st.
func observe(ctx context.Context, f *serveFlags, st store.Store, logger *slog.Logger) (store.Store, observability, error) {
	if !f.metrics {
		return st, observability{}, nil
	}
	m := metrics.New(metrics.Config{Logger: logger, JSONLogs: f.logFormat == "json"})
	wrapped, err := m.Wrap(ctx, st)
	if err != nil {
		return nil, observability{}, err
	}
	return wrapped, observability{metrics: m, options: []server.Option{
		server.WithUnaryInterceptor(m.UnaryInterceptor()),
		server.WithHandler("GET /metrics", m.Handler()),
	}}, nil
}

// observer is the dispatcher's Observer, nil without metrics.
func (o observability) observer() dispatch.Observer {
	if o.metrics == nil {
		return nil
	}
	return o.metrics
}

// watch exports d's backlog.
func (o observability) watch(d *dispatch.Dispatcher) {
	if o.metrics != nil {
		o.metrics.WatchDispatcher(d.Backlog)
	}
}
