package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/opentasks/opentasks/internal/store"
)

const (
	tokenLifetime = time.Hour
	// reuseMargin: a cached token is replaced this long before it expires.
	reuseMargin = 10 * time.Minute
	// maxCached bounds the cache; audiences default to target URLs, which
	// may be many.
	maxCached = 10000
)

// Signer mints OIDC ID tokens with the store's key. It is safe for
// concurrent use.
type Signer struct {
	issuer string
	now    func() time.Time
	signer jose.Signer
	public jose.JSONWebKey

	mu    sync.Mutex
	cache map[[2]string]cached
}

type cached struct {
	token string
	exp   time.Time
}

// NewSigner loads (or on first start creates and stores) the signing key.
// issuer is the iss claim and the base URL of the discovery document, e.g.
// "http://127.0.0.1:8123". now defaults to time.Now.
func NewSigner(ctx context.Context, st store.Store, issuer string, now func() time.Time) (*Signer, error) {
	key, err := loadKey(ctx, st)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	kid := keyID(key)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	return &Signer{
		issuer: issuer,
		now:    now,
		signer: sig,
		public: jose.JSONWebKey{Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"},
		cache:  make(map[[2]string]cached),
	}, nil
}

// claims mirror a Google ID token's.
type claims struct {
	jwt.Claims
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

// IDToken returns a token for the service account email, addressed to
// audience.
func (s *Signer) IDToken(email, audience string) (string, error) {
	now := s.now()
	k := [2]string{email, audience}
	s.mu.Lock()
	c, ok := s.cache[k]
	s.mu.Unlock()
	if ok && now.Before(c.exp.Add(-reuseMargin)) {
		return c.token, nil
	}
	iat := now.Truncate(time.Second)
	c = cached{exp: iat.Add(tokenLifetime)}
	tok, err := jwt.Signed(s.signer).Claims(claims{
		Claims: jwt.Claims{
			Issuer:   s.issuer,
			Subject:  subject(email),
			Audience: jwt.Audience{audience},
			IssuedAt: jwt.NewNumericDate(iat),
			Expiry:   jwt.NewNumericDate(c.exp),
		},
		Email:         email,
		EmailVerified: true,
	}).Serialize()
	if err != nil {
		return "", fmt.Errorf("oidc: signing token: %w", err)
	}
	c.token = tok
	s.mu.Lock()
	if len(s.cache) >= maxCached {
		clear(s.cache)
	}
	s.cache[k] = c
	s.mu.Unlock()
	return tok, nil
}

// subject is a stable 21-digit ID for email, the shape of Google's
// service account IDs.
func subject(email string) string {
	sum := sha256.Sum256([]byte(email))
	return fmt.Sprintf("1%020d", binary.BigEndian.Uint64(sum[:8]))
}

// Issuer is the iss of the tokens s mints.
func (s *Signer) Issuer() string { return s.issuer }

// PublicKeys are the keys that verify the tokens s mints, as JWKS serves
// them.
func (s *Signer) PublicKeys() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{s.public}}
}
