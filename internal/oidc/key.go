package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/opentasks/opentasks/internal/store"
)

const keyRecord = "oidc"

// loadKey returns the store's signing key, creating it on first use. When
// two nodes race, the first stored key wins and both use it.
func loadKey(ctx context.Context, st store.Store) (*rsa.PrivateKey, error) {
	der, err := st.GetRecord(ctx, store.KindSigningKey, keyRecord)
	if errors.Is(err, store.ErrNotFound) {
		// Generated outside UpdateRecord: it is slow, and the store's
		// writer must not wait for it.
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("oidc: generating signing key: %w", err)
		}
		fresh, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("oidc: encoding signing key: %w", err)
		}
		err = st.UpdateRecord(ctx, store.KindSigningKey, keyRecord, func(cur []byte) ([]byte, error) {
			if cur != nil {
				der = cur
				return cur, nil
			}
			der = fresh
			return fresh, nil
		})
		if err != nil {
			return nil, fmt.Errorf("oidc: storing signing key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("oidc: reading signing key: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("oidc: decoding signing key: %w", err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("oidc: stored signing key is not an RSA key")
	}
	return key, nil
}

// keyID names the key in the JWKS: a digest of its public half.
func keyID(key *rsa.PrivateKey) string {
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey) // cannot fail for RSA
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}
