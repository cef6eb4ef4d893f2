package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/opentasks/opentasks/internal/cloudtasks"
	"github.com/opentasks/opentasks/internal/deliver"
	"github.com/opentasks/opentasks/internal/dispatch"
	"github.com/opentasks/opentasks/internal/oidc"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store/postgres"
)

// shutdownGrace bounds how long serve waits for calls in flight on
// SIGINT/SIGTERM before closing connections.
const shutdownGrace = 10 * time.Second

// minLeaseTTL keeps nodes' renewals (every quarter TTL) from flooding the
// database.
const minLeaseTTL = 100 * time.Millisecond

type serveFlags struct {
	addr           string
	store          string
	taskTombstone  time.Duration
	queueTombstone time.Duration
	leaseTTL       time.Duration
	logLevel       slog.Level
	appEngineHost  string
	oauthSource    string
	maxInFlight    int
	isolation      isolationFlags
	wf             workflowsFlags
	wfDir          workflowsDirFlags
	queues         queueFlags
	security       securityFlags
	logFormat      logFormat
	metrics        bool
	console        bool
}

func parseServeFlags(args []string, stderr io.Writer, environ []string) (*serveFlags, error) {
	f := &serveFlags{}
	fs := flag.NewFlagSet("opentasks serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8123", "`HOST:PORT` to serve gRPC, REST and /healthz on")
	fs.StringVar(&f.store, "store", "sqlite:./opentasks.db", "storage backend `URL`: sqlite:PATH, or postgres://USER@HOST/DB?search_path=SCHEMA shared by several servers")
	fs.DurationVar(&f.taskTombstone, "task-tombstone", time.Hour, "how long a deleted or completed task's name stays reserved")
	fs.DurationVar(&f.queueTombstone, "queue-tombstone", 7*24*time.Hour, "how long a deleted queue's name stays reserved")
	fs.DurationVar(&f.leaseTTL, "lease-ttl", postgres.DefaultLeaseTTL, "postgres: how long a node's hold on its queues lasts unless renewed; a dead node's queues move to the others after about this long")
	fs.StringVar(&f.appEngineHost, "app-engine-host", "127.0.0.1:8080", "`HOST:PORT` App Engine tasks are delivered to")
	fs.StringVar(&f.oauthSource, "oauth-token-source", oidc.DefaultOAuthSource, "where oauth_token access tokens come from: static:TOKEN, or google (Application Default Credentials)")
	fs.IntVar(&f.maxInFlight, "max-in-flight", 256, "most attempts in flight at once across all queues that have waited less than --slow-after for their target (RunTask's excepted), shared fairly among queues")
	f.isolation.register(fs)
	fs.BoolVar(&f.console, "console", true, "serve the web console at /console/")
	f.wf.register(fs)
	f.wfDir.register(fs)
	f.queues.register(fs)
	f.security.register(fs)
	fs.TextVar(&f.logLevel, "log-level", slog.LevelInfo, "log `level`: debug (logs every request), info, warn or error")
	addMetricsFlags(fs, f)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: opentasks serve [flags]\n\nEach flag can also be set as OPENTASKS_<NAME> in the environment\n(e.g. OPENTASKS_ADDR, OPENTASKS_TASK_TOMBSTONE); a flag beats the environment.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := flagsFromEnv(fs, environ); err != nil {
		return nil, err
	}
	if f.leaseTTL < minLeaseTTL {
		return nil, fmt.Errorf("--lease-ttl %v: must be at least %v", f.leaseTTL, minLeaseTTL)
	}
	if f.maxInFlight < 1 {
		return nil, fmt.Errorf("--max-in-flight %d: must be at least 1", f.maxInFlight)
	}
	if err := f.isolation.check(); err != nil {
		return nil, err
	}
	if err := f.queues.load(); err != nil {
		return nil, err
	}
	if err := f.security.validate(f.addr); err != nil {
		return nil, err
	}
	if err := f.wfDir.validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// flagsFromEnv sets each flag not given on the command line from
// OPENTASKS_<NAME>, with the name upper-cased and dashes as underscores.
func flagsFromEnv(fs *flag.FlagSet, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		key := "OPENTASKS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := env[key]
		if given[f.Name] || !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", key, v, err))
		}
	})
	return errors.Join(errs...)
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) int {
	f, err := parseServeFlags(args, stderr, environ)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "opentasks serve: %v\n", err)
		return 2
	}
	logger := newLogger(stderr, f)
	if !slices.ContainsFunc(environ, func(kv string) bool { return strings.HasPrefix(kv, "GOGC=") }) {
		// The live heap is small (pending tasks stay in the store), and
		// under load the collector's share of the CPU is not: collect
		// less often than Go's default of 100.
		debug.SetGCPercent(400)
	}
	if err := serve(ctx, f, stdout, logger); err != nil {
		logger.Error("serve failed", "err", err)
		return 1
	}
	return 0
}

// serve opens the store, then listens, so /healthz answers only once the
// store is open; it returns after a graceful shutdown when ctx ends.
func serve(ctx context.Context, f *serveFlags, stdout io.Writer, logger *slog.Logger) (err error) {
	st, err := openStore(ctx, f.store, postgres.WithLeaseTTL(f.leaseTTL), postgres.WithLogger(logger))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing store: %w", cerr)
		}
	}()
	// tasks is st as seen by what adds and removes tasks, which keeps the
	// metrics' depths; workflows keep their own records in st.
	tasks, obs, err := observe(ctx, f, st, logger)
	if err != nil {
		return err
	}
	oauth, err := oidc.ParseOAuthSource(f.oauthSource)
	if err != nil {
		return err
	}
	signer, err := oidc.NewSigner(ctx, st, f.security.scheme()+"://"+f.addr, nil)
	if err != nil {
		return err
	}
	tp, err := f.security.targetPolicy(logger)
	if err != nil {
		return err
	}
	deliverer := deliver.New(f.isolation.deliverConfig(deliver.Config{
		AppEngineHost: f.appEngineHost,
		Tokens:        oidc.Tokens{Signer: signer, OAuth: oauth},
	}, tp.DialContext))
	disp := dispatch.New(tasks, dispatch.Config{
		TaskTombstone: f.taskTombstone,
		MaxInFlight:   f.maxInFlight,
		SlowAfter:     f.isolation.slowAfter,
		Logger:        logger,
		Observer:      obs.observer(),
		Deliver:       deliverer,
	})
	obs.watch(disp)
	if err := disp.Start(ctx); err != nil {
		return err
	}
	defer disp.Stop()
	svc := cloudtasks.New(tasks, cloudtasks.Config{
		TaskTombstone:  f.taskTombstone,
		QueueTombstone: f.queueTombstone,
		Dispatcher:     disp,
		CheckTarget:    tp.CheckURL,
	})
	if err := f.queues.declare(ctx, svc, logger); err != nil {
		return err
	}
	sec, err := newSecurity(&f.security, logger, svc)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	self := newLoopback()
	wsvc, wfOpts, stopWorkflows, err := startWorkflows(ctx, f, ln.Addr().String(), self, sec, st, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopWorkflows()
	stopDir, err := f.wfDir.start(ctx, wsvc, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopDir()
	api := sec.api(f.queues.api(svc))
	opts := slices.Concat(sec.serverOptions(), []server.Option{server.WithLogger(logger),
		server.WithHandler("GET "+oidc.DiscoveryPath, signer.Discovery()),
		server.WithHandler("GET "+oidc.JWKSPath, signer.JWKS()),
		server.WithHandler("GET "+runtimePath, runtimeHandler(deliverer))}, wfOpts, obs.options)
	if f.console {
		o, err := consoleOption(tasks, api, sec.authn, obs.metrics, sec.workflows(wsvc), f.wfDir.consoleParents(), logger)
		if err != nil {
			return err
		}
		opts = append(opts, o)
	}
	h := server.New(api, opts...)
	self.serve(h)

	fmt.Fprintf(stdout, "opentasks: serving on %s://%s (store %s)\n", f.security.scheme(), ln.Addr(), f.store)
	err = sec.serve(ctx, ln, h, shutdownGrace)
	logger.Info("stopped")
	return err
}
