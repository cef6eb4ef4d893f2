package oidc

import (
	"encoding/json"
	"net/http"

	"github.com/go-jose/go-jose/v4"
)

// Paths the server publishes the documents at.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
)

// Discovery serves the OpenID discovery document at DiscoveryPath.
func (s *Signer) Discovery() http.Handler {
	doc := map[string]any{
		"issuer":                                s.issuer,
		"jwks_uri":                              s.issuer + JWKSPath,
		"id_token_signing_alg_values_supported": []string{string(jose.RS256)},
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"claims_supported":                      []string{"aud", "email", "email_verified", "exp", "iat", "iss", "sub"},
	}
	return jsonHandler(doc)
}

// JWKS serves the public signing key at JWKSPath.
func (s *Signer) JWKS() http.Handler {
	return jsonHandler(s.PublicKeys())
}

func jsonHandler(v any) http.Handler {
	body, err := json.Marshal(v)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(body)
	})
}
