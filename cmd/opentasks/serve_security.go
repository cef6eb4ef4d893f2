package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"

	"github.com/opentasks/opentasks/internal/auth"
	"github.com/opentasks/opentasks/internal/reload"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/targets"
)

// securityFlags are the flags of docs/security.md.
type securityFlags struct {
	tlsCert, tlsKey      string
	authTokens           string
	jwksURL              string
	issuer, audience     string
	iamPolicy            string
	allowUnauthenticated bool
	denyTargets          string
	allowTargets         string
}

func (s *securityFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.tlsCert, "tls-cert", "", "PEM `FILE` of the TLS certificate chain: serve everything on --addr over TLS (with --tls-key); reloaded when it changes")
	fs.StringVar(&s.tlsKey, "tls-key", "", "PEM `FILE` of the TLS private key")
	fs.StringVar(&s.authTokens, "auth-tokens", "", "`FILE` of bearer tokens, one \"TOKEN PRINCIPAL\" a line (e.g. \"s3cr3t serviceAccount:ci@p.iam.gserviceaccount.com\"); reloaded when it changes")
	fs.StringVar(&s.jwksURL, "auth-jwks", "", "`URL` of a JWKS: accept JWTs (RS256, ES256) signed by its keys, e.g. https://www.googleapis.com/oauth2/v3/certs for Google ID tokens (with --auth-issuer and --auth-audience)")
	fs.StringVar(&s.issuer, "auth-issuer", "", "the `ISSUER` (iss) of accepted JWTs, e.g. https://accounts.google.com")
	fs.StringVar(&s.audience, "auth-audience", "", "the `AUDIENCE` (aud) accepted JWTs must name")
	fs.StringVar(&s.iamPolicy, "iam-policy", "", "`FILE` with a google.iam.v1.Policy in JSON, the policy of every project; without it every authenticated caller is roles/owner")
	fs.StringVar(&s.denyTargets, "deny-targets", "", "`LIST` of addresses, CIDRs and host names tasks may not be delivered to, beyond the built-in link-local and cloud metadata addresses (see docs/security.md)")
	fs.StringVar(&s.allowTargets, "allow-targets", "", "`LIST` of addresses, CIDRs and host names (*.example.com for subdomains): if set, tasks are delivered there only; also lifts the built-in denial of what it names")
	fs.BoolVar(&s.allowUnauthenticated, "allow-unauthenticated", false, "serve without authentication on a non-loopback --addr")
}

// authOn reports whether any authentication flag is set.
func (s *securityFlags) authOn() bool {
	return s.authTokens != "" || s.jwksURL != ""
}

// scheme is the URL scheme clients use.
func (s *securityFlags) scheme() string {
	if s.tlsCert != "" {
		return "https"
	}
	return "http"
}

// validate checks the flags together, and addr against them.
func (s *securityFlags) validate(addr string) error {
	if (s.tlsCert == "") != (s.tlsKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if s.jwksURL != "" && (s.issuer == "" || s.audience == "") {
		return fmt.Errorf("--auth-jwks needs --auth-issuer and --auth-audience")
	}
	if s.jwksURL == "" && (s.issuer != "" || s.audience != "") {
		return fmt.Errorf("--auth-issuer and --auth-audience need --auth-jwks")
	}
	if _, err := targets.Parse(s.denyTargets, s.allowTargets, nil); err != nil {
		return err
	}
	if s.iamPolicy != "" && !s.authOn() {
		return fmt.Errorf("--iam-policy needs an authentication flag (--auth-tokens or --auth-jwks): without one, callers have no identity to authorize")
	}
	return s.checkExposure(addr)
}

// targetPolicy is where tasks may be delivered.
func (s *securityFlags) targetPolicy(logger *slog.Logger) (*targets.Policy, error) {
	return targets.Parse(s.denyTargets, s.allowTargets, logger)
}

// checkExposure refuses to serve an address reachable from other hosts
// without authentication, unless the operator said so. It runs with the
// flags' checks, so a refused address is never opened.
func (s *securityFlags) checkExposure(addr string) error {
	if s.authOn() || s.allowUnauthenticated {
		return nil
	}
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", addr, err)
	}
	if ta.IP.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing to serve %s without authentication: anyone who can reach it could run tasks against any target; "+
		"set --auth-tokens or --auth-jwks (see docs/security.md), or --allow-unauthenticated to accept that", addr)
}

// security is what the flags built: the authentication and authorization
// the server and the console share.
type security struct {
	authn *auth.Authenticator // nil: no authentication
	authz *auth.Authorizer
	cert  *reload.KeyPair // nil: no TLS
}

func newSecurity(f *securityFlags, logger *slog.Logger, queues auth.QueuePolicies) (*security, error) {
	onError := reload.OnError(func(err error) { logger.Error("reloading a security file; keeping the previous contents", "err", err) })
	sec := &security{}
	if f.tlsCert != "" {
		kp, err := reload.NewKeyPair(f.tlsCert, f.tlsKey, onError)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		sec.cert = kp
	}
	if !f.authOn() {
		return sec, nil
	}
	var sources []auth.TokenSource
	if f.authTokens != "" {
		t, err := auth.NewStaticTokens(f.authTokens, onError)
		if err != nil {
			return nil, err
		}
		sources = append(sources, t)
	}
	if f.jwksURL != "" {
		sources = append(sources, auth.NewJWTVerifier(auth.JWTConfig{JWKSURL: f.jwksURL, Issuer: f.issuer, Audience: f.audience}))
	}
	project := auth.OwnerPolicy
	if f.iamPolicy != "" {
		p, err := reload.New(func(c [][]byte) (*iampb.Policy, error) { return auth.ParsePolicy(c[0]) }, []string{f.iamPolicy}, onError)
		if err != nil {
			return nil, fmt.Errorf("--iam-policy: %w", err)
		}
		project = p.Get
	} else {
		logger.Warn("no --iam-policy: every authenticated caller is roles/owner of every project")
	}
	if sec.cert == nil {
		logger.Warn("authentication without --tls-cert: tokens cross the network in clear text")
	}
	sec.authn = auth.NewAuthenticator(sources...).WithLogger(logger)
	sec.authz = auth.NewAuthorizer(project, queues).WithLogger(logger)
	return sec, nil
}

// serve serves h on ln, over TLS if configured, until ctx ends.
func (s *security) serve(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration) error {
	if s.cert == nil {
		return server.Serve(ctx, ln, h, grace)
	}
	return server.ServeTLS(ctx, ln, h, &tls.Config{GetCertificate: s.cert.GetCertificate}, grace)
}

// api returns api behind IAM when authentication is on.
func (s *security) api(api server.API) server.API {
	if s.authn == nil {
		return api
	}
	return auth.NewGuard(api, s.authz)
}

// serverOptions authenticates every call when authentication is on.
func (s *security) serverOptions() []server.Option {
	if s.authn == nil {
		return nil
	}
	return []server.Option{server.WithAuthentication(s.authn.UnaryInterceptor, s.authn.StreamInterceptor, s.authn.Middleware)}
}

// actAs, when authentication is on, checks that a caller may act as a
// service account (a workflow's, whose connectors act as it).
func (s *security) actAs() func(context.Context, string) error {
	if s.authz == nil {
		return nil
	}
	return func(ctx context.Context, email string) error { return s.authz.Check(ctx, auth.PermActAs, email) }
}
