package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Healthcheck is `opentasks healthcheck`: GET /healthz on the endpoint,
// exit 0 when it answers 200. Container images without curl run it as
// their HEALTHCHECK. Found from serve's OPENTASKS_ADDR with
// OPENTASKS_TLS_CERT set, the server is asked over TLS and must present
// that certificate.
func Healthcheck(ctx context.Context, env Env, args []string) int {
	const path = "opentasks.healthcheck"
	fs := flag.NewFlagSet("opentasks healthcheck", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	local := localEndpoint(env.Getenv("OPENTASKS_ADDR"))
	certFile := env.Getenv("OPENTASKS_TLS_CERT")
	if local != "" && certFile != "" {
		local = "https" + strings.TrimPrefix(local, "http")
	}
	endpoint := fs.String("endpoint", firstOf(env.Getenv("OPENTASKS_ENDPOINT"), local, DefaultEndpoint),
		"server `URL` (default $OPENTASKS_ENDPOINT, else serve's $OPENTASKS_ADDR on loopback)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if _, err := Parse(fs, args); err != nil {
		return Usage(env.Stderr, path, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *endpoint+"/healthz", nil)
	if err != nil {
		return Usage(env.Stderr, path, err)
	}
	client := http.DefaultClient
	if *endpoint == local && certFile != "" {
		if client, err = pinnedClient(certFile); err != nil {
			return Exit(env.Stderr, path, err)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return Exit(env.Stderr, path, fmt.Errorf("not healthy: %w", err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return Exit(env.Stderr, path, fmt.Errorf("not healthy: /healthz answered %s", resp.Status))
	}
	fmt.Fprintln(env.Stdout, "ok")
	return ExitOK
}

// localEndpoint is where a server listening on addr (serve's --addr, as
// OPENTASKS_ADDR sets it in a container) answers on this host: an
// unspecified host is loopback. It is "" when addr is.
func localEndpoint(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// pinnedClient trusts exactly the certificate serve's --tls-cert names
// (its first, leaf certificate): the server found from OPENTASKS_ADDR is
// this host's own, whatever names its certificate carries.
func pinnedClient(certFile string) (*http.Client, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("reading OPENTASKS_TLS_CERT: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("OPENTASKS_TLS_CERT %s: no PEM certificate", certFile)
	}
	leaf := block.Bytes
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The name check is replaced by the comparison below.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], leaf) {
				return errors.New("the server's certificate is not the one OPENTASKS_TLS_CERT names")
			}
			return nil
		},
	}}}, nil
}
