// Package deliver makes one attempt of a task: it builds the HTTP request
// that Cloud Tasks would send (spec section 5), sends it with the task's
// dispatch deadline as its timeout and reports what came back. It keeps no
// state about tasks; retries, counts and rescheduling belong to
// internal/dispatch.
//
// The request is built from the task as it stood before the attempt, since
// the X-CloudTasks-* headers describe earlier attempts: TaskRetryCount is
// the dispatch_count so far, TaskPreviousResponse is read back from the
// last attempt's response_status (whose message, "INTERNAL(13): HTTP status
// code 500", ends with the HTTP status; ResponseStatus writes it). Queue
// level settings (http_target's URI, method, header and token overrides,
// app_engine_routing_override) are applied over the task's own.
//
// Header names are written with the exact casing of the spec
// ("X-CloudTasks-TaskETA"), by setting the header map directly: Go's HTTP/1
// client sends map keys as they are. App Engine tasks go to a configurable
// host (Config.AppEngineHost) with the X-AppEngine-* set of headers and the
// routing host as the Host header.
//
// One http.Transport with a large idle pool serves every attempt, so
// deliveries reuse keep-alive connections instead of dialling per task.
package deliver
