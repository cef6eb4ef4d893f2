// Package cloudtasks is the meaning of the Cloud Tasks v2 API: resource
// names, validation, server defaults, views, and the exact status codes and
// messages real Cloud Tasks returns (see the spec digest
// CLOUDTASKS_V2_SPEC.md). Service implements cloudtaskspb.CloudTasksServer
// plus the Locations and long-running Operations mixins, and BufferTask for
// the REST transport. It knows nothing about SQL, HTTP delivery or the wire:
// internal/server puts it on gRPC and REST, store.Store keeps its state, and
// a Dispatcher (internal/dispatch) is told about changes and runs RunTask.
//
// Every RPC follows the same shape: check names and arguments without
// touching the store (malformed input of any kind is INVALID_ARGUMENT, never
// a panic: requests are read through nil-safe getters; first of all, as
// Google's front end does, a malformed project in the name the call is
// routed on is PERMISSION_DENIED with CONSUMER_INVALID details, see
// routedProject and docs/errors.md), build the stored
// form, make one store call, and map the store's sentinel errors to the
// status Cloud Tasks would give in that place. The same store error reads
// differently per RPC (a missing queue is "Queue does not exist..." for
// GetQueue but "Requested entity was not found." for DeleteQueue), so the
// mapping lives next to each call rather than in one table.
//
// Stored tasks are always in FULL form with their defaults applied (HTTP
// method, 600s deadline, the User-Agent Cloud Tasks adds); views are applied
// on the way out. Queue defaults are re-applied after every update, and the
// output-only max_burst_size is derived from the rate. Updates use the
// store's read-modify-write UpdateQueue, so field masks are applied to the
// current queue inside one transaction; mask paths are resolved through
// protobuf reflection in snake_case or camelCase.
//
// List page tokens are opaque but not secret: they carry a cursor, a hash of
// the method, parent and filter they were issued for, and an expiry two
// hours out, so a token replayed with another filter or too late is
// INVALID_ARGUMENT. The ListQueues filter is a small AIP-160 evaluator over
// any scalar, enum, Duration or Timestamp field, compiled once per request.
//
// Batch methods run synchronously and return done Operations, which are also
// stored so GetOperation finds them; a request_id names the operation, making
// retries idempotent. IAM policies and CMEK configs are stored and echoed,
// not enforced.
package cloudtasks
