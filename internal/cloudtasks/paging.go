package cloudtasks

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Page sizes and token lifetime of spec section 2.2.
const (
	maxQueuePage    = 9800
	maxTaskPage     = 1000
	maxLocationPage = 1000
	tokenLifetime   = 2 * time.Hour
)

// A next_page_token is base64url("scope NUL expiry NUL after"). The scope
// binds the token to the list it belongs to (method, parent and filter) so
// it cannot be replayed on another; the expiry (Unix seconds) makes it
// lapse after two hours as Cloud Tasks' tokens do; "after" is the last key
// returned. Keys are validated resource names and IDs, so they hold no NUL.

// tokenScope identifies one list: the same method, parent and filter.
func tokenScope(method, parent, filter string) string {
	sum := sha256.Sum256([]byte(method + "\x00" + parent + "\x00" + filter))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// encodePageToken returns the opaque token for the page after "after".
func encodePageToken(scope, after string, now time.Time) string {
	exp := strconv.FormatInt(now.Add(tokenLifetime).Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(scope + "\x00" + exp + "\x00" + after))
}

// decodePageToken returns the cursor in token, or INVALID_ARGUMENT when the
// token is malformed, was issued for another list or has expired. An empty
// token is the first page.
func decodePageToken(token, scope string, now time.Time) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", invalid("Invalid page token.")
	}
	parts := strings.SplitN(string(b), "\x00", 3)
	if len(parts) != 3 || parts[2] == "" {
		return "", invalid("Invalid page token.")
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", invalid("Invalid page token.")
	}
	if parts[0] != scope {
		return "", invalid("The page token does not belong to this request; the filter and parent must not change while paging.")
	}
	if now.Unix() > exp {
		return "", invalid("The page token has expired.")
	}
	return parts[2], nil
}

// pageSize returns the effective page size: 0 means the maximum, larger
// values are clamped to it, negative ones are refused.
func pageSize(requested int32, maximum int) (int, error) {
	switch {
	case requested < 0:
		return 0, invalid("page_size cannot be negative.")
	case requested == 0 || int(requested) > maximum:
		return maximum, nil
	}
	return int(requested), nil
}
