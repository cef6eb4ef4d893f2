// Package pagetoken makes and checks the opaque next_page_token of List
// methods: bound to one list, lapsing after two hours as Google's do.
package pagetoken

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// lifetime is how long a token stays valid.
const lifetime = 2 * time.Hour

// A next_page_token is base64url("scope NUL expiry NUL after"). The scope
// binds the token to the list it belongs to (method, parent and filter) so
// it cannot be replayed on another; the expiry (Unix seconds) makes it
// lapse after two hours as Cloud Tasks' tokens do; "after" is the last key
// returned. Keys are validated resource names and IDs, so they hold no NUL.

// Scope identifies one list: the same method, parent and filter.
func Scope(method, parent, filter string) string {
	sum := sha256.Sum256([]byte(method + "\x00" + parent + "\x00" + filter))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// Encode returns the opaque token for the page after "after".
func Encode(scope, after string, now time.Time) string {
	exp := strconv.FormatInt(now.Add(lifetime).Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(scope + "\x00" + exp + "\x00" + after))
}

// Decode returns the cursor in token, or INVALID_ARGUMENT when the
// token is malformed, was issued for another list or has expired. An empty
// token is the first page.
func Decode(token, scope string, now time.Time) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", status.Error(codes.InvalidArgument, "Invalid page token.")
	}
	parts := strings.SplitN(string(b), "\x00", 3)
	if len(parts) != 3 || parts[2] == "" {
		return "", status.Error(codes.InvalidArgument, "Invalid page token.")
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", status.Error(codes.InvalidArgument, "Invalid page token.")
	}
	if parts[0] != scope {
		return "", status.Error(codes.InvalidArgument, "The page token does not belong to this request; the filter and parent must not change while paging.")
	}
	if now.Unix() > exp {
		return "", status.Error(codes.InvalidArgument, "The page token has expired.")
	}
	return parts[2], nil
}
