package deliver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/valyala/fasthttp"
)

const (
	userAgentHTTP      = "Google-Cloud-Tasks"
	userAgentAppEngine = "AppEngine-Google; (+http://code.google.com/appengine)"
	defaultOAuthScope  = "https://www.googleapis.com/auth/cloud-platform"
)

// build fills req with the attempt's request and reports whether it
// targets App Engine.
func (d *Deliverer) build(ctx context.Context, a *Attempt, req *fasthttp.Request, deadline time.Time) (bool, error) {
	// Headers go out as set, names in their exact casing, and only those
	// set: fasthttp adds none of its own (no default Content-Type) except
	// the body's Content-Length.
	req.Header.DisableNormalizing()
	req.Header.DisableSpecialHeader()
	if ae := a.Task.GetAppEngineHttpRequest(); ae != nil {
		return true, d.buildAppEngine(a, ae, req)
	}
	return false, d.buildHTTP(ctx, a, a.Task.GetHttpRequest(), req, deadline)
}

func (d *Deliverer) buildHTTP(ctx context.Context, a *Attempt, hr *cloudtaskspb.HttpRequest, req *fasthttp.Request, deadline time.Time) error {
	qt := a.Queue.GetHttpTarget()
	u, err := url.Parse(hr.GetUrl())
	if err != nil {
		return fmt.Errorf("task URL: %w", err)
	}
	if o := qt.GetUriOverride(); o != nil {
		overrideURI(u, o)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("task URL %q: not an http or https URL", u)
	}
	method := hr.GetHttpMethod()
	if m := qt.GetHttpMethod(); m != cloudtaskspb.HttpMethod_HTTP_METHOD_UNSPECIFIED {
		method = m
	}
	if method == cloudtaskspb.HttpMethod_POST || method == cloudtaskspb.HttpMethod_PUT ||
		method == cloudtaskspb.HttpMethod_PATCH || method == cloudtaskspb.HttpMethod_HTTP_METHOD_UNSPECIFIED {
		req.SetBodyRaw(hr.GetBody())
	}
	target := u.String()
	req.SetRequestURI(target)
	req.Header.SetMethod(methodName(method))
	h := headerList{{"Host", u.Host}}
	h.copy(hr.GetHeaders(), reservedHTTP)
	for _, o := range qt.GetHeaderOverrides() {
		if k := o.GetHeader().GetKey(); !reservedHTTP(k) {
			h.set(k, o.GetHeader().GetValue())
		}
	}
	auth, err := d.authorization(ctx, a.Task, qt, target, deadline)
	if err != nil {
		return err
	}
	if auth != "" {
		// It overrides any Authorization among the task's headers.
		h.set("Authorization", auth)
	}
	h.set("User-Agent", userAgentHTTP)
	h.write(req)
	addTaskHeaders(req, cloudTasksHeaders, a, false)
	return nil
}

func (d *Deliverer) buildAppEngine(a *Attempt, ae *cloudtaskspb.AppEngineHttpRequest, req *fasthttp.Request) error {
	rel := ae.GetRelativeUri()
	if rel == "" {
		rel = "/"
	}
	target := "http://" + d.cfg.AppEngineHost + rel
	if _, err := url.Parse(target); err != nil {
		return fmt.Errorf("building App Engine request: %w", err)
	}
	method := ae.GetHttpMethod()
	if method == cloudtaskspb.HttpMethod_POST || method == cloudtaskspb.HttpMethod_PUT ||
		method == cloudtaskspb.HttpMethod_HTTP_METHOD_UNSPECIFIED {
		req.SetBodyRaw(ae.GetBody())
	}
	req.SetRequestURI(target)
	req.Header.SetMethod(methodName(method))
	routing := ae.GetAppEngineRouting()
	if o := a.Queue.GetAppEngineRoutingOverride(); o != nil {
		routing = o
	}
	host := d.cfg.AppEngineHost
	if routing.GetHost() != "" {
		host = routing.GetHost()
	}
	h := headerList{{"Host", host}}
	h.copy(ae.GetHeaders(), reservedAppEngine)
	ua := userAgentAppEngine
	for k, v := range ae.GetHeaders() {
		if strings.EqualFold(k, "User-Agent") && v != "" && !strings.Contains(v, "AppEngine-Google") {
			ua = v + " " + userAgentAppEngine
		}
	}
	h.set("User-Agent", ua)
	h.write(req)
	addTaskHeaders(req, appEngineHeaders, a, true)
	return nil
}

// overrideURI applies a queue's uri_override to u (spec 3.7).
func overrideURI(u *url.URL, o *cloudtaskspb.UriOverride) {
	always := o.GetUriOverrideEnforceMode() != cloudtaskspb.UriOverride_IF_NOT_EXISTS
	if o.Scheme != nil && always {
		u.Scheme = "https"
		if o.GetScheme() == cloudtaskspb.UriOverride_HTTP {
			u.Scheme = "http"
		}
	}
	host, port := u.Hostname(), u.Port()
	if o.Host != nil && always {
		host = o.GetHost()
	}
	if o.Port != nil && (always || port == "") {
		port = ""
		if p := o.GetPort(); p > 0 {
			port = strconv.FormatInt(p, 10)
		}
	}
	u.Host = host
	if port != "" {
		u.Host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		u.Host = "[" + host + "]"
	}
	if po := o.GetPathOverride(); po != nil && (always || u.Path == "" || u.Path == "/") {
		u.Path, u.RawPath = po.GetPath(), ""
		if u.Path != "" && !strings.HasPrefix(u.Path, "/") {
			u.Path = "/" + u.Path
		}
	}
	if qo := o.GetQueryOverride(); qo != nil && (always || u.RawQuery == "") {
		u.RawQuery = qo.GetQueryParams()
	}
}

// authorization returns the Authorization value from the queue's token
// settings, else the task's; "" for none.
func (d *Deliverer) authorization(ctx context.Context, t *cloudtaskspb.Task, qt *cloudtaskspb.HttpTarget, target string, deadline time.Time) (string, error) {
	oidc, oauth := t.GetHttpRequest().GetOidcToken(), t.GetHttpRequest().GetOauthToken()
	if qt.GetOidcToken() != nil || qt.GetOauthToken() != nil {
		oidc, oauth = qt.GetOidcToken(), qt.GetOauthToken()
	}
	if (oidc == nil && oauth == nil) || d.cfg.Tokens == nil {
		return "", nil
	}
	var tok string
	var err error
	if oidc != nil {
		aud := oidc.GetAudience()
		if aud == "" {
			aud = target
		}
		tok, err = d.cfg.Tokens.IDToken(oidc.GetServiceAccountEmail(), aud)
	} else {
		scope := oauth.GetScope()
		if scope == "" {
			scope = defaultOAuthScope
		}
		ctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		tok, err = d.cfg.Tokens.AccessToken(ctx, oauth.GetServiceAccountEmail(), scope)
	}
	if err != nil {
		return "", fmt.Errorf("minting token: %w", err)
	}
	return "Bearer " + tok, nil
}

// methodName is the HTTP method of m. The common ones are spelled out:
// the enum's String goes through protobuf reflection on every attempt.
func methodName(m cloudtaskspb.HttpMethod) string {
	switch m {
	case cloudtaskspb.HttpMethod_HTTP_METHOD_UNSPECIFIED, cloudtaskspb.HttpMethod_POST:
		return http.MethodPost
	case cloudtaskspb.HttpMethod_GET:
		return http.MethodGet
	case cloudtaskspb.HttpMethod_HEAD:
		return http.MethodHead
	case cloudtaskspb.HttpMethod_PUT:
		return http.MethodPut
	case cloudtaskspb.HttpMethod_DELETE:
		return http.MethodDelete
	case cloudtaskspb.HttpMethod_PATCH:
		return http.MethodPatch
	case cloudtaskspb.HttpMethod_OPTIONS:
		return http.MethodOptions
	}
	return m.String()
}
