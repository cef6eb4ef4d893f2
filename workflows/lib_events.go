package workflows

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// defaultCallbackTimeout is events.await_callback's default (12 hours).
const defaultCallbackTimeout = 43200 * time.Second

func addEvents() {
	register("events.create_callback_endpoint", []string{"http_callback_method"}, 0, func(c *call) (any, error) {
		method := "POST"
		if c.optional(0) {
			m, err := c.str(0)
			if err != nil {
				return nil, err
			}
			if method = strings.ToUpper(m); !slices.Contains(callbackMethods, method) {
				return nil, valueErrorf("%s: http_callback_method must be one of %s, got %q", c.name, strings.Join(callbackMethods, ", "), m)
			}
		}
		ex := c.env.f.ex
		if ex.cfg.Callbacks == nil {
			return nil, valueErrorf("%s: callbacks are not available here (no callback registry is configured)", c.name)
		}
		url, err := ex.cfg.Callbacks.Create(c.ctx, ex.name(), method)
		if err != nil {
			return nil, err
		}
		return map[string]any{"url": url}, nil
	}).blocking = true
	register("events.await_callback", []string{"callback", "timeout"}, 1, awaitCallback).blocking = true
}

// awaitCallback waits for the next request at the callback's endpoint. The
// timeout runs on the run's sleeper, so tests with a fake clock see it
// expire at once.
func awaitCallback(c *call) (any, error) {
	cb, err := c.mapArg(0)
	if err != nil {
		return nil, err
	}
	url, ok := cb["url"].(string)
	if !ok {
		return nil, typeErrorf("%s: callback must be the map create_callback_endpoint returned, with a url", c.name)
	}
	timeout := defaultCallbackTimeout
	if c.optional(1) {
		secs, err := c.number(1)
		if err != nil {
			return nil, err
		}
		if secs < 0 || math.IsNaN(secs) || secs > 365*24*3600 {
			return nil, valueErrorf("%s: timeout must be between 0 and one year, got %v", c.name, secs)
		}
		timeout = time.Duration(secs * float64(time.Second))
	}
	ex := c.env.f.ex
	if ex.cfg.Callbacks == nil {
		return nil, valueErrorf("%s: callbacks are not available here (no callback registry is configured)", c.name)
	}
	wctx, cancel := context.WithCancel(c.ctx)
	var expired atomic.Bool
	timerDone := make(chan struct{})
	go func() {
		defer close(timerDone)
		if ex.cfg.Sleep(wctx, timeout) == nil {
			expired.Store(true)
			cancel()
		}
	}()
	req, err := ex.cfg.Callbacks.Await(wctx, ex.name(), url)
	cancel()
	<-timerDone
	switch {
	case err == nil:
		return req, nil
	case errors.Is(err, ErrUnknownCallback):
		return nil, valueErrorf("%s: %s is %v", c.name, url, err)
	case c.ctx.Err() != nil:
		return nil, c.ctx.Err()
	case expired.Load():
		return nil, errorf(tagTimeout, "%s: no callback received within %v seconds", c.name, timeout.Seconds())
	}
	return nil, err
}
