// Package server is the transport of OpenTasks: one http.Handler that
// serves the Cloud Tasks v2 API (with its Locations and Operations mixins)
// over gRPC and over Google's REST surface, plus GET /healthz, so that
// Google's client libraries cannot tell it from cloudtasks.googleapis.com.
// It knows nothing of what the API means; that is internal/cloudtasks.
// Other APIs (Workflows, Executions) join it on the same port through
// WithService, their REST paths from their own descriptors, and
// WithRESTRules for mixin paths only a service config declares.
//
// gRPC calls (HTTP/2 without TLS, content type application/grpc) go
// straight to a grpc-go server. Through http.Handler that server manages
// about 17,000 calls/s on two cores, through its own transport about
// 46,000, so Serve sends connections that open with the HTTP/2 preface
// (every gRPC client on a plain-text port) to the latter and the rest
// (HTTP/1.1) to an http.Server. The cost: REST over prior-knowledge h2c
// is not served by Serve; clients use HTTP/1.1 for REST. Everything else is REST, transcoded to
// the same gRPC server by connectrpc.com/vanguard from the google.api.http
// rules in the descriptors, so the REST surface cannot drift from the
// proto. The mixins' descriptors carry no rules for this API's paths;
// mixinRules supplies those of cloudtasks_v2.yaml.
//
// Vanguard speaks REST the way Connect does, not the way Google's front
// end does, and official clients notice. rest.go and errorwriter.go make
// up the difference, and each fixup exists because a client broke:
//
//   - Google's system query parameters ($alt, prettyPrint, key, ...) are
//     stripped before transcoding: vanguard takes every query parameter
//     for a request field and failed every call of the Go REST client,
//     which sends $alt=json;enum-encoding=int. That one is honoured: the
//     response then carries enums as numbers (a second transcoder whose
//     JSON codec uses enum numbers). Semicolons in the query are taken
//     literally, as Google does, not refused as url.ParseQuery does. An
//     updateMask's snake_case paths (rate_limits.max_burst_size) are
//     turned into the camelCase of FieldMask's JSON form, which is all
//     the transcoder parses; Google takes both.
//   - Errors come out of vanguard as a Connect/google.rpc.Status body, or
//     as plain text for requests it cannot route. They are rewritten into
//     {"error": {"code": <HTTP>, "message", "status": "<CODE>", "details"}}
//     with the HTTP status of google/rpc/code.proto (FAILED_PRECONDITION
//     is 400), which is what googleapi.CheckResponse and apierror parse;
//     details are google.rpc messages as @type'd JSON objects. A request
//     no route matches (path or method) gets what Google's front end
//     sends instead: 404 with an HTML page naming the URL. So a resource
//     name a client puts in the path but that does not fit the rule's
//     template (CreateQueue under parent "not-a-valid-parent" is POST
//     /v2/not-a-valid-parent/queues) is a 404 over REST, never reaching
//     the service, where gRPC gets the service's answer.
//   - The JSON codec omits zero values and rejects unknown fields (Google
//     does both; vanguard's default does neither). A request that fails
//     before it reaches the service (bad JSON, unknown field or query
//     parameter, bad value) is INVALID_ARGUMENT in the wording of Google's
//     front end, whatever code vanguard picked; markReached tells these
//     from the service's own errors, which pass through untouched.
//   - The request Content-Type is normalised to application/json: vanguard
//     refuses "application/json; charset=UTF-8", which other clients send.
//
// BufferTask is REST-only and absent from the v2 proto, so its two routes
// are the only ones written by hand (buffer.go).
//
// Panics in the service or the transport become INTERNAL for that call
// and are logged at error level with PanicMessage and the stack. Requests
// are logged at debug level, each call with the resource it names; a call
// that failed on the server's side (INTERNAL, UNKNOWN, DATA_LOSS: the
// store failed) is logged at error level, the caller's errors never are.
// REST bodies are capped at 4 MiB and gRPC messages likewise: room for a
// 1 MiB task after base64 and escaping. An HTTP/2 connection carries at
// most 100 calls at once (gRPC's own default is unbounded); headers must
// arrive within 10 s, a whole request within a minute.
//
// ServeTLS serves the same handler over TLS through net/http alone (see
// its comment for why the split cannot apply). WithAuthentication puts
// internal/auth's interceptors first on the gRPC server and its
// middleware around the REST surface and WithAPIHandler routes; /healthz
// and WithHandler routes are left to authenticate themselves, if they
// need to.
package server
