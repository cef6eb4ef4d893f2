package auth

import (
	"context"
	"strings"
)

// Principal is an authenticated caller, named by its IAM member string:
// "user:EMAIL", "serviceAccount:EMAIL" or "principal://SUBJECT".
type Principal struct {
	Member string
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p as the caller.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller ctx carries, if it was authenticated.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// emailMember names the owner of email as IAM does: Google service
// accounts are serviceAccount:, everyone else user:.
func emailMember(email string) string {
	email = strings.ToLower(email)
	if strings.HasSuffix(email, ".gserviceaccount.com") {
		return "serviceAccount:" + email
	}
	return "user:" + email
}

// matches reports whether the binding member m covers p. Groups cannot
// match: OpenTasks knows no group memberships.
func (p Principal) matches(m string) bool {
	switch {
	case m == "allUsers", m == "allAuthenticatedUsers":
		return true
	case strings.HasPrefix(m, "domain:"):
		_, email, ok := strings.Cut(p.Member, ":")
		at := strings.LastIndexByte(email, '@')
		return ok && at >= 0 && strings.EqualFold(email[at+1:], m[len("domain:"):])
	}
	return strings.EqualFold(m, p.Member)
}
