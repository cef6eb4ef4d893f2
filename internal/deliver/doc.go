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
// Headers go out exactly as set, names in their casing
// ("X-CloudTasks-TaskETA", a task's own "content-type"), with Host first.
// App Engine tasks go to a configurable host (Config.AppEngineHost) with
// the X-AppEngine-* set of headers and the routing host as the Host header.
//
// Requests are sent with fasthttp's client, not net/http's: on loopback at
// 24,000 requests/s a request cost its client 26 µs of CPU with net/http
// (three goroutines and their hand-offs per request) and 13 µs with
// fasthttp, which writes and reads on the caller's goroutine, and that was
// the largest part of a delivered task's cost. What
// net/http did for us is kept: keep-alive connections (at most 1,000 per
// target), proxies from HTTP_PROXY/HTTPS_PROXY/NO_PROXY, redirects
// followed with net/http's rules (deliver.go, follow), one retry on a
// keep-alive connection the target closed while idle. Three differences
// remain: HTTPS targets are spoken to in HTTP/1.1 only, a bodiless DELETE
// or OPTIONS carries Content-Length: 0, and response headers are read up
// to 64 KB (net/http: 10 MB). fasthttp has no contexts, so
// Close, which closes every connection, is how the dispatcher abandons
// attempts in flight when it stops.
package deliver
