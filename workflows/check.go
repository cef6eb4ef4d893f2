package workflows

import (
	"fmt"
	"strings"
)

// check runs the static checks that need the whole workflow: jump targets,
// break/continue placement, call targets, and writes from parallel branches.
func (w *Workflow) check(o loadOptions) error {
	for _, name := range w.routineNames() {
		r := w.routines[name]
		c := &checker{wf: w, routine: r, opts: o}
		for _, p := range r.params {
			if p.hasDefault {
				if err := c.tmpl(p.def, ""); err != nil {
					return err
				}
			}
		}
		if err := c.list(r.steps, nil, false); err != nil {
			return err
		}
		if err := c.parallelWrites(r); err != nil {
			return err
		}
	}
	return nil
}

type checker struct {
	wf      *Workflow
	routine *routine
	opts    loadOptions
}

func names(steps []*step) map[string]bool {
	m := make(map[string]bool, len(steps))
	for _, s := range steps {
		m[s.name] = true
	}
	return m
}

// list checks a step list. visible holds the names of the enclosing lists
// that a jump may reach: jumps never cross a for body or a parallel branch.
func (c *checker) list(steps []*step, visible []map[string]bool, inLoop bool) error {
	visible = append(visible[:len(visible):len(visible)], names(steps))
	for _, st := range steps {
		if err := c.step(st, visible, inLoop); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) jump(st *step, target string, visible []map[string]bool, inLoop bool) error {
	switch target {
	case "", "end":
		return nil
	case "break", "continue":
		if !inLoop {
			return &LoadError{Line: st.line, Step: st.name, Msg: fmt.Sprintf("next: %s is only allowed inside a for loop", target)}
		}
		return nil
	}
	for _, set := range visible {
		if set[target] {
			return nil
		}
	}
	return &LoadError{Line: st.line, Step: st.name, Msg: fmt.Sprintf("next: %q is not a step that can be reached from here", target)}
}

func (c *checker) step(st *step, visible []map[string]bool, inLoop bool) error {
	if err := c.jump(st, st.next, visible, inLoop); err != nil {
		return err
	}
	for _, a := range st.assign {
		for _, p := range a.path {
			if p.idx != nil {
				if err := c.expr(p.idx, st.name, a.line); err != nil {
					return err
				}
			}
		}
		if err := c.tmpl(a.value, st.name); err != nil {
			return err
		}
	}
	if st.call != nil {
		if err := c.call(st); err != nil {
			return err
		}
	}
	for _, sc := range st.cases {
		if err := c.tmpl(sc.cond, st.name); err != nil {
			return err
		}
		if err := c.step(sc.body, visible, inLoop); err != nil {
			return err
		}
	}
	if st.loop != nil {
		if err := c.loop(st, st.loop); err != nil {
			return err
		}
	}
	if p := st.par; p != nil {
		if err := c.tmpl(p.limit, st.name); err != nil {
			return err
		}
		for _, br := range p.branches {
			if err := c.list(br.steps, nil, false); err != nil {
				return err
			}
		}
		if p.loop != nil {
			if err := c.loop(st, p.loop); err != nil {
				return err
			}
		}
	}
	for _, t := range []tmpl{st.raise, st.ret} {
		if err := c.tmpl(t, st.name); err != nil {
			return err
		}
	}
	if t := st.try; t != nil {
		if err := c.step(t.body, visible, inLoop); err != nil {
			return err
		}
		if err := c.tmpl(t.retry, st.name); err != nil {
			return err
		}
		if t.except != nil {
			if err := c.list(t.except, visible, inLoop); err != nil {
				return err
			}
		}
	}
	if st.steps != nil {
		return c.list(st.steps, visible, inLoop)
	}
	return nil
}

func (c *checker) loop(st *step, f *forSpec) error {
	for _, t := range []tmpl{f.in, f.rng} {
		if err := c.tmpl(t, st.name); err != nil {
			return err
		}
	}
	return c.list(f.steps, nil, true)
}

func (c *checker) call(st *step) error {
	target := st.call.target
	if err := c.tmpl(st.call.args, st.name); err != nil {
		return err
	}
	var argNames []string
	if st.call.args != nil {
		argNames = st.call.args.keys
	}
	fail := func(format string, args ...any) error {
		return &LoadError{Line: st.line, Step: st.name, Msg: fmt.Sprintf(format, args...)}
	}
	if r, ok := c.wf.routines[target]; ok {
		for _, a := range argNames {
			if !r.hasParam(a) {
				return fail("subworkflow %q has no parameter %q", target, a)
			}
		}
		return nil
	}
	if strings.HasPrefix(target, "googleapis.") {
		if _, ok := connectorMethods()[target]; !ok && (c.opts.mocks == nil || !c.opts.mocks.names(target)) {
			return fail("unknown or unsupported connector %q", target)
		}
		return nil
	}
	fn, ok := library[target]
	if !ok {
		return fail("unknown function %q", target)
	}
	for _, a := range argNames {
		if !fn.hasParam(a) {
			return fail("%s has no argument %q", target, a)
		}
	}
	return nil
}

func (r *routine) hasParam(name string) bool {
	for _, p := range r.params {
		if p.name == name {
			return true
		}
	}
	return false
}

func (c *checker) tmpl(t tmpl, stepName string) error {
	switch x := t.(type) {
	case *exprT:
		return c.expr(x.e, stepName, x.line)
	case *listT:
		for _, e := range x.items {
			if err := c.tmpl(e, stepName); err != nil {
				return err
			}
		}
	case *mapT:
		if x == nil {
			return nil
		}
		for i, e := range x.vals {
			if k := x.keyExpr[i]; k != nil {
				if err := c.expr(k.e, stepName, k.line); err != nil {
					return err
				}
			}
			if err := c.tmpl(e, stepName); err != nil {
				return err
			}
		}
	}
	return nil
}

// expr checks that every function an expression calls exists and may be
// called inside an expression (blocking calls need a call step).
func (c *checker) expr(e *Expression, stepName string, line int) error {
	for _, name := range e.calls {
		if _, ok := c.wf.routines[name]; ok {
			continue
		}
		fn, ok := library[name]
		switch {
		case !ok:
			return &LoadError{Line: line, Step: stepName, Msg: fmt.Sprintf("unknown function %q in ${%s}", name, e.src)}
		case fn.blocking:
			return &LoadError{Line: line, Step: stepName, Msg: fmt.Sprintf("%s is a blocking call: use it in a call step, not in an expression", name)}
		}
	}
	return nil
}
