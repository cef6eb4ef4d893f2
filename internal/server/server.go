package server

import (
	"context"
	"log/slog"
	"net/http"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/cloud/location"
	"google.golang.org/grpc"
)

// API is the service the transport serves (implemented by
// internal/cloudtasks.Service).
type API interface {
	cloudtaskspb.CloudTasksServer
	location.LocationsServer
	longrunningpb.OperationsServer
	// BufferTask is REST-only (it is not in the v2 proto): body and
	// contentType are the raw HTTP request payload and its Content-Type.
	BufferTask(ctx context.Context, queue, taskID string, body []byte, contentType string) (*cloudtaskspb.Task, error)
}

// maxMessageBytes bounds request bodies and gRPC messages: room for a 1 MiB
// task even after base64 (4/3) and JSON escaping.
const maxMessageBytes = 4 << 20

// Request limits (see docs/security.md): calls in flight on one HTTP/2
// connection, as Google's front end advertises, and how long a client may
// take to send a request's headers, then all of it.
const (
	maxStreams        = 100
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	idleTimeout       = 2 * time.Minute
)

// Option configures New.
type Option func(*config)

type config struct {
	logger       *slog.Logger
	handlers     []mount
	services     []service
	rules        []*annotations.HttpRule
	guard        guard
	interceptors []grpc.UnaryServerInterceptor
}

// service is a gRPC service served beside the API (WithService).
type service struct {
	desc *grpc.ServiceDesc
	impl any
}

type mount struct {
	pattern string
	handler http.Handler
	api     bool // authenticated as the REST surface is (WithAPIHandler)
}

// WithLogger sets the logger for request logs (debug) and recovered panics
// (error). The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithHandler mounts h on an http.ServeMux pattern (for example
// "GET /.well-known/openid-configuration") next to the API.
func WithHandler(pattern string, h http.Handler) Option {
	return func(c *config) { c.handlers = append(c.handlers, mount{pattern: pattern, handler: h}) }
}

// WithService serves another gRPC service (impl implementing desc) beside
// the API, over gRPC and over the REST surface its descriptors' http rules
// declare, with the same error shapes, limits and logs.
func WithService(desc *grpc.ServiceDesc, impl any) Option {
	return func(c *config) { c.services = append(c.services, service{desc, impl}) }
}

// WithRESTRules adds REST bindings that no descriptor carries: those a
// service config declares for the Locations and Operations mixins.
func WithRESTRules(rules ...*annotations.HttpRule) Option {
	return func(c *config) { c.rules = append(c.rules, rules...) }
}

// New returns the handler that serves api over gRPC, REST and /healthz on
// one port. gRPC needs HTTP/2 without TLS: serve the handler with Serve
// (fastest), NewHTTPServer, or an http.Server with the same Protocols.
func New(api API, opts ...Option) http.Handler {
	cfg := config{logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	gs := newGRPCServer(api, cfg.logger, cfg.guard, cfg.interceptors)
	for _, sv := range cfg.services {
		gs.RegisterService(sv.desc, sv.impl)
	}
	rest, err := newREST(gs, api, slices.Concat(mixinRules, clientRules, cfg.rules), cfg.logger)
	if err != nil {
		// The transcoder is built from compiled-in descriptors and rules:
		// failing here is a bug in this package, not a runtime condition.
		panic(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	for _, r := range cfg.handlers {
		if r.api {
			r.handler = cfg.guard.wrapREST(r.handler)
		}
		mux.Handle(r.pattern, r.handler)
	}

	restH := cfg.guard.wrapREST(rest)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case isGRPC(r):
			gs.ServeHTTP(w, r)
		case ownedByMux(mux, r):
			mux.ServeHTTP(w, r)
		default:
			// Everything else is the API's, answered in Google's shape
			// (the mux would redirect unclean paths and answer 404/405
			// in plain text).
			restH.ServeHTTP(w, r)
		}
	})
	return &handler{Handler: recoverHTTP(cfg.logger, logRequests(cfg.logger, h)), grpc: gs, logger: cfg.logger}
}

// handler is what New returns; Serve uses its gRPC server directly.
type handler struct {
	http.Handler
	grpc   *grpc.Server
	logger *slog.Logger
}

// ownedByMux reports whether r is for /healthz or a WithHandler route
// (a clean path, with a trailing slash for a subtree such as /console/).
func ownedByMux(mux *http.ServeMux, r *http.Request) bool {
	_, pattern := mux.Handler(r)
	clean := path.Clean(r.URL.Path)
	if strings.HasSuffix(r.URL.Path, "/") && clean != "/" {
		clean += "/"
	}
	return pattern != "" && clean == r.URL.Path
}

func isGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// NewHTTPServer returns an http.Server for h that speaks HTTP/1.1 and
// unencrypted HTTP/2 (h2c), which gRPC clients use on plain-text ports.
func NewHTTPServer(h http.Handler) *http.Server {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{
		Handler:           h,
		Protocols:         &p,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    1 << 20,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: maxStreams},
	}
	if sh, ok := h.(*handler); ok {
		// The server's own errors go to New's logger, in its format.
		hs.ErrorLog = slog.NewLogLogger(sh.logger.Handler(), slog.LevelError)
	}
	return hs
}

func newGRPCServer(api API, logger *slog.Logger, g guard, extra []grpc.UnaryServerInterceptor) *grpc.Server {
	codec := newRequestCodec()
	// extra (WithUnaryInterceptor) runs outermost: it sees the calls the
	// guard refuses too.
	var opts []grpc.ServerOption
	if len(extra) > 0 {
		opts = append(opts, grpc.ChainUnaryInterceptor(extra...))
	}
	gs := grpc.NewServer(append(append(opts, g.grpcOptions()...),
		grpc.MaxRecvMsgSize(maxMessageBytes),
		grpc.MaxConcurrentStreams(maxStreams),
		grpc.MaxHeaderListSize(1<<20),
		// A fixed pool of stream workers reuses goroutines (and their
		// grown stacks) across calls instead of one new goroutine a call.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))*16),
		grpc.ForceServerCodecV2(codec),
		grpc.ChainUnaryInterceptor(codec.rejectUndecoded, markReached, recoverUnary(logger), logUnary(logger)),
	)...)
	cloudtaskspb.RegisterCloudTasksServer(gs, api)
	location.RegisterLocationsServer(gs, api)
	longrunningpb.RegisterOperationsServer(gs, api)
	return gs
}
