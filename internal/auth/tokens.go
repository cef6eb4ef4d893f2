package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/opentasks/opentasks/internal/reload"
)

// StaticTokens are the bearer tokens of an --auth-tokens file, re-read
// when the file changes.
type StaticTokens struct {
	file *reload.File[map[[32]byte]Principal]
}

// NewStaticTokens reads path: one "TOKEN PRINCIPAL" a line, # comments.
func NewStaticTokens(path string, opts ...reload.Option) (*StaticTokens, error) {
	f, err := reload.New(func(c [][]byte) (map[[32]byte]Principal, error) { return ParseTokens(c[0]) }, []string{path}, opts...)
	if err != nil {
		return nil, fmt.Errorf("--auth-tokens: %w", err)
	}
	return &StaticTokens{file: f}, nil
}

// ParseTokens parses the contents of a tokens file. Tokens are kept as
// their SHA-256 so that a lookup compares digests, not secrets.
func ParseTokens(b []byte) (map[[32]byte]Principal, error) {
	out := map[[32]byte]Principal{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("line %d: want TOKEN PRINCIPAL", n)
		}
		member := fields[1]
		if member == "allUsers" || member == "allAuthenticatedUsers" || !validMember(member) ||
			strings.HasPrefix(member, "domain:") || strings.HasPrefix(member, "group:") || strings.HasPrefix(member, "principalSet://") {
			return nil, fmt.Errorf("line %d: %q is not a principal (want user:EMAIL, serviceAccount:EMAIL or principal://...)", n, member)
		}
		sum := sha256.Sum256([]byte(fields[0]))
		if _, dup := out[sum]; dup {
			return nil, fmt.Errorf("line %d: the token is already on an earlier line", n)
		}
		out[sum] = Principal{Member: member}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Principal implements TokenSource.
func (s *StaticTokens) Principal(_ context.Context, token string) (Principal, error) {
	if p, ok := s.file.Get()[sha256.Sum256([]byte(token))]; ok {
		return p, nil
	}
	return Principal{}, fmt.Errorf("static token: %w", ErrInvalidToken)
}
