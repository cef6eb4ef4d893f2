package workflows

import (
	"context"
	"errors"
	"strings"
)

type flow int

const (
	flowNormal flow = iota
	flowJump
	flowReturn
	flowEnd
	flowBreak
	flowContinue
)

// outcome is how a step finished: normally, or with a jump, a return or a
// loop control that enclosing step lists handle.
type outcome struct {
	kind   flow
	target string
	value  any
}

func nextOutcome(target string) outcome {
	switch target {
	case "":
		return outcome{}
	case "end":
		return outcome{kind: flowEnd}
	case "break":
		return outcome{kind: flowBreak}
	case "continue":
		return outcome{kind: flowContinue}
	}
	return outcome{kind: flowJump, target: target}
}

// runSteps runs a step list, resolving jumps to its own steps and passing
// every other non-normal outcome to the caller.
func (f *frame) runSteps(ctx context.Context, sc *scope, steps []*step) (outcome, error) {
	for i := 0; i < len(steps); {
		out, err := f.runStep(ctx, sc, steps[i])
		if err != nil {
			return outcome{}, err
		}
		switch out.kind {
		case flowNormal:
			i++
		case flowJump:
			j := indexOfStep(steps, out.target)
			if j < 0 {
				return out, nil
			}
			i = j
		default:
			return out, nil
		}
	}
	return outcome{}, nil
}

func indexOfStep(steps []*step, name string) int {
	for i, s := range steps {
		if s.name == name {
			return i
		}
	}
	return -1
}

// runStep runs one step and records where an error was raised.
func (f *frame) runStep(ctx context.Context, sc *scope, st *step) (outcome, error) {
	if err := ctx.Err(); err != nil {
		return outcome{}, err
	}
	if f.ex.steps.Add(1) > maxStepsPerRun {
		return outcome{}, f.locate(errorf(tagResourceLimit, "more than %d steps executed", maxStepsPerRun), st)
	}
	if f.ex.cfg.OnStep != nil {
		f.ex.cfg.OnStep(f.routine.name, st.name)
	}
	out, err := f.execStep(ctx, sc, st)
	return out, f.locate(err, st)
}

func (f *frame) locate(err error, st *step) error {
	var we *Error
	var ue *UnmatchedCallError
	switch {
	case errors.As(err, &we) && we.Step == "":
		we.Step, we.Routine, we.Line = st.name, f.routine.name, st.line
	case errors.As(err, &ue) && ue.Step == "":
		ue.Step, ue.Routine, ue.Line = st.name, f.routine.name, st.line
	}
	return err
}

func (f *frame) execStep(ctx context.Context, sc *scope, st *step) (outcome, error) {
	var out outcome
	var err error
	switch {
	case st.assign != nil:
		err = f.assign(ctx, sc, st.assign)
	case st.call != nil:
		err = f.call(ctx, sc, st)
	case st.isSwitch:
		out, err = f.switchStep(ctx, sc, st)
	case st.loop != nil:
		out, err = f.forLoop(ctx, sc, st.loop)
	case st.par != nil:
		err = f.parallel(ctx, sc, st.par)
	case st.raise != nil:
		v, err := f.eval(ctx, sc, st.raise)
		if err != nil {
			return outcome{}, err
		}
		return outcome{}, &Error{Value: v}
	case st.hasReturn:
		v, err := f.eval(ctx, sc, st.ret)
		return outcome{kind: flowReturn, value: v}, err
	case st.try != nil:
		out, err = f.tryStep(ctx, sc, st.try)
	case st.isSteps:
		out, err = f.runSteps(ctx, sc, st.steps)
	}
	if err != nil || out.kind != flowNormal {
		return out, err
	}
	return nextOutcome(st.next), nil
}

func (f *frame) assign(ctx context.Context, sc *scope, list []assignment) error {
	for _, a := range list {
		v, err := f.eval(ctx, sc, a.value)
		if err != nil {
			return err
		}
		keys := make([]any, len(a.path))
		for i, p := range a.path {
			if p.idx == nil {
				keys[i] = p.key
				continue
			}
			if keys[i], err = p.idx.eval(ctx, env{f, sc}); err != nil {
				return err
			}
		}
		err = sc.update(a.root, func(old any, exists bool) (any, error) {
			return setPath(old, keys, v)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// setPath returns container with the value at path replaced by v, copying
// the containers along the path so that other holders are unaffected.
// Missing map keys along the path become new maps.
func setPath(container any, path []any, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	switch k := path[0].(type) {
	case string:
		if container == nil {
			container = map[string]any{}
		}
		m, ok := container.(map[string]any)
		if !ok {
			return nil, typeErrorf("cannot set key %q on a %s", k, typeName(container))
		}
		inner, err := setPath(m[k], path[1:], v)
		if err != nil {
			return nil, err
		}
		out := copyMap(m)
		out[k] = inner
		return out, nil
	case int64:
		l, ok := container.([]any)
		if !ok {
			return nil, typeErrorf("cannot set index %d on a %s", k, typeName(container))
		}
		if k < 0 || k >= int64(len(l)) {
			return nil, errorf(tagIndex, "list assignment index %d out of range", k)
		}
		inner, err := setPath(l[k], path[1:], v)
		if err != nil {
			return nil, err
		}
		out := append([]any(nil), l...)
		out[k] = inner
		return out, nil
	}
	return nil, typeErrorf("an index must be a string or an integer, got %s", typeName(path[0]))
}

func (f *frame) call(ctx context.Context, sc *scope, st *step) error {
	c := st.call
	argv, err := f.eval(ctx, sc, c.args)
	if err != nil {
		return err
	}
	args := argv.(map[string]any)
	ev := CallEvent{Routine: f.routine.name, Step: st.name, Line: st.line, Callee: c.target, Args: args}
	f.ex.onCall(ev)
	var result any
	if r, ok := f.ex.wf.routines[c.target]; ok {
		result, err = f.ex.callRoutine(ctx, r, nil, args, f.depth, sc.parDepth)
	} else {
		result, err = f.callExternal(ctx, sc, c.target, args)
	}
	ev.Done, ev.Result, ev.Err = true, result, err
	f.ex.onCall(ev)
	if err != nil || c.result == "" {
		return err
	}
	return sc.update(c.result, func(any, bool) (any, error) { return result, nil })
}

// callExternal calls a library function or a connector from a call step,
// unless a mock answers it.
func (f *frame) callExternal(ctx context.Context, sc *scope, name string, args map[string]any) (any, error) {
	if f.ex.mocks != nil {
		if result, handled, err := f.ex.answerMock(ctx, name, args, f.ex.callURL(name, args)); handled {
			return result, err
		}
	}
	if strings.HasPrefix(name, "googleapis.") {
		return f.ex.callConnector(ctx, name, args)
	}
	return library[name].callNamed(ctx, env{f, sc}, name, args)
}

func (f *frame) switchStep(ctx context.Context, sc *scope, st *step) (outcome, error) {
	for _, c := range st.cases {
		v, err := f.eval(ctx, sc, c.cond)
		if err != nil {
			return outcome{}, err
		}
		b, ok := v.(bool)
		if !ok {
			return outcome{}, typeErrorf("switch condition must be a boolean, got %s", typeName(v))
		}
		if b {
			return f.execStep(ctx, sc, c.body)
		}
	}
	return outcome{}, nil
}
