// Package workflowsapi serves Cloud Workflows as a service: the
// google.cloud.workflows.v1.Workflows API (deploy, revisions) and the
// google.cloud.workflows.executions.v1.Executions API (start, read, list,
// cancel), on the Cloud Tasks port and store, so that the official
// clients, gcloud-shaped tools and Cloud Tasks tasks drive it as they
// drive workflows.googleapis.com and workflowexecutions.googleapis.com.
//
// Workflow writes are long-running operations that are done when
// returned (the definition is compiled by the workflows package first: a
// bad one is INVALID_ARGUMENT naming the step and line, synchronously).
// They are stored as records of kind operation, which the port's single
// Operations service (internal/cloudtasks) reads. A revision, "000001-a4d",
// is made when the source, service account or environment variables
// change; Get takes revision_id or NAME@REVISION.
//
// CreateExecution stores the execution ACTIVE and runs it in a goroutine
// of this process with the workflows runner, whose connectors reach this
// same server (Config.Endpoint). The execution holds a lease in the store
// that its process renews every quarter of Config.LeaseTTL. Executions
// are not resumed after a crash: the runner keeps no checkpoint of a run.
// An execution whose process stopped ends FAILED with an "interrupted"
// error (tags ["SystemError"]): at once on a graceful stop; at the next
// start with SQLite, which one process owns (Config.SoleOwner); and with
// PostgreSQL, which several nodes share, when its lease runs out and any
// node's sweep finds it. A cancel on another node reaches the running
// process at its next sweep.
//
// Bounds: at most Config.MaxActive ACTIVE executions a workflow; past it
// new ones are QUEUED, up to Config.MaxQueued (then RESOURCE_EXHAUSTED,
// which makes a Cloud Tasks task retry), and start oldest first when an
// active one ends or is cancelled, or at a sweep. Finished executions are
// kept Config.Retention.
// Lists are filtered, ordered and paged here, over a workflow's executions
// read whole from the store: retention bounds their number.
package workflowsapi
