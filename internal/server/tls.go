package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// ServeTLS serves h on ln over TLS until ctx ends, then stops gracefully
// (see Serve). Every connection goes to one http.Server, which speaks
// HTTP/2 or HTTP/1.1 as ALPN settles; gRPC calls reach the gRPC server
// through the handler. Serve's shortcut to the gRPC transport cannot
// apply: under TLS a gRPC client and a browser both open HTTP/2, and
// only the request headers tell them apart.
//
// cfg supplies the certificate (Certificates or GetCertificate); its
// minimum version is raised to TLS 1.2 if lower.
func ServeTLS(ctx context.Context, ln net.Listener, h http.Handler, cfg *tls.Config, grace time.Duration) error {
	hs := NewHTTPServer(h)
	hs.Protocols.SetHTTP2(true)
	hs.TLSConfig = cfg.Clone()
	hs.TLSConfig.MinVersion = max(hs.TLSConfig.MinVersion, tls.VersionTLS12)
	return serveUntil(ctx, hs, func() error {
		err := hs.ServeTLS(ln, "", "")
		if err == http.ErrServerClosed {
			return nil
		}
		return err
	}, grace)
}
