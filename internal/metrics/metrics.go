package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/genproto/googleapis/rpc/code"

	"github.com/opentasks/opentasks/internal/dispatch"
)

// Config tunes New; zero fields take the defaults documented on each.
type Config struct {
	// Now is the clock of the console's per-10 s windows; default
	// time.Now.
	Now func() time.Time
	// Logger receives attempt logs and the metrics' own errors; default
	// discards them.
	Logger *slog.Logger
	// JSONLogs writes attempt logs in Cloud Logging's shape (logName,
	// resource, jsonPayload) for a JSON handler; otherwise one short line
	// per attempt (queue, task, status, latency) for a terminal.
	JSONLogs bool
	// Recount is how often a cluster node recounts the depth of the
	// queues it owns; default 10s.
	Recount time.Duration
	// RecentAttempts bounds the attempts kept for TaskAttempts; default
	// 4096.
	RecentAttempts int
}

// Metrics holds the registry and the per-queue records. It implements
// dispatch.Observer.
type Metrics struct {
	cfg Config
	reg *prometheus.Registry
	log *slog.Logger

	queues sync.Map // queue name → *queueStats
	// cluster: the wrapped store is shared by several nodes, so depth is
	// reported for owned queues only.
	cluster bool

	api         *prometheus.CounterVec
	storeWrite  *prometheus.HistogramVec
	storeBatch  *prometheus.HistogramVec
	storeErrors *prometheus.CounterVec

	recent recentAttempts
}

var _ dispatch.Observer = (*Metrics)(nil)

// New returns Metrics with the Go runtime and process collectors
// registered.
func New(cfg Config) *Metrics {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Recount <= 0 {
		cfg.Recount = 10 * time.Second
	}
	if cfg.RecentAttempts <= 0 {
		cfg.RecentAttempts = 4096
	}
	m := &Metrics{
		cfg: cfg,
		reg: prometheus.NewRegistry(),
		log: cfg.Logger,
		api: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opentasks_api_requests_total",
			Help: "API calls (gRPC and REST) by method and canonical response code (Cloud Monitoring: api/request_count).",
		}, []string{"method", "code"}),
		storeWrite: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "opentasks_store_write_seconds",
			Help:    "Latency of the store's durable writes, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9), // 100 µs to 6.5 s
		}, []string{"op"}),
		storeBatch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "opentasks_store_write_batch_size",
			Help:    "Tasks per batched store write (leases and completions).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 6), // 1 to 1024
		}, []string{"op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opentasks_store_write_errors_total",
			Help: "Store writes that failed for a reason other than the caller's (not found, already exists).",
		}, []string{"op"}),
		recent: newRecentAttempts(cfg.RecentAttempts),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.api, m.storeWrite, m.storeBatch, m.storeErrors,
		queueCollector{m},
	)
	return m
}

// Handler serves the registry in Prometheus' exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slogErrors{m.log}})
}

// Registry is where the series are registered (tests, other collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// WatchDispatcher exports the dispatcher's backlog, read at each scrape.
func (m *Metrics) WatchDispatcher(backlog func() dispatch.Backlog) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "opentasks_dispatch_outcomes_pending",
			Help: "Finished attempts whose outcome waits to be written to the store.",
		}, func() float64 { return float64(backlog().Outcomes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "opentasks_dispatch_queues_waiting",
			Help: "Queues with due tasks waiting for one of the dispatcher's slots (--max-in-flight are all taken).",
		}, func() float64 { return float64(backlog().QueuesWaiting) }),
	)
}

// codeLabels are the lowercase canonical code names Cloud Monitoring's
// response_code labels use ("ok", "resource_exhausted"), by code.
var codeLabels = func() (out [17]string) {
	for i := range out {
		out[i] = strings.ToLower(code.Code(i).String())
	}
	return out
}()

// codeLabel returns the label of a google.rpc.Code (as int32 in statuses).
func codeLabel(c int32) string {
	if c >= 0 && int(c) < len(codeLabels) {
		return codeLabels[c]
	}
	return codeLabels[code.Code_UNKNOWN]
}

// slogErrors lets promhttp report errors through slog.
type slogErrors struct{ log *slog.Logger }

func (e slogErrors) Println(v ...any) {
	e.log.Error("metrics: serving /metrics", "err", fmt.Sprint(v...))
}
