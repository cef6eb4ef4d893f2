// Package targets decides where OpenTasks may deliver tasks
// (--deny-targets, --allow-targets), so that whoever may create a task
// cannot make the server reach what only the server can reach: the cloud
// metadata server above all, which hands out the host's credentials.
//
// A target is judged twice. CreateTask refuses what is certainly denied
// from the URL alone (a literal address, a denied name) with
// INVALID_ARGUMENT, and every connection is judged again on the address
// it is about to connect to, after name resolution (net.Dialer.Control,
// which runs before the connect system call), so a name that resolves to
// a denied address, at creation or later (DNS rebinding), is refused
// without a packet sent to it.
//
// The rules, first match wins:
//
//  1. --deny-targets (addresses, CIDRs or host names): denied.
//  2. --allow-targets address or CIDR containing the address: allowed.
//  3. --allow-targets given, and the host name is not in it: denied.
//  4. The built-in list (link-local 169.254.0.0/16 and fe80::/10, AWS's
//     IPv6 metadata address fd00:ec2::254, the name
//     metadata.google.internal): denied.
//  5. Allowed.
//
// So an operator who really means to reach a built-in address lists it in
// --allow-targets, and a host name listed there still cannot resolve to a
// built-in address. Through an HTTP proxy (HTTP_PROXY) the connection is
// to the proxy, so only the URL check applies; the proxy must do the rest.
package targets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ErrDenied is wrapped by every refusal.
var ErrDenied = errors.New("target denied")

// Policy is a parsed pair of --deny-targets and --allow-targets. Its
// zero value is not usable; use Parse.
type Policy struct {
	deny, allow           []netip.Prefix
	denyNames, allowNames []string
	builtin               []netip.Prefix
	builtinNames          []string
	logger                *slog.Logger
}

// Parse reads comma-separated lists of addresses, CIDRs and host names
// ("*.example.com" matches every subdomain). logger records each
// connection refused; nil discards.
func Parse(deny, allow string, logger *slog.Logger) (*Policy, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Policy{
		builtin: []netip.Prefix{
			netip.MustParsePrefix("169.254.0.0/16"),
			netip.MustParsePrefix("fe80::/10"),
			netip.MustParsePrefix("fd00:ec2::254/128"),
		},
		builtinNames: []string{"metadata.google.internal"},
		logger:       logger,
	}
	var err error
	if p.deny, p.denyNames, err = parseList(deny); err != nil {
		return nil, fmt.Errorf("--deny-targets: %w", err)
	}
	if p.allow, p.allowNames, err = parseList(allow); err != nil {
		return nil, fmt.Errorf("--allow-targets: %w", err)
	}
	return p, nil
}

func parseList(s string) ([]netip.Prefix, []string, error) {
	var prefixes []netip.Prefix
	var names []string
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
		case strings.Contains(e, "/"):
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, nil, err
			}
			prefixes = append(prefixes, p.Masked())
		default:
			if a, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
				a = a.Unmap()
				prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
				continue
			}
			if strings.ContainsAny(e, ":@ ") {
				return nil, nil, fmt.Errorf("%q is neither an address, a CIDR nor a host name", e)
			}
			names = append(names, normalize(e))
		}
	}
	return prefixes, names, nil
}

func normalize(host string) string { return strings.TrimSuffix(strings.ToLower(host), ".") }

func nameIn(names []string, host string) bool {
	return slices.ContainsFunc(names, func(n string) bool {
		if suffix, ok := strings.CutPrefix(n, "*."); ok {
			return strings.HasSuffix(host, "."+suffix)
		}
		return n == host
	})
}

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	return a.IsValid() && slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
}

// decide applies the rules to a host name (or literal) and, once
// resolved, the address about to be connected to (invalid before).
func (p *Policy) decide(host string, a netip.Addr) error {
	host = normalize(host)
	switch {
	case contains(p.deny, a) || nameIn(p.denyNames, host):
		return fmt.Errorf("%w: %s is in --deny-targets", ErrDenied, describe(host, a))
	case contains(p.allow, a):
		return nil
	case (len(p.allow) > 0 || len(p.allowNames) > 0) && !nameIn(p.allowNames, host):
		return fmt.Errorf("%w: %s is not in --allow-targets", ErrDenied, describe(host, a))
	case contains(p.builtin, a) || nameIn(p.builtinNames, host):
		return fmt.Errorf("%w: %s is a link-local or cloud metadata address (list it in --allow-targets to allow it)", ErrDenied, describe(host, a))
	}
	return nil
}

func describe(host string, a netip.Addr) string {
	if !a.IsValid() || host == a.String() {
		return host
	}
	return fmt.Sprintf("%s (%s)", host, a)
}

// nameDenied returns an error wrapping ErrDenied if a host name is
// denied wherever it resolves.
func (p *Policy) nameDenied(host string) error {
	host = normalize(host)
	switch {
	case nameIn(p.denyNames, host):
		return fmt.Errorf("%w: %s is in --deny-targets", ErrDenied, host)
	case nameIn(p.allowNames, host):
		return nil
	case len(p.allowNames) > 0 && len(p.allow) == 0:
		return fmt.Errorf("%w: %s is not in --allow-targets", ErrDenied, host)
	case nameIn(p.builtinNames, host):
		return fmt.Errorf("%w: %s is a cloud metadata server (list it in --allow-targets to allow it)", ErrDenied, host)
	}
	return nil
}

// CheckURL returns an error wrapping ErrDenied if rawURL's host is
// denied whatever it resolves to: a denied literal address or name.
// Other names are left to the connection.
func (p *Policy) CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil // not ours to judge; URL validation reports it
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		return p.decide(host, a.Unmap())
	}
	return p.nameDenied(host)
}

// dialTimeout and keepAlive are those of the connections deliver makes.
const (
	dialTimeout = 30 * time.Second
	keepAlive   = 30 * time.Second
)

// Dial connects to addr ("host:port") over TCP if the policy allows the
// host and the address it resolves to; a refusal wraps ErrDenied, is
// logged at warn level, and sends nothing.
func (p *Policy) Dial(addr string) (net.Conn, error) {
	return p.DialContext(context.Background(), "tcp", addr)
}

// DialContext is Dial for an http.Transport (workflow executions' HTTP
// calls).
func (p *Policy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if _, err := netip.ParseAddr(host); err != nil {
		// A denied name is refused before it is looked up.
		if err := p.nameDenied(host); err != nil {
			p.logger.Warn("task target denied", "target", addr, "reason", err.Error())
			return nil, err
		}
	}
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: cannot parse the address %q", ErrDenied, address)
		}
		if err := p.decide(host, ap.Addr().Unmap()); err != nil {
			p.logger.Warn("task target denied", "target", addr, "address", address, "reason", err.Error())
			return err
		}
		return nil
	}}
	return d.DialContext(ctx, network, addr)
}
