// Package auth authenticates OpenTasks' callers and authorizes their
// calls by Cloud Tasks' IAM roles (docs/security.md, IAM_SPEC.md).
//
// Authentication turns a bearer token into a Principal (an IAM member
// string such as "user:a@example.com") carried in the context
// (WithPrincipal, PrincipalFrom). An Authenticator tries its
// TokenSources in turn: StaticTokens (--auth-tokens, a file re-read when
// it changes) and JWTVerifier (--auth-jwks: RS256/ES256 JWTs of one
// issuer and audience). It runs at the transport, for every call of
// every service on the port: UnaryInterceptor and StreamInterceptor on
// the gRPC server, Middleware on the REST surface (which answers 401 in
// Google's JSON shape with a WWW-Authenticate: Bearer challenge). REST
// calls are transcoded into calls on the same gRPC server with the REST
// request's context, so the interceptor finds the principal already
// there. Services added to the port later (Workflows, Executions) are
// authenticated without doing anything. The web console, which calls the
// API in-process, calls Authenticate with its cookie's token and puts
// the principal in the context with WithPrincipal.
//
// Authorization is Guard, a decorator with the API's own interface
// (server.API): each method checks the permission IAM_SPEC §1 names for
// it on the resource it names, then delegates. An interceptor keyed by
// method name could do the same for gRPC and REST, but the console
// calls the methods directly, never through an interceptor; with a
// decorator, whoever holds the API holds the checks, and a new API
// method is UNIMPLEMENTED on the Guard (it embeds the Unimplemented
// servers) until someone writes its check, rather than open.
// WorkflowsGuard does the same for the Workflows and Executions APIs
// with the permissions Cloud Workflows documents (workflows.go), and
// CallbacksGuard for their callback routes, which are plain HTTP.
//
// An Authorizer decides: the project policy (--iam-policy, one policy
// for every project, or roles/owner for every authenticated caller when
// there is none) united with the queue's own policy for queue and task
// resources (queue policies are set with SetIamPolicy and stored by
// internal/cloudtasks). Allow policies have no deny, so the union is
// the whole story. Roles carry the permissions Google's documentation
// lists; group: members never match (OpenTasks knows no groups), and
// conditional bindings are refused when a policy is set or loaded, since
// OpenTasks does not evaluate CEL.
package auth
