package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/opentasks/opentasks/internal/server"
)

// Messages of Google's front end (IAM_SPEC §4).
const (
	msgMissing = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
	msgAPIKey  = "API keys are not supported by this API. Expected OAuth2 access token or other authentication credentials that assert a principal. See https://cloud.google.com/docs/authentication"
	msgInvalid = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."

	challengeMissing = `Bearer realm="https://accounts.google.com/"`
	challengeInvalid = `Bearer realm="https://accounts.google.com/", error="invalid_token"`
)

// ErrInvalidToken is returned (wrapped) for a token that no configured
// source accepts.
var ErrInvalidToken = errors.New("invalid token")

// TokenSource turns a bearer token into a principal; it returns an error
// wrapping ErrInvalidToken for a token it does not accept.
type TokenSource interface {
	Principal(ctx context.Context, token string) (Principal, error)
}

// Authenticator accepts a bearer token if any of its sources does.
type Authenticator struct {
	sources []TokenSource
	logger  *slog.Logger
}

// NewAuthenticator returns an Authenticator trying sources in order.
func NewAuthenticator(sources ...TokenSource) *Authenticator {
	return &Authenticator{sources: sources, logger: slog.New(slog.DiscardHandler)}
}

// WithLogger returns a copy of a that logs why each rejected token was
// rejected, at debug level (never the token itself).
func (a *Authenticator) WithLogger(l *slog.Logger) *Authenticator {
	c := *a
	c.logger = l
	return &c
}

// Authenticate returns the principal token stands for, or an
// UNAUTHENTICATED status error. The console calls it with the token of
// its cookie; the transports with the bearer token of each call.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, Unauthenticated(false)
	}
	var reasons []error
	for _, s := range a.sources {
		p, err := s.Principal(ctx, token)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, ErrInvalidToken) {
			// The source could not decide (a JWKS fetch failed): say so
			// rather than blame the caller's token.
			a.logger.WarnContext(ctx, "cannot verify credentials", "err", err)
			return Principal{}, status.Errorf(codes.Unavailable, "Cannot verify the credentials: %v", err)
		}
		reasons = append(reasons, err)
	}
	a.logger.DebugContext(ctx, "credentials rejected", "reason", errors.Join(reasons...).Error())
	return Principal{}, Unauthenticated(true)
}

// bearer returns the token of an "Authorization: Bearer TOKEN" value.
func bearer(values []string) string {
	for _, v := range values {
		scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
	}
	return ""
}

// Unauthenticated is the UNAUTHENTICATED error of Google's front end for
// missing (invalid false) or rejected credentials.
func Unauthenticated(invalid bool) error {
	if invalid {
		return status.Error(codes.Unauthenticated, msgInvalid)
	}
	return missing(msgMissing)
}

func missing(msg string) error {
	st, err := status.New(codes.Unauthenticated, msg).WithDetails(&errdetails.ErrorInfo{
		Reason:   "CREDENTIALS_MISSING",
		Domain:   "googleapis.com",
		Metadata: map[string]string{"service": "cloudtasks.googleapis.com"},
	})
	if err != nil {
		return status.Error(codes.Unauthenticated, msg)
	}
	return st.Err()
}

// challenge is the WWW-Authenticate value that goes with err.
func challenge(err error) string {
	if status.Convert(err).Message() == msgInvalid {
		return challengeInvalid
	}
	return challengeMissing
}

// authenticate returns ctx with the caller of a call carrying the
// Authorization values (and an API key, if apiKey); a ctx that already
// has one (a REST call that the transcoder hands to the gRPC server)
// keeps it.
func (a *Authenticator) authenticate(ctx context.Context, authorization []string, apiKey bool) (context.Context, error) {
	if _, ok := PrincipalFrom(ctx); ok {
		return ctx, nil
	}
	token := bearer(authorization)
	if token == "" && apiKey {
		return nil, missing(msgAPIKey)
	}
	p, err := a.Authenticate(ctx, token)
	if err != nil {
		return nil, err
	}
	return WithPrincipal(ctx, p), nil
}

func (a *Authenticator) authenticateGRPC(ctx context.Context) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	out, err := a.authenticate(ctx, md.Get("authorization"), len(md.Get("x-goog-api-key")) > 0)
	if status.Code(err) == codes.Unauthenticated {
		_ = grpc.SetHeader(ctx, metadata.Pairs("www-authenticate", challenge(err)))
	}
	return out, err
}

// UnaryInterceptor authenticates every unary call of every service on
// the gRPC server (REST calls too: the transcoder calls the same server).
func (a *Authenticator) UnaryInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	ctx, err := a.authenticateGRPC(ctx)
	if err != nil {
		return nil, err
	}
	return next(ctx, req)
}

// StreamInterceptor authenticates every streaming call.
func (a *Authenticator) StreamInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	ctx, err := a.authenticateGRPC(ss.Context())
	if err != nil {
		return err
	}
	return next(srv, &authedStream{ServerStream: ss, ctx: ctx})
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *authedStream) Context() context.Context { return s.ctx }

// Middleware authenticates REST calls, answering 401 in Google's error
// shape with a WWW-Authenticate challenge when that fails.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiKey := r.Header.Get("X-Goog-Api-Key") != "" || r.URL.Query().Has("key")
		ctx, err := a.authenticate(r.Context(), r.Header.Values("Authorization"), apiKey)
		if err != nil {
			if status.Code(err) == codes.Unauthenticated {
				w.Header().Set("WWW-Authenticate", challenge(err))
			}
			server.WriteError(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
