package oidc_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.uber.org/goleak"

	"github.com/opentasks/opentasks/internal/oidc"
	"github.com/opentasks/opentasks/internal/store/sqlite"
	"github.com/opentasks/opentasks/internal/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 500_000_000, time.UTC)

func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// publish serves the signer's documents the way the server does and
// returns the issuer URL.
func publish(t *testing.T, st *sqlite.Store, now func() time.Time) (*oidc.Signer, string) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s, err := oidc.NewSigner(context.Background(), st, srv.URL, now)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("GET "+oidc.DiscoveryPath, s.Discovery())
	mux.Handle("GET "+oidc.JWKSPath, s.JWKS())
	return s, srv.URL
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %s, Content-Type %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// discoverKeys finds the JWKS as a verifier does: from the issuer's
// discovery document.
func discoverKeys(t *testing.T, issuer string) jose.JSONWebKeySet {
	t.Helper()
	var doc struct {
		Issuer  string   `json:"issuer"`
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	getJSON(t, issuer+oidc.DiscoveryPath, &doc)
	if doc.Issuer != issuer || doc.JWKSURI != issuer+oidc.JWKSPath || strings.Join(doc.Algs, ",") != "RS256" {
		t.Fatalf("discovery document %+v", doc)
	}
	var set jose.JSONWebKeySet
	getJSON(t, doc.JWKSURI, &set)
	if len(set.Keys) != 1 || !set.Keys[0].IsPublic() || set.Keys[0].Algorithm != "RS256" || set.Keys[0].Use != "sig" || set.Keys[0].KeyID == "" {
		t.Fatalf("JWKS %+v, want one public RS256 signing key with a kid", set)
	}
	return set
}

type googleClaims struct {
	jwt.Claims
	Email         string `json:"email"`
	EmailVerified *bool  `json:"email_verified"`
}

// verify checks raw's signature against set and returns its claims.
func verify(t *testing.T, raw string, set jose.JSONWebKeySet) (googleClaims, error) {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parsing token: %v", err)
	}
	if h := tok.Headers[0]; h.KeyID != set.Keys[0].KeyID || h.ExtraHeaders["typ"] != "JWT" {
		t.Errorf("token header %+v, want kid %s and typ JWT", h, set.Keys[0].KeyID)
	}
	var c googleClaims
	return c, tok.Claims(set, &c)
}

// TestIDToken: a token verifies against the JWKS found through the
// discovery document, with the claims of a Google ID token.
func TestIDToken(t *testing.T) {
	clock := storetest.NewClock(t0)
	st := openStore(t, filepath.Join(t.TempDir(), "k.db"))
	t.Cleanup(func() { st.Close() })
	s, issuer := publish(t, st, clock.Now)
	const email = "worker@p.iam.gserviceaccount.com"
	raw, err := s.IDToken(email, "https://target.example/hook")
	if err != nil {
		t.Fatal(err)
	}
	set := discoverKeys(t, issuer)
	c, err := verify(t, raw, set)
	if err != nil {
		t.Fatalf("token does not verify against the server's JWKS: %v", err)
	}
	iat := t0.Truncate(time.Second)
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{"https://target.example/hook"},
		Subject: c.Subject, Time: iat.Add(59 * time.Minute)}, 0); err != nil {
		t.Fatalf("claims %+v: %v", c, err)
	}
	if !c.IssuedAt.Time().Equal(iat) || !c.Expiry.Time().Equal(iat.Add(time.Hour)) {
		t.Fatalf("iat %v exp %v, want %v and an hour later", c.IssuedAt.Time(), c.Expiry.Time(), iat)
	}
	if c.Email != email || c.EmailVerified == nil || !*c.EmailVerified {
		t.Fatalf("email %q email_verified %v", c.Email, c.EmailVerified)
	}
	if !regexp.MustCompile(`^[0-9]{21}$`).MatchString(c.Subject) {
		t.Fatalf("sub %q, want a 21-digit account ID", c.Subject)
	}
	// email_verified is a JSON boolean, as in Google's tokens.
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	if !strings.Contains(string(payload), `"email_verified":true`) {
		t.Fatalf("payload %s", payload)
	}

	// The subject is stable per account and differs between accounts.
	other, err := s.IDToken("other@p.iam.gserviceaccount.com", "https://target.example/hook")
	if err != nil {
		t.Fatal(err)
	}
	oc, err := verify(t, other, set)
	if err != nil || oc.Subject == c.Subject {
		t.Fatalf("other account: sub %q (first %q), err %v", oc.Subject, c.Subject, err)
	}

	// An hour later the token has expired.
	if err := c.ValidateWithLeeway(jwt.Expected{Time: iat.Add(time.Hour + time.Second)}, 0); err == nil {
		t.Fatal("token still valid after an hour")
	}
}

// TestTokenReuse: a token is reused for the same account and audience
// until ten minutes before it expires.
func TestTokenReuse(t *testing.T) {
	clock := storetest.NewClock(t0)
	st := openStore(t, filepath.Join(t.TempDir(), "k.db"))
	t.Cleanup(func() { st.Close() })
	s, _ := publish(t, st, clock.Now)
	mint := func(aud string) string {
		tok, err := s.IDToken("a@p", aud)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	a := mint("https://a")
	if b := mint("https://b"); b == a {
		t.Fatal("same token for two audiences")
	}
	clock.Advance(49 * time.Minute)
	if mint("https://a") != a {
		t.Fatal("token not reused 49 minutes in")
	}
	clock.Advance(time.Minute)
	if mint("https://a") == a {
		t.Fatal("token reused 10 minutes before it expires")
	}
}

// TestKeyPersists: the signing key is created once and kept in the store,
// so the kid and the tokens outlive a restart, and two signers racing on
// a fresh store agree on one key.
func TestKeyPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.db")
	st := openStore(t, path)
	var wg sync.WaitGroup
	signers := make([]*oidc.Signer, 4)
	for i := range signers {
		wg.Go(func() {
			s, err := oidc.NewSigner(context.Background(), st, "http://issuer", nil)
			if err != nil {
				t.Error(err)
			}
			signers[i] = s
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	raw, err := signers[0].IDToken("a@p", "aud")
	if err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, s := range signers {
		kids[jwksOf(t, s).Keys[0].KeyID] = true
	}
	if len(kids) != 1 {
		t.Fatalf("racing signers use %d keys, want one", len(kids))
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openStore(t, path)
	t.Cleanup(func() { st.Close() })
	s, err := oidc.NewSigner(context.Background(), st, "http://issuer", nil)
	if err != nil {
		t.Fatal(err)
	}
	set := jwksOf(t, s)
	if !kids[set.Keys[0].KeyID] {
		t.Fatalf("kid after reopening %s, want the stored key's %v", set.Keys[0].KeyID, kids)
	}
	if _, err := verify(t, raw, set); err != nil {
		t.Fatalf("token from before the restart does not verify: %v", err)
	}

	// A different store has a different key, whose JWKS rejects the token.
	fresh := openStore(t, filepath.Join(t.TempDir(), "other.db"))
	t.Cleanup(func() { fresh.Close() })
	fs, err := oidc.NewSigner(context.Background(), fresh, "http://issuer", nil)
	if err != nil {
		t.Fatal(err)
	}
	foreign := jwksOf(t, fs)
	foreign.Keys[0].KeyID = set.Keys[0].KeyID // same kid, other key
	if _, err := verify(t, raw, foreign); err == nil {
		t.Fatal("token verifies against another store's key")
	}
}

func jwksOf(t *testing.T, s *oidc.Signer) jose.JSONWebKeySet {
	t.Helper()
	rec := httptest.NewRecorder()
	s.JWKS().ServeHTTP(rec, httptest.NewRequest("GET", oidc.JWKSPath, nil))
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", rec.Body, err)
	}
	return set
}

// TestOAuthSource: the sources ParseOAuthSource accepts.
func TestOAuthSource(t *testing.T) {
	for spec, want := range map[string]string{"static:tok-123": "tok-123", "": "opentasks-oauth-token"} {
		src, err := oidc.ParseOAuthSource(spec)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := oidc.Tokens{OAuth: src}.AccessToken(t.Context(), "a@p", "scope")
		if err != nil || tok != want {
			t.Fatalf("%q: token %q, %v; want %q", spec, tok, err, want)
		}
	}
	if _, err := oidc.ParseOAuthSource("metadata"); err == nil {
		t.Fatal("unknown source accepted")
	}
}
