package deliver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
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
	// Transport sends the requests; nil uses a keep-alive transport sized
	// for many concurrent attempts.
	Transport http.RoundTripper
}

// Deliverer sends attempts. It is safe for concurrent use.
type Deliverer struct {
	cfg Config
	// http follows redirects (HTTP targets); appEngine does not.
	http, appEngine *http.Client
}

// New returns a Deliverer.
func New(cfg Config) *Deliverer {
	if cfg.Transport == nil {
		cfg.Transport = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 1024,
			// Bounds sockets per target: a burst of many queues at once
			// waits for a connection instead of running out of files.
			MaxConnsPerHost:   256,
			IdleConnTimeout:   90 * time.Second,
			ForceAttemptHTTP2: true,
		}
	}
	return &Deliverer{
		cfg:  cfg,
		http: &http.Client{Transport: cfg.Transport},
		appEngine: &http.Client{Transport: cfg.Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
}

// CloseIdle closes idle keep-alive connections.
func (d *Deliverer) CloseIdle() {
	d.http.CloseIdleConnections()
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
	// RetryAfter is the delay a 429 or 503 response asked for, if any.
	RetryAfter time.Duration
	// Err says why no response came (Status 0).
	Err error
	// AppEngine: the attempt went to an App Engine target.
	AppEngine bool
}

// Succeeded reports a 2xx response.
func (r Result) Succeeded() bool { return r.Status >= 200 && r.Status < 300 }

// drainLimit bounds how much of a response body is read so that its
// connection can be reused.
const drainLimit = 64 << 10

// Deliver sends the attempt and waits for the response, at most the task's
// dispatch deadline.
func (d *Deliverer) Deliver(ctx context.Context, a *Attempt) Result {
	ctx, cancel := context.WithTimeout(ctx, Deadline(a.Task))
	defer cancel()
	req, ae, err := d.build(ctx, a)
	res := Result{AppEngine: ae}
	if err != nil {
		res.Err = err
		return res
	}
	client := d.http
	if ae {
		client = d.appEngine
	}
	resp, err := client.Do(req)
	if err != nil {
		res.Err = err
		res.TimedOut = errors.Is(ctx.Err(), context.DeadlineExceeded)
		return res
	}
	if resp.Body != http.NoBody { // empty responses need no drain (nor CopyN's allocation)
		io.CopyN(io.Discard, resp.Body, drainLimit)
	}
	resp.Body.Close()
	res.Status = resp.StatusCode
	if res.Status == http.StatusTooManyRequests || res.Status == http.StatusServiceUnavailable {
		res.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return res
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
