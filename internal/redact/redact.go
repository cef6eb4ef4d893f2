// Package redact keeps credentials out of the logs: bearer tokens and
// passwords in Authorization headers (the server's callers', and those
// tasks carry to their targets), cookies, and JWTs wherever they appear
// in a logged string.
package redact

import (
	"log/slog"
	"regexp"
	"strings"
)

// Mask replaces every secret.
const Mask = "REDACTED"

var (
	// credentialRe matches an HTTP credential after its scheme.
	credentialRe = regexp.MustCompile(`(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+`)
	// jwtRe matches a JWS compact serialization (a JWT): two base64url
	// JSON objects ("eyJ" is `{"`) and a signature.
	jwtRe = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*`)
)

// String returns s with credentials and JWTs masked.
func String(s string) string {
	s = credentialRe.ReplaceAllString(s, "${1}${2}"+Mask)
	return jwtRe.ReplaceAllString(s, Mask)
}

// sensitive reports whether a header or log attribute named name holds a
// secret by its name alone.
func sensitive(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-goog-api-key":
		return true
	}
	for _, w := range []string{"token", "password", "secret", "credential"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Headers returns a copy of h safe to log: the values of sensitive
// headers masked, credentials in the others too.
func Headers(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if sensitive(k) {
			out[k] = Mask
		} else {
			out[k] = String(v)
		}
	}
	return out
}

// ReplaceAttr is a slog.HandlerOptions.ReplaceAttr that masks attributes
// with sensitive names and credentials inside string values.
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	if sensitive(a.Key) {
		return slog.String(a.Key, Mask)
	}
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); String(s) != s {
			return slog.String(a.Key, String(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			if s := err.Error(); String(s) != s {
				return slog.String(a.Key, String(s))
			}
		}
	}
	return a
}
