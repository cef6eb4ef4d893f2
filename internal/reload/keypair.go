package reload

import (
	"crypto/tls"
	"fmt"
)

// KeyPair is a TLS certificate and key read from PEM files and re-read
// when either changes, for tls.Config.GetCertificate.
type KeyPair struct {
	file *File[*tls.Certificate]
}

// NewKeyPair loads certFile and keyFile.
func NewKeyPair(certFile, keyFile string, opts ...Option) (*KeyPair, error) {
	f, err := New(func(c [][]byte) (*tls.Certificate, error) {
		cert, err := tls.X509KeyPair(c[0], c[1])
		if err != nil {
			return nil, fmt.Errorf("TLS key pair: %w", err)
		}
		return &cert, nil
	}, []string{certFile, keyFile}, opts...)
	if err != nil {
		return nil, err
	}
	return &KeyPair{file: f}, nil
}

// GetCertificate returns the current certificate, whatever the client
// asked for.
func (k *KeyPair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.file.Get(), nil
}
