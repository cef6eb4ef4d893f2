package workflows

import "context"

// iterate calls visit for each (index, value) of a for loop's `in` list or
// `range`, lazily, so that a huge range is bounded by the step limit rather
// than by memory. visit returns false to stop.
func (f *frame) iterate(ctx context.Context, sc *scope, loop *forSpec, visit func(i int64, v any) (bool, error)) error {
	if loop.in != nil {
		v, err := f.eval(ctx, sc, loop.in)
		if err != nil {
			return err
		}
		list, ok := v.([]any)
		if !ok {
			return typeErrorf("for in needs a list, got %s", typeName(v))
		}
		for i, item := range list {
			if more, err := visit(int64(i), item); err != nil || !more {
				return err
			}
		}
		return nil
	}
	v, err := f.eval(ctx, sc, loop.rng)
	if err != nil {
		return err
	}
	bounds, ok := v.([]any)
	if !ok || len(bounds) != 2 {
		return typeErrorf("for range needs a list of two numbers")
	}
	lo, okLo := toFloat(bounds[0])
	hi, okHi := toFloat(bounds[1])
	if !okLo || !okHi {
		return typeErrorf("for range needs a list of two numbers")
	}
	a, aInt := bounds[0].(int64)
	b, bInt := bounds[1].(int64)
	if aInt && bInt {
		for i, n := int64(0), a; n <= b; i, n = i+1, n+1 {
			if more, err := visit(i, n); err != nil || !more || n == b {
				return err
			}
		}
		return nil
	}
	for i, x := int64(0), lo; x <= hi; i, x = i+1, x+1 {
		if more, err := visit(i, x); err != nil || !more {
			return err
		}
	}
	return nil
}

// forLoop runs the body in one scope local to the loop: the loop variables
// and variables created in the body vanish after the loop, while writes to
// variables that existed before it persist.
func (f *frame) forLoop(ctx context.Context, sc *scope, loop *forSpec) (outcome, error) {
	lsc := sc.child()
	var result outcome
	err := f.iterate(ctx, sc, loop, func(i int64, v any) (bool, error) {
		lsc.setLocal(loop.value, v)
		if loop.index != "" {
			lsc.setLocal(loop.index, i)
		}
		out, err := f.runSteps(ctx, lsc, loop.steps)
		if err != nil {
			return false, err
		}
		switch out.kind {
		case flowNormal, flowContinue:
			return true, nil
		case flowBreak:
			return false, nil
		}
		result = out
		return false, nil
	})
	return result, err
}
