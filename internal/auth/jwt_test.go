package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/grpc/codes"

	"github.com/opentasks/opentasks/internal/auth"
)

const (
	testIssuer   = "https://issuer.example"
	testAudience = "https://opentasks.example"
)

// jwks is an identity provider's key set served on loopback.
type jwks struct {
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	url     string
	fetches atomic.Int32

	mu      sync.Mutex
	maxAge  string
	present []string // kids served
}

func newJWKS(t *testing.T) *jwks {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	j := &jwks{rsa: rk, ec: ek, maxAge: "max-age=60", present: []string{"rsa1", "ec1"}}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		j.fetches.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		all := map[string]jose.JSONWebKey{
			"rsa1": {Key: &rk.PublicKey, KeyID: "rsa1", Algorithm: "RS256", Use: "sig"},
			"ec1":  {Key: &ek.PublicKey, KeyID: "ec1", Algorithm: "ES256", Use: "sig"},
		}
		var set jose.JSONWebKeySet
		for _, kid := range j.present {
			set.Keys = append(set.Keys, all[kid])
		}
		w.Header().Set("Cache-Control", "public, "+j.maxAge)
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(ts.Close)
	j.url = ts.URL
	return j
}

type claims struct {
	jwt.Claims
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified,omitempty"`
}

// sign returns a token with c signed by the key kid names.
func (j *jwks) sign(t *testing.T, kid string, c claims) string {
	t.Helper()
	key := jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: j.rsa, KeyID: kid}}
	if kid == "ec1" {
		key = jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: j.ec, KeyID: kid}}
	}
	s, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func validClaims(now time.Time, email string) claims {
	return claims{
		Claims: jwt.Claims{Issuer: testIssuer, Audience: jwt.Audience{testAudience}, Subject: "1234",
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour))},
		Email: email, EmailVerified: true,
	}
}

// TestJWTThroughClients: the official clients with a JWT as their
// token; expired and foreign-issuer tokens are refused.
func TestJWTThroughClients(t *testing.T) {
	j := newJWKS(t)
	e := start(t, auth.NewJWTVerifier(auth.JWTConfig{JWKSURL: j.url, Issuer: testIssuer, Audience: testAudience}))
	ctx := context.Background()
	now := time.Now()
	expired := validClaims(now.Add(-2*time.Hour), "viewer@example.com")
	foreign := validClaims(now, "viewer@example.com")
	foreign.Issuer = "https://elsewhere.example"
	for name, c := range map[string]struct {
		token string
		ok    bool
	}{
		"RS256":          {j.sign(t, "rsa1", validClaims(now, "viewer@example.com")), true},
		"ES256":          {j.sign(t, "ec1", validClaims(now, "Viewer@Example.com")), true},
		"expired":        {j.sign(t, "rsa1", expired), false},
		"foreign issuer": {j.sign(t, "rsa1", foreign), false},
	} {
		for transport, client := range e.clients(t, c.token) {
			t.Logf("%s over %s", name, transport)
			_, err := client.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queue1})
			if c.ok {
				// The viewer may read: the queue does not exist.
				wantError(t, transport, err, codes.NotFound, "")
			} else {
				wantError(t, transport, err, codes.Unauthenticated, msgInvalid)
			}
		}
	}
}

// TestJWTPrincipalAndKeys: claims map to principals; keys are cached
// as the JWKS's Cache-Control says and refetched for an unknown key ID.
func TestJWTPrincipalAndKeys(t *testing.T) {
	j := newJWKS(t)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	v := auth.NewJWTVerifier(auth.JWTConfig{JWKSURL: j.url, Issuer: testIssuer, Audience: testAudience, Now: clock})
	ctx := context.Background()

	unverified := validClaims(clock(), "eve@example.com")
	unverified.EmailVerified = false
	wrongAud := validClaims(clock(), "a@example.com")
	wrongAud.Audience = jwt.Audience{"https://other.example"}
	noExp := validClaims(clock(), "a@example.com")
	noExp.Expiry = nil
	for token, want := range map[string]string{
		j.sign(t, "rsa1", validClaims(clock(), "ci@p.iam.gserviceaccount.com")): "serviceAccount:ci@p.iam.gserviceaccount.com",
		j.sign(t, "ec1", validClaims(clock(), "Alice@Example.com")):             "user:alice@example.com",
		j.sign(t, "rsa1", unverified):                                           "principal://1234",
		j.sign(t, "rsa1", wrongAud):                                             "",
		j.sign(t, "rsa1", noExp):                                                "",
		"static-token":                                                          "",
	} {
		p, err := v.Principal(ctx, token)
		if want == "" {
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("Principal = %v, %v; want ErrInvalidToken", p, err)
			}
		} else if err != nil || p.Member != want {
			t.Errorf("Principal = %v, %v; want %s", p, err, want)
		}
	}
	if n := j.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within max-age; want 1", n)
	}

	// An unknown key ID refetches, at most once per 5s.
	advance(5 * time.Second)
	stranger := j.sign(t, "rsa9", validClaims(clock(), "a@example.com"))
	for range 3 {
		if _, err := v.Principal(ctx, stranger); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if n := j.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after an unknown kid; want 2", n)
	}

	// After max-age the keys are fetched again; a key removed from the
	// JWKS no longer verifies.
	j.mu.Lock()
	j.present, j.maxAge = []string{"ec1"}, "max-age=600"
	j.mu.Unlock()
	advance(61 * time.Second)
	rsaTok := j.sign(t, "rsa1", validClaims(clock(), "a@example.com"))
	if _, err := v.Principal(ctx, rsaTok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("token of a removed key: %v", err)
	}
	if n := j.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches after max-age; want 3", n)
	}
	advance(500 * time.Second)
	if _, err := v.Principal(ctx, j.sign(t, "ec1", validClaims(clock(), "a@example.com"))); err != nil {
		t.Fatal(err)
	}
	if n := j.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches within the new max-age; want 3", n)
	}
}

// TestJWTFetchOutlivesCaller: a caller that cancels while the keys are
// fetched does not make the fetch fail for the callers after it.
func TestJWTFetchOutlivesCaller(t *testing.T) {
	j := newJWKS(t)
	v := auth.NewJWTVerifier(auth.JWTConfig{JWKSURL: j.url, Issuer: testIssuer, Audience: testAudience})
	token := j.sign(t, "rsa1", validClaims(time.Now(), "a@example.com"))
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = v.Principal(gone, token)
	if p, err := v.Principal(context.Background(), token); err != nil || p.Member != "user:a@example.com" {
		t.Fatalf("after a cancelled caller: %v, %v", p, err)
	}
	if n := j.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches; want 1", n)
	}
}
