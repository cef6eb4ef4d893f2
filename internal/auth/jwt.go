package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// JWT verification: tokens signed (RS256 or ES256) by a key of the
// configured JWKS, for the configured issuer and audience, unexpired.
const (
	// defaultKeysTTL is how long keys are kept when the JWKS response
	// says nothing about caching.
	defaultKeysTTL = 5 * time.Minute
	// minKeysTTL bounds how often the JWKS is fetched, whatever its
	// headers say and however many tokens with unknown key IDs arrive.
	minKeysTTL = 5 * time.Second
	// clockSkew is the leeway on exp, nbf and iat.
	clockSkew = 30 * time.Second
	// maxJWKSBytes bounds a JWKS response.
	maxJWKSBytes = 1 << 20
)

// JWTConfig configures a JWTVerifier.
type JWTConfig struct {
	// JWKSURL serves the issuer's public keys
	// (https://www.googleapis.com/oauth2/v3/certs for Google).
	JWKSURL string
	// Issuer is the iss every token must carry. Google's two spellings,
	// accounts.google.com with and without https://, are one issuer.
	Issuer string
	// Audience must be among each token's aud.
	Audience string
	// Client fetches the JWKS; default one with a 10s timeout.
	Client *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// JWTVerifier is a TokenSource of JWTs (Google-signed ID tokens or any
// OIDC provider's). It is safe for concurrent use.
type JWTVerifier struct {
	cfg JWTConfig

	mu      sync.Mutex
	keys    jose.JSONWebKeySet
	expires time.Time // when keys must be fetched again
	fetched time.Time // when they last were (or failed to be)
	failure error     // why the last fetch failed, nil if it did not
}

// NewJWTVerifier returns a verifier; it fetches the keys when the first
// token arrives.
func NewJWTVerifier(cfg JWTConfig) *JWTVerifier {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &JWTVerifier{cfg: cfg}
}

type idClaims struct {
	jwt.Claims
	Email         string `json:"email"`
	EmailVerified any    `json:"email_verified"` // a bool, or "true" from some providers
}

func (c *idClaims) emailVerified() bool {
	switch v := c.EmailVerified.(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// Principal implements TokenSource: serviceAccount:EMAIL or user:EMAIL
// for a verified email claim, else principal://SUB.
func (v *JWTVerifier) Principal(ctx context.Context, token string) (Principal, error) {
	if strings.Count(token, ".") != 2 {
		return Principal{}, fmt.Errorf("not a JWT: %w", ErrInvalidToken)
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return Principal{}, fmt.Errorf("JWT: %v: %w", err, ErrInvalidToken)
	}
	keys, err := v.keysFor(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return Principal{}, err
	}
	var claims idClaims
	verified := false
	for _, k := range keys {
		if tok.Claims(k.Key, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return Principal{}, fmt.Errorf("JWT: no key of %s verifies it: %w", v.cfg.JWKSURL, ErrInvalidToken)
	}
	now := v.cfg.Now()
	if claims.Expiry == nil {
		return Principal{}, fmt.Errorf("JWT: no exp: %w", ErrInvalidToken)
	}
	if !sameIssuer(claims.Issuer, v.cfg.Issuer) {
		return Principal{}, fmt.Errorf("JWT: issuer %q: %w", claims.Issuer, ErrInvalidToken)
	}
	err = claims.ValidateWithLeeway(jwt.Expected{AnyAudience: jwt.Audience{v.cfg.Audience}, Time: now}, clockSkew)
	if err != nil {
		return Principal{}, fmt.Errorf("JWT: %v: %w", err, ErrInvalidToken)
	}
	if claims.Email != "" && claims.emailVerified() {
		return Principal{Member: emailMember(claims.Email)}, nil
	}
	if claims.Subject == "" {
		return Principal{}, fmt.Errorf("JWT: neither a verified email nor a subject: %w", ErrInvalidToken)
	}
	return Principal{Member: "principal://" + claims.Subject}, nil
}

func sameIssuer(got, want string) bool {
	google := func(s string) bool { return s == "accounts.google.com" || s == "https://accounts.google.com" }
	return got == want || google(got) && google(want)
}

// keysFor returns the keys that may have signed a token with key ID kid
// (every key for none), fetching the JWKS when the cached copy expired
// or lacks kid (a rotation), at most once per minKeysTTL.
func (v *JWTVerifier) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.cfg.Now()
	stale := !now.Before(v.expires)
	if !stale && kid != "" && len(v.keys.Key(kid)) == 0 && now.Sub(v.fetched) >= minKeysTTL {
		stale = true
	}
	if stale {
		// The fetch serves every caller until the next one: a caller
		// that gives up (or a client that cancels on purpose) must not
		// make it fail, leaving no keys for minKeysTTL. The client's
		// timeout bounds it.
		v.fetch(context.WithoutCancel(ctx), now)
	}
	if len(v.keys.Keys) == 0 {
		// Never fetched: no verdict on the token is possible.
		return nil, v.failure
	}
	if kid == "" {
		return v.keys.Keys, nil
	}
	return v.keys.Key(kid), nil
}

// fetch replaces the keys; on failure it keeps the old ones for
// minKeysTTL before trying again.
func (v *JWTVerifier) fetch(ctx context.Context, now time.Time) {
	v.fetched = now
	set, ttl, err := v.get(ctx)
	if err != nil {
		v.expires = now.Add(minKeysTTL)
		v.failure = fmt.Errorf("fetching JWKS %s: %w", v.cfg.JWKSURL, err)
		return
	}
	v.keys, v.expires, v.failure = set, now.Add(max(ttl, minKeysTTL)), nil
}

func (v *JWTVerifier) get(ctx context.Context) (jose.JSONWebKeySet, time.Duration, error) {
	var set jose.JSONWebKeySet
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return set, 0, err
	}
	resp, err := v.cfg.Client.Do(req)
	if err != nil {
		return set, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return set, 0, fmt.Errorf("HTTP status %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return set, 0, err
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return set, 0, err
	}
	if len(set.Keys) == 0 {
		return set, 0, errors.New("no keys")
	}
	return set, cacheTTL(resp.Header, v.cfg.Now()), nil
}

// cacheTTL is how long a response may be used, from Cache-Control
// (max-age less Age; no-store and no-cache mean none) or Expires
// (RFC 9111 §4.2.1).
func cacheTTL(h http.Header, now time.Time) time.Duration {
	for _, d := range strings.Split(h.Get("Cache-Control"), ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "no-store" || d == "no-cache" {
			return 0
		}
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			secs, err := strconv.Atoi(strings.Trim(v, `"`))
			if err != nil {
				continue
			}
			age, _ := strconv.Atoi(h.Get("Age"))
			return time.Duration(secs-age) * time.Second
		}
	}
	if e := h.Get("Expires"); e != "" {
		if t, err := http.ParseTime(e); err == nil {
			return t.Sub(now)
		}
		return 0 // an invalid Expires means already expired
	}
	return defaultKeysTTL
}
