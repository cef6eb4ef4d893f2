// Package queuefile reads the queues a start-up file declares and applies
// them through the Cloud Tasks service (opentasks serve --queues FILE).
//
// Two formats are recognised by content, never by file name:
//
//   - App Engine's queue.yaml: a mapping with a "queue:" list. Each entry
//     is mapped to a v2 Queue as gcloud's queue.yaml deployer does (spec
//     OPERATIONS_SPEC 1): rate to max_dispatches_per_second, bucket_size to
//     max_burst_size, max_concurrent_requests to max_concurrent_dispatches,
//     retry_parameters to retry_config with max_attempts =
//     task_retry_limit + 1, target to app_engine_routing_override. The
//     queues go under one parent (--queues-parent), and the App Engine
//     queue "default" (5/s, bucket 5) is declared too unless the file
//     configures it.
//   - A list of Cloud Tasks Queue resources, in YAML or JSON, with full
//     names: a top-level sequence, or a mapping with a "queues:" list (the
//     shape of ListQueues' answer and of `opentasks queues list --format
//     json`). Each item is read with protojson, so both the JSON names
//     (rateLimits) and the proto names (rate_limits) work.
//
// Every problem is reported as FILE:LINE: what is wrong, with the line of
// the offending key or list item.
//
// Apply creates the queues that do not exist and updates the others to
// match the file: the fields a format can express are replaced (absent
// ones take the server's defaults), the others are left alone. It never
// deletes a queue, never touches tasks, and changes a queue's state only
// when the file asks (rate 0 in queue.yaml, or state in a Queue resource),
// so that restarting does not undo a pause made through the API.
package queuefile
