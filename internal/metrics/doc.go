// Package metrics shows what the server does: Prometheus series at
// /metrics that mirror Cloud Monitoring's Cloud Tasks metrics
// (docs/metrics.md), live per-queue figures for the web console
// (QueueStats), and one log line per attempt for queues whose
// stackdriverLoggingConfig.samplingRatio asks for it, shaped like Cloud
// Tasks' task operation log.
//
// Nothing is read from the store per scrape. Each queue has a small record
// (queueStats) kept up to date where things happen:
//
//   - Depth (tasks in the queue, in flight included) is counted once from
//     the store when Wrap opens it, one grouped query, then kept by the
//     store wrapper Wrap returns, which sees every path that adds or
//     removes tasks whoever calls it (the API, the REST buffer, the
//     console, RunTask's and the scheduler's completions, the deletes of
//     expired tasks). A purge recounts its queue: its queue's record is
//     locked while it runs, so the count and the changes around it agree.
//   - Attempts, their delays, attempts in flight and the per-10 s windows
//     come from the dispatcher's Observer (internal/dispatch): Dispatched
//     from the schedulers, Attempted from the completer's one goroutine,
//     so the per-attempt cost is a map load and a few additions under an
//     uncontended lock.
//
// On a store several nodes share (store.Cluster), each node reports the
// depth of the queues it owns, so that the sum over the nodes is the
// depth: it counts a queue when it gains it, before reporting it, and
// recounts every queue every Config.Recount (one grouped query), keeping
// the depths between by its own changes; changes made through other nodes
// show at the next recount. Attempt counters are per node and sum the
// same way.
package metrics
