package deliver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpproxy"
	"golang.org/x/net/http/httpproxy"
)

// Tokens mints the credentials of oidc_token and oauth_token.
type Tokens interface {
	// IDToken returns a signed OIDC ID token for email and audience.
	IDToken(email, audience string) (string, error)
	// AccessToken returns an OAuth access token for email and scope.
	AccessToken(ctx context.Context, email, scope string) (string, error)
}

// Config configures a Deliverer.
type Config struct {
	// AppEngineHost is the host[:port] App Engine tasks are sent to.
	AppEngineHost string
	// Tokens fills Authorization headers; nil sends none.
	Tokens Tokens
	// MaxConnsPerHost bounds the connections to one target (host and
	// port), so that a burst over many queues, or a target that hangs,
	// waits for a connection to that target instead of running out of
	// files; default 1000, Cloud Tasks' default max_concurrent_dispatches.
	// Each target has its own pool: a hung one holds only its own.
	MaxConnsPerHost int
	// MaxConns bounds the connections open to all targets together, so
	// that many hung targets cannot take the file descriptors the API and
	// the store need; an attempt beyond it fails as ConnectFailed and is
	// retried. Default: no bound.
	MaxConns int
	// ConnectTimeout bounds how long an attempt waits to connect with the
	// default dial (Dial, if set, must bound itself), and through a proxy;
	// default 10s.
	ConnectTimeout time.Duration
	// Dial connects to a target's "host:port" (not to a proxy); default
	// a plain TCP dial. internal/targets.Policy.Dial refuses denied
	// targets here, after name resolution.
	Dial func(addr string) (net.Conn, error)
}

// Deliverer sends attempts. It is safe for concurrent use.
type Deliverer struct {
	cfg    Config
	client *fasthttp.Client
	proxy  func(*url.URL) (*url.URL, error)
	dialer net.Dialer

	mu     sync.Mutex
	conns  map[*conn]struct{} // open connections, so that Close can end the attempts on them
	open   int                // connections open or being dialled
	closed bool
}

// maxResponseHeader is the most response header an attempt reads; a
// response with more fails the attempt. An attempt waiting for its answer
// holds a read buffer this size: most of what a hung attempt on a
// connection costs (see docs/architecture.md, "Isolation"); with 16 KB a
// thousand hung connections held 47 MB less live heap, but large cookies
// and policies in answers would fail.
const maxResponseHeader = 64 << 10

// New returns a Deliverer.
func New(cfg Config) *Deliverer {
	d := &Deliverer{
		cfg:    cfg,
		proxy:  httpproxy.FromEnvironment().ProxyFunc(),
		dialer: net.Dialer{Timeout: cmp.Or(cfg.ConnectTimeout, 10*time.Second), KeepAlive: 30 * time.Second},
		conns:  make(map[*conn]struct{}),
	}
	d.client = &fasthttp.Client{
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		MaxConnsPerHost:               cmp.Or(cfg.MaxConnsPerHost, 1000),
		// An attempt waits for a connection as long as its deadline allows
		// (the longest dispatch_deadline is 30 minutes).
		MaxConnWaitTimeout:  30 * time.Minute,
		MaxIdleConnDuration: 90 * time.Second,
		// Bodies are read only up to drainLimit.
		StreamResponseBody: true,
		// Response headers must fit in the read buffer, which is pooled
		// per response, not kept per connection: room for large cookies
		// and policies (net/http allowed 10 MB).
		ReadBufferSize:  maxResponseHeader,
		RetryIfErr:      retryStale,
		ConfigureClient: d.configure,
	}
	return d
}

// retryStale sends a request again, once, when the connection it went out
// on was closed by the target before any response: a keep-alive connection
// the target had already dropped as idle, as net/http's client does too.
func retryStale(_ *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
	return false, attempts == 1 && (errors.Is(err, fasthttp.ErrConnectionClosed) || errors.Is(err, io.EOF))
}

// configure sets how connections to one host are dialled: through the
// proxy that HTTP_PROXY, HTTPS_PROXY and NO_PROXY name for it, if any (as
// net/http's ProxyFromEnvironment), and tracked for Close.
func (d *Deliverer) configure(hc *fasthttp.HostClient) error {
	scheme := "http"
	if hc.IsTLS {
		scheme = "https"
	}
	proxyURL, err := d.proxy(&url.URL{Scheme: scheme, Host: hc.Addr})
	if err != nil {
		return fmt.Errorf("proxy for %s: %w", hc.Addr, err)
	}
	dial := func(addr string) (net.Conn, error) { return d.dialer.Dial("tcp", addr) }
	if d.cfg.Dial != nil {
		dial = d.cfg.Dial
	}
	if proxyURL != nil {
		p := &fasthttpproxy.Dialer{
			// Go's resolver, as for direct connections, rather than
			// fasthttp's DNS cache (whose sweeper never ends).
			TCPDialer:     fasthttp.TCPDialer{DisableDNSResolution: true},
			Config:        httpproxy.Config{HTTPProxy: proxyURL.String(), HTTPSProxy: proxyURL.String()},
			Timeout:       d.dialer.Timeout,
			DialDualStack: true,
		}
		if dial, err = p.GetDialFuncForTLS(false, hc.IsTLS); err != nil {
			return fmt.Errorf("proxy for %s: %w", hc.Addr, err)
		}
	}
	hc.Dial = func(addr string) (net.Conn, error) {
		if !d.reserve() {
			return nil, &dialError{errTooManyConns}
		}
		c, err := dial(addr)
		if err != nil {
			d.unreserve()
			return nil, &dialError{err}
		}
		return d.track(c)
	}
	return nil
}

// conn is a connection that forgets itself in its Deliverer when closed.
type conn struct {
	net.Conn
	d    *Deliverer
	once sync.Once
}

func (c *conn) Close() error {
	c.once.Do(func() {
		c.d.mu.Lock()
		delete(c.d.conns, c)
		c.d.open--
		c.d.mu.Unlock()
	})
	return c.Conn.Close()
}

// reserve counts a connection about to be dialled, if MaxConns allows.
func (d *Deliverer) reserve() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cfg.MaxConns > 0 && d.open >= d.cfg.MaxConns {
		return false
	}
	d.open++
	return true
}

func (d *Deliverer) unreserve() {
	d.mu.Lock()
	d.open--
	d.mu.Unlock()
}

// OpenConns is the number of connections open to targets (or being
// dialled).
func (d *Deliverer) OpenConns() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.open
}

// track keeps a new connection (reserved) for Close.
func (d *Deliverer) track(nc net.Conn) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		d.open--
		nc.Close()
		return nil, &dialError{errClosed}
	}
	c := &conn{Conn: nc, d: d}
	d.conns[c] = struct{}{}
	return c, nil
}

var errClosed = errors.New("deliverer closed")

// Close ends the attempts in flight, which fail without a response, and
// closes every connection; later attempts fail at once. The dispatcher
// calls it when it stops and abandons its attempts.
func (d *Deliverer) Close() {
	d.mu.Lock()
	d.closed = true
	conns := make([]*conn, 0, len(d.conns))
	for c := range d.conns {
		conns = append(conns, c)
	}
	d.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	d.client.CloseIdleConnections()
}

// Attempt is what one delivery needs.
type Attempt struct {
	Queue *cloudtaskspb.Queue
	// Task is the task to deliver. The X-CloudTasks-* counts come from the
	// fields below, not from Task, which may already record this attempt.
	Task *cloudtaskspb.Task
	// RetryCount is the number of earlier attempts (dispatch_count before
	// this one) and Previous the last of them (nil for none).
	RetryCount     int32
	Previous       *cloudtaskspb.Attempt
	ExecutionCount int32
	QueueID        string
	TaskID         string
}

// Result is the outcome of an attempt.
type Result struct {
	// Status is the HTTP status of the response; 0 when none came.
	Status int
	// TimedOut: the dispatch deadline expired first.
	TimedOut bool
	// Failure says why no response came (Status 0).
	Failure Failure
	// RetryAfter is the delay a 429 or 503 response asked for, if any.
	RetryAfter time.Duration
	// Err says why no response came (Status 0).
	Err error
	// AppEngine: the attempt went to an App Engine target.
	AppEngine bool
}

// Succeeded reports a 2xx response.
func (r Result) Succeeded() bool { return r.Status >= 200 && r.Status < 300 }

// drainLimit bounds how much of a response body is read; a longer body's
// connection is closed rather than reused.
const drainLimit = 64 << 10

// Deliver sends the attempt and waits for the response, at most the task's
// dispatch deadline. ctx bounds the minting of an OAuth token; Close, not
// ctx, ends an attempt in flight.
func (d *Deliverer) Deliver(ctx context.Context, a *Attempt) Result {
	deadline := time.Now().Add(Deadline(a.Task))
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	ae, err := d.build(ctx, a, req, deadline)
	res := Result{AppEngine: ae}
	if err != nil {
		res.Err, res.Failure = err, RequestFailed
		return res
	}
	if ae {
		err = d.client.DoDeadline(req, resp, deadline)
	} else {
		err = d.follow(req, resp, deadline)
	}
	if err != nil {
		res.Err = err
		res.Failure = classify(err, !time.Now().Before(deadline))
		res.TimedOut = res.Failure == DeadlineExceeded
		return res
	}
	if body := resp.BodyStream(); body != nil {
		io.CopyN(io.Discard, body, drainLimit)
	}
	res.Status = resp.StatusCode()
	if res.Status == http.StatusTooManyRequests || res.Status == http.StatusServiceUnavailable {
		res.RetryAfter = retryAfter(string(resp.Header.Peek("Retry-After")), time.Now())
	}
	return res
}

// maxRedirects is how many redirects an HTTP task's attempt follows, as
// net/http's client.
const maxRedirects = 10

// follow sends req and follows the redirects of its responses, within one
// deadline, the way net/http's client does: 301, 302 and 303 turn the
// request into a GET without a body (HEAD stays HEAD), 307 and 308 repeat
// it; credentials go only to the same host or its subdomains. A redirect
// is not a separate attempt (spec 5.1).
func (d *Deliverer) follow(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	origin := string(req.URI().Host())
	for n := 0; ; n++ {
		if err := d.client.DoDeadline(req, resp, deadline); err != nil {
			return err
		}
		code := resp.StatusCode()
		loc := resp.Header.Peek("Location")
		if !fasthttp.StatusCodeIsRedirect(code) || len(loc) == 0 {
			return nil
		}
		if n == maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		if code != http.StatusTemporaryRedirect && code != http.StatusPermanentRedirect && !req.Header.IsHead() {
			req.Header.SetMethod(http.MethodGet)
			req.ResetBody()
			del(req, "Content-Type", "Content-Length")
		}
		req.URI().UpdateBytes(loc)
		host := string(req.URI().Host())
		req.Header.Set("Host", host)
		if !sameSite(host, origin) {
			del(req, "Authorization", "Www-Authenticate", "Cookie", "Cookie2")
		}
		resp.Reset() // closes the redirect's body
	}
}

// sameSite reports whether host is origin's host or a subdomain of it,
// ports aside: where net/http's client keeps sending credentials.
func sameSite(host, origin string) bool {
	host, origin = hostname(host), hostname(origin)
	return strings.EqualFold(host, origin) ||
		len(host) > len(origin) && strings.EqualFold(host[len(host)-len(origin):], origin) && host[len(host)-len(origin)-1] == '.'
}

func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// Deadline is the attempt's timeout: the task's dispatch_deadline, or the
// default of its target type (10 minutes for both).
func Deadline(t *cloudtaskspb.Task) time.Duration {
	if d := t.GetDispatchDeadline().AsDuration(); d > 0 {
		return d
	}
	return 10 * time.Minute
}

// retryAfter parses a Retry-After value: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
