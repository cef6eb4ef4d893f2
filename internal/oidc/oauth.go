package oidc

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// DefaultOAuthSource is the OAuth source when none is configured: a fixed
// placeholder, enough for targets that ignore the token (emulators).
const DefaultOAuthSource = "static:opentasks-oauth-token"

// OAuthSource returns access tokens for oauth_token. The service account
// email cannot be impersonated locally, so sources ignore it.
type OAuthSource func(ctx context.Context, email, scope string) (string, error)

// ParseOAuthSource reads a source spec: "static:TOKEN" sends TOKEN;
// "google" sends tokens of Application Default Credentials for the
// task's scope (GOOGLE_APPLICATION_CREDENTIALS, gcloud, or the metadata
// server). "" means DefaultOAuthSource.
func ParseOAuthSource(spec string) (OAuthSource, error) {
	if spec == "" {
		spec = DefaultOAuthSource
	}
	switch {
	case strings.HasPrefix(spec, "static:"):
		tok := strings.TrimPrefix(spec, "static:")
		return func(context.Context, string, string) (string, error) { return tok, nil }, nil
	case spec == "google":
		var mu sync.Mutex
		sources := map[string]oauth2.TokenSource{}
		return func(ctx context.Context, _ string, scope string) (string, error) {
			mu.Lock()
			ts, ok := sources[scope]
			if !ok {
				creds, err := google.FindDefaultCredentials(context.Background(), scope)
				if err != nil {
					mu.Unlock()
					return "", fmt.Errorf("oauth: application default credentials: %w", err)
				}
				ts = oauth2.ReuseTokenSource(nil, creds.TokenSource)
				sources[scope] = ts
			}
			mu.Unlock()
			t, err := ts.Token()
			if err != nil {
				return "", fmt.Errorf("oauth: %w", err)
			}
			return t.AccessToken, nil
		}, nil
	}
	return nil, fmt.Errorf(`oauth token source %q: want "static:TOKEN" or "google"`, spec)
}

// Tokens joins a Signer and an OAuthSource into what internal/deliver
// needs (deliver.Tokens).
type Tokens struct {
	*Signer
	OAuth OAuthSource
}

// AccessToken returns an OAuth access token from the configured source.
func (t Tokens) AccessToken(ctx context.Context, email, scope string) (string, error) {
	return t.OAuth(ctx, email, scope)
}
