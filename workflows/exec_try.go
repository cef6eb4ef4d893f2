package workflows

import (
	"context"
	"errors"
	"math"
	"time"
)

// retryPolicy is a validated `retry` value.
type retryPolicy struct {
	predicate  any
	maxRetries int64
	backoff    backoff
}

// backoff yields initial, initial×multiplier, ... capped at max (seconds).
type backoff struct {
	initial, max, multiplier float64
}

func (b backoff) delay(attempt int) time.Duration {
	d := b.initial * math.Pow(b.multiplier, float64(attempt))
	if d > b.max || math.IsInf(d, 0) || math.IsNaN(d) {
		d = b.max
	}
	return time.Duration(d * float64(time.Second))
}

var defaultBackoff = backoff{initial: 1, max: 60, multiplier: 1.25}

func parseRetry(v any) (*retryPolicy, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, typeErrorf("retry must be a map or a policy, got %s", typeName(v))
	}
	p := &retryPolicy{predicate: m["predicate"], backoff: defaultBackoff}
	if _, ok := p.predicate.(funcRef); !ok {
		return nil, typeErrorf("retry predicate must be a function, got %s", typeName(p.predicate))
	}
	n, ok := m["max_retries"].(int64)
	if !ok || n < 0 {
		return nil, valueErrorf("retry max_retries must be a non-negative integer")
	}
	p.maxRetries = n
	if raw, ok := m["backoff"]; ok {
		b, err := parseBackoff(raw)
		if err != nil {
			return nil, err
		}
		p.backoff = b
	}
	return p, nil
}

func parseBackoff(v any) (backoff, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return backoff{}, typeErrorf("backoff must be a map, got %s", typeName(v))
	}
	b := defaultBackoff
	for key, dst := range map[string]*float64{"initial_delay": &b.initial, "max_delay": &b.max, "multiplier": &b.multiplier} {
		raw, present := m[key]
		if !present {
			continue
		}
		f, ok := toFloat(raw)
		if !ok {
			return backoff{}, typeErrorf("backoff %s must be a number, got %s", key, typeName(raw))
		}
		if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			return backoff{}, valueErrorf("backoff %s must be a non-negative number", key)
		}
		*dst = f
	}
	return b, nil
}

// tryStep runs the body; on a workflow error it retries per the policy
// (re-running the whole body) and then hands the error to except.
func (f *frame) tryStep(ctx context.Context, sc *scope, t *trySpec) (outcome, error) {
	var policy *retryPolicy
	for attempt := 0; ; attempt++ {
		out, err := f.execStep(ctx, sc, t.body)
		var we *Error
		if err == nil || !errors.As(err, &we) {
			return out, err
		}
		if t.retry != nil {
			if policy == nil {
				v, perr := f.eval(ctx, sc, t.retry)
				if perr == nil {
					policy, perr = parseRetry(v)
				}
				if perr != nil {
					return outcome{}, perr
				}
			}
			if int64(attempt) < policy.maxRetries {
				ok, perr := env{f, sc}.callRef(ctx, policy.predicate, we.Value)
				if perr != nil {
					return outcome{}, perr
				}
				b, isBool := ok.(bool)
				if !isBool {
					return outcome{}, typeErrorf("retry predicate must return a boolean, got %s", typeName(ok))
				}
				if b {
					if serr := f.ex.cfg.Sleep(ctx, policy.backoff.delay(attempt)); serr != nil {
						return outcome{}, serr
					}
					continue
				}
			}
		}
		if !t.catch {
			return outcome{}, err
		}
		esc := sc.child()
		if t.exceptAs != "" {
			esc.setLocal(t.exceptAs, we.Value)
		}
		return f.runSteps(ctx, esc, t.except)
	}
}
