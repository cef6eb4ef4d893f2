package workflows

import (
	"crypto/sha256"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Limits checked when loading.
const (
	maxAssignments = 50
	maxConditions  = 50
	maxBranches    = 10
	maxParams      = 10
	maxSteps       = 100000
)

// LoadOption changes what Load accepts.
type LoadOption func(*loadOptions)

type loadOptions struct {
	mocks *Mocks
}

// WithMocks accepts calls to connectors the runner does not know when a
// rule of m names them, since m will answer them.
func WithMocks(m *Mocks) LoadOption {
	return func(o *loadOptions) { o.mocks = m }
}

// LoadFile reads and loads a workflow definition (YAML or JSON).
func LoadFile(path string, opts ...LoadOption) (*Workflow, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Load(src, opts...)
}

// Load parses a YAML or JSON workflow definition, in either top-level form
// (a bare list of steps, or `main` plus subworkflows), and checks it.
func Load(src []byte, opts ...LoadOption) (*Workflow, error) {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	doc, err := parseDocument(src)
	if err != nil {
		return nil, err
	}
	b := &builder{}
	wf := &Workflow{routines: map[string]*routine{}, digest: sha256.Sum256(src)}
	switch doc.kind {
	case listNode:
		// Workflows gives a bare step list no parameters; binding the
		// execution argument to `args` anyway lets the same file run with
		// --data (the seed example relies on it).
		r := &routine{name: "main", line: doc.line, params: []param{{name: "args"}}}
		if r.steps, err = b.steps(doc); err != nil {
			return nil, err
		}
		wf.routines["main"] = r
	case mapNode:
		for i, name := range doc.keys {
			r, err := b.routine(name, doc.vals[i])
			if err != nil {
				return nil, err
			}
			wf.routines[name] = r
		}
		if _, ok := wf.routines["main"]; !ok {
			return nil, &LoadError{Line: doc.line, Msg: "a workflow with subworkflows needs a main routine"}
		}
	default:
		return nil, &LoadError{Line: doc.line, Msg: "a workflow is a list of steps or a map of routines"}
	}
	if b.count > maxSteps {
		return nil, &LoadError{Msg: fmt.Sprintf("too many steps (%d, limit %d)", b.count, maxSteps)}
	}
	if err := wf.check(o); err != nil {
		return nil, err
	}
	return wf, nil
}

type builder struct {
	count int
}

func errAt(n *node, step, format string, args ...any) *LoadError {
	return &LoadError{Line: n.line, Step: step, Msg: fmt.Sprintf(format, args...)}
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (b *builder) routine(name string, n *node) (*routine, error) {
	if !identRE.MatchString(name) {
		return nil, errAt(n, "", "invalid routine name %q", name)
	}
	if n.kind != mapNode {
		return nil, errAt(n, "", "routine %q must be a map with params and steps", name)
	}
	r := &routine{name: name, line: n.line}
	for i, k := range n.keys {
		v := n.vals[i]
		switch k {
		case "params":
			ps, err := b.params(name, v)
			if err != nil {
				return nil, err
			}
			r.params = ps
		case "steps":
			steps, err := b.steps(v)
			if err != nil {
				return nil, err
			}
			r.steps = steps
		default:
			return nil, errAt(v, "", "routine %q: unknown key %q (only params and steps are allowed)", name, k)
		}
	}
	if r.steps == nil {
		return nil, errAt(n, "", "routine %q has no steps", name)
	}
	if name == "main" && len(r.params) > 1 {
		return nil, errAt(n, "", "main takes at most one parameter (the execution argument)")
	}
	return r, nil
}

func (b *builder) params(routine string, n *node) ([]param, error) {
	if n.kind != listNode {
		return nil, errAt(n, "", "routine %q: params must be a list", routine)
	}
	if len(n.list) > maxParams {
		return nil, errAt(n, "", "routine %q: at most %d params", routine, maxParams)
	}
	var out []param
	seen := map[string]bool{}
	for _, p := range n.list {
		var pr param
		switch {
		case p.kind == scalarNode:
			s, ok := p.val.(string)
			if !ok {
				return nil, errAt(p, "", "routine %q: a param is a name or a {name: default} map", routine)
			}
			pr.name = s
		case p.kind == mapNode && len(p.keys) == 1:
			def, err := b.value(p.vals[0])
			if err != nil {
				return nil, err
			}
			pr = param{name: p.keys[0], def: def, hasDefault: true}
		default:
			return nil, errAt(p, "", "routine %q: a param is a name or a {name: default} map", routine)
		}
		if !identRE.MatchString(pr.name) || seen[pr.name] {
			return nil, errAt(p, "", "routine %q: invalid or duplicate param %q", routine, pr.name)
		}
		seen[pr.name] = true
		out = append(out, pr)
	}
	return out, nil
}

// steps builds a list of single-key maps {NAME: BODY}.
func (b *builder) steps(n *node) ([]*step, error) {
	if n.kind != listNode || len(n.list) == 0 {
		return nil, errAt(n, "", "steps must be a non-empty list")
	}
	var out []*step
	seen := map[string]bool{}
	for _, item := range n.list {
		if item.kind != mapNode || len(item.keys) != 1 {
			return nil, errAt(item, "", "each step must be a map with exactly one key, the step name")
		}
		name := item.keys[0]
		if seen[name] {
			return nil, errAt(item, name, "duplicate step name")
		}
		if name == "end" || name == "break" || name == "continue" {
			return nil, errAt(item, name, "%q is reserved and cannot name a step", name)
		}
		seen[name] = true
		st, err := b.body(name, item.vals[0])
		if err != nil {
			return nil, err
		}
		st.line = item.line // report the line of the step's name
		out = append(out, st)
	}
	return out, nil
}

var stepKinds = []string{"assign", "call", "switch", "for", "parallel", "raise", "return", "try", "steps"}

// body builds a step body; the same code serves named steps, the inline
// body of `try` and the inline bodies of switch conditions.
func (b *builder) body(name string, n *node) (*step, error) {
	b.count++
	if n.kind != mapNode || len(n.keys) == 0 {
		return nil, errAt(n, name, "a step body must be a non-empty map")
	}
	st := &step{name: name, line: n.line}
	kind := ""
	for _, k := range n.keys {
		if !allowedKey(k) {
			return nil, errAt(n, name, "unknown step kind or field %q", k)
		}
		for _, sk := range stepKinds {
			if k == sk {
				if kind != "" {
					return nil, errAt(n, name, "a step cannot have both %q and %q", kind, k)
				}
				kind = k
			}
		}
	}
	for _, pair := range [][2]string{{"args", "call"}, {"result", "call"}, {"retry", "try"}, {"except", "try"}} {
		if _, ok := n.get(pair[0]); ok && kind != pair[1] {
			return nil, errAt(n, name, "%q is only allowed with %q", pair[0], pair[1])
		}
	}
	if v, ok := n.get("next"); ok {
		s, isStr := v.val.(string)
		if v.kind != scalarNode || !isStr || s == "" {
			return nil, errAt(v, name, "next must be a step name")
		}
		if kind == "return" || kind == "raise" {
			return nil, errAt(v, name, "next cannot follow %s", kind)
		}
		st.next = s
	}
	if kind == "" {
		if st.next == "" {
			return nil, errAt(n, name, "step has no action")
		}
		return st, nil
	}
	v, _ := n.get(kind)
	var err error
	switch kind {
	case "assign":
		st.assign, err = b.assignments(name, v)
	case "call":
		st.call, err = b.callSpec(name, n)
	case "switch":
		st.isSwitch = true
		st.cases, err = b.cases(name, v)
	case "for":
		st.loop, err = b.forSpec(name, v)
	case "parallel":
		st.par, err = b.parallel(name, v)
	case "raise":
		st.raise, err = b.value(v)
	case "return":
		st.hasReturn = true
		st.ret, err = b.value(v)
	case "try":
		st.try, err = b.trySpec(name, n)
	case "steps":
		st.isSteps = true
		st.steps, err = b.steps(v)
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

func allowedKey(k string) bool {
	switch k {
	case "assign", "call", "args", "result", "switch", "for", "parallel", "raise", "return", "try", "retry", "except", "steps", "next":
		return true
	}
	return false
}

func (b *builder) assignments(name string, n *node) ([]assignment, error) {
	if n.kind != listNode || len(n.list) == 0 {
		return nil, errAt(n, name, "assign must be a non-empty list of single-key maps")
	}
	if len(n.list) > maxAssignments {
		return nil, errAt(n, name, "too many assignments (%d, limit %d)", len(n.list), maxAssignments)
	}
	var out []assignment
	for _, item := range n.list {
		if item.kind != mapNode || len(item.keys) != 1 {
			return nil, errAt(item, name, "each assignment must be a map with exactly one key")
		}
		root, path, err := parseTarget(item.keys[0])
		if err != nil {
			return nil, errAt(item, name, "invalid assignment target %q: %v", item.keys[0], err)
		}
		val, err := b.value(item.vals[0])
		if err != nil {
			return nil, err
		}
		out = append(out, assignment{line: item.line, root: root, path: path, value: val})
	}
	return out, nil
}

// parseTarget parses `name`, `name.key`, `name[expr]` and chains of those.
func parseTarget(s string) (string, []pathElem, error) {
	e, err := ParseExpression(s)
	if err != nil {
		return "", nil, err
	}
	var path []pathElem
	x := e.root
	for {
		switch n := x.(type) {
		case nameExpr:
			if !identRE.MatchString(n.parts[0]) {
				return "", nil, fmt.Errorf("invalid variable name")
			}
			for i := len(n.parts) - 1; i >= 1; i-- {
				path = append([]pathElem{{key: n.parts[i]}}, path...)
			}
			return n.parts[0], path, nil
		case propExpr:
			path = append([]pathElem{{key: n.key}}, path...)
			x = n.obj
		case indexExpr:
			path = append([]pathElem{{idx: &Expression{src: s, root: n.idx}}}, path...)
			x = n.obj
		default:
			return "", nil, fmt.Errorf("not a variable, key or index")
		}
	}
}

func (b *builder) callSpec(name string, n *node) (*callSpec, error) {
	v, _ := n.get("call")
	target, ok := v.val.(string)
	if v.kind != scalarNode || !ok || target == "" {
		return nil, errAt(v, name, "call must name a function, subworkflow or connector")
	}
	c := &callSpec{target: target}
	if a, ok := n.get("args"); ok {
		if a.kind != mapNode {
			return nil, errAt(a, name, "args must be a map of named arguments")
		}
		t, err := b.value(a)
		if err != nil {
			return nil, err
		}
		m := t.(*mapT)
		c.args = m
	}
	if r, ok := n.get("result"); ok {
		s, _ := r.val.(string)
		if !identRE.MatchString(s) {
			return nil, errAt(r, name, "result must be a variable name")
		}
		c.result = s
	}
	return c, nil
}

func (b *builder) cases(name string, n *node) ([]*switchCase, error) {
	if n.kind != listNode || len(n.list) == 0 {
		return nil, errAt(n, name, "switch must be a non-empty list of conditions")
	}
	if len(n.list) > maxConditions {
		return nil, errAt(n, name, "too many conditions (%d, limit %d)", len(n.list), maxConditions)
	}
	var out []*switchCase
	for _, item := range n.list {
		cond, ok := item.get("condition")
		if item.kind != mapNode || !ok {
			return nil, errAt(item, name, "each switch entry needs a condition")
		}
		sc := &switchCase{line: item.line}
		var err error
		if sc.cond, err = b.value(cond); err != nil {
			return nil, err
		}
		rest := &node{kind: mapNode, line: item.line}
		for i, k := range item.keys {
			if k != "condition" {
				rest.keys = append(rest.keys, k)
				rest.vals = append(rest.vals, item.vals[i])
			}
		}
		if len(rest.keys) == 0 {
			return nil, errAt(item, name, "a switch condition needs next, steps or another action")
		}
		if sc.body, err = b.body(name, rest); err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

func (b *builder) forSpec(name string, n *node) (*forSpec, error) {
	if n.kind != mapNode {
		return nil, errAt(n, name, "for must be a map")
	}
	f := &forSpec{}
	for i, k := range n.keys {
		v := n.vals[i]
		var err error
		switch k {
		case "value", "index":
			s, _ := v.val.(string)
			if !identRE.MatchString(s) {
				return nil, errAt(v, name, "for %s must be a variable name", k)
			}
			if k == "value" {
				f.value = s
			} else {
				f.index = s
			}
		case "in":
			f.in, err = b.value(v)
		case "range":
			f.rng, err = b.value(v)
		case "steps":
			f.steps, err = b.steps(v)
		default:
			return nil, errAt(v, name, "unknown for field %q", k)
		}
		if err != nil {
			return nil, err
		}
	}
	switch {
	case f.value == "":
		return nil, errAt(n, name, "for needs a value variable")
	case (f.in == nil) == (f.rng == nil):
		return nil, errAt(n, name, "for needs exactly one of in and range")
	case f.steps == nil:
		return nil, errAt(n, name, "for needs steps")
	case f.value == f.index:
		return nil, errAt(n, name, "for value and index must differ")
	}
	return f, nil
}

func (b *builder) parallel(name string, n *node) (*parallelSpec, error) {
	if n.kind != mapNode {
		return nil, errAt(n, name, "parallel must be a map")
	}
	p := &parallelSpec{}
	for i, k := range n.keys {
		v := n.vals[i]
		var err error
		switch k {
		case "shared":
			if v.kind != listNode {
				return nil, errAt(v, name, "shared must be a list of variable names")
			}
			for _, s := range v.list {
				str, _ := s.val.(string)
				if !identRE.MatchString(str) {
					return nil, errAt(s, name, "shared must be a list of variable names")
				}
				p.shared = append(p.shared, str)
			}
		case "concurrency_limit":
			p.limit, err = b.value(v)
		case "exception_policy":
			if v.val != "continueAll" {
				return nil, errAt(v, name, "exception_policy must be continueAll")
			}
		case "branches":
			p.branches, err = b.steps(v)
			if err == nil && (len(p.branches) < 2 || len(p.branches) > maxBranches) {
				return nil, errAt(v, name, "parallel needs 2 to %d branches, got %d", maxBranches, len(p.branches))
			}
		case "for":
			p.loop, err = b.forSpec(name, v)
		default:
			return nil, errAt(v, name, "unknown parallel field %q", k)
		}
		if err != nil {
			return nil, err
		}
	}
	if (p.branches == nil) == (p.loop == nil) {
		return nil, errAt(n, name, "parallel needs exactly one of branches and for")
	}
	for _, br := range p.branches {
		if !br.isSteps {
			return nil, &LoadError{Line: br.line, Step: br.name, Msg: "a parallel branch must contain steps"}
		}
	}
	return p, nil
}

func (b *builder) trySpec(name string, n *node) (*trySpec, error) {
	t := &trySpec{}
	body, _ := n.get("try")
	var err error
	if t.body, err = b.body(name, body); err != nil {
		return nil, err
	}
	if r, ok := n.get("retry"); ok {
		if t.retry, err = b.value(r); err != nil {
			return nil, err
		}
		if r.kind == mapNode {
			if _, ok := r.get("predicate"); !ok {
				return nil, errAt(r, name, "retry needs a predicate (or a policy such as ${http.default_retry})")
			}
		}
	}
	if e, ok := n.get("except"); ok {
		t.catch = true
		if e.kind != mapNode {
			return nil, errAt(e, name, "except must be a map with as and steps")
		}
		for i, k := range e.keys {
			v := e.vals[i]
			switch k {
			case "as":
				s, _ := v.val.(string)
				if !identRE.MatchString(s) {
					return nil, errAt(v, name, "except as must be a variable name")
				}
				t.exceptAs = s
			case "steps":
				if t.except, err = b.steps(v); err != nil {
					return nil, err
				}
			default:
				return nil, errAt(v, name, "unknown except field %q", k)
			}
		}
		if t.except == nil {
			return nil, errAt(e, name, "except needs steps")
		}
	}
	if t.retry == nil && !t.catch {
		return nil, errAt(n, name, "try needs retry or except")
	}
	return t, nil
}

// value compiles a literal value, turning "${...}" strings into expressions.
func (b *builder) value(n *node) (tmpl, error) {
	switch n.kind {
	case listNode:
		l := &listT{}
		for _, e := range n.list {
			t, err := b.value(e)
			if err != nil {
				return nil, err
			}
			l.items = append(l.items, t)
		}
		return l, nil
	case mapNode:
		// A key written as ${...} is computed when the map is built, as the
		// maps syntax page documents ({"${dynamicKey}": "myValue"}).
		m := &mapT{keys: n.keys, keyExpr: make([]*exprT, len(n.keys))}
		for i, e := range n.vals {
			if src, isExpr := exprSource(n.keys[i]); isExpr {
				k, err := ParseExpression(src)
				if err != nil {
					return nil, &LoadError{Line: e.line, Msg: fmt.Sprintf("invalid expression in map key ${%s}: %v", src, err)}
				}
				m.keyExpr[i] = &exprT{e: k, line: e.line}
			}
			t, err := b.value(e)
			if err != nil {
				return nil, err
			}
			m.vals = append(m.vals, t)
		}
		return m, nil
	}
	s, ok := n.val.(string)
	if !ok {
		return constT{n.val}, nil
	}
	src, isExpr := exprSource(s)
	if !isExpr {
		return constT{s}, nil
	}
	e, err := ParseExpression(src)
	if err != nil {
		return nil, &LoadError{Line: n.line, Msg: fmt.Sprintf("invalid expression ${%s}: %v", src, err)}
	}
	return &exprT{e: e, line: n.line}, nil
}

// exprSource reports whether s is a whole-value expression and returns its body.
func exprSource(s string) (string, bool) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "${") && strings.HasSuffix(t, "}") {
		return t[2 : len(t)-1], true
	}
	return "", false
}

// routineNames lists routines in a stable order for checks and messages.
func (w *Workflow) routineNames() []string {
	names := make([]string, 0, len(w.routines))
	for n := range w.routines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
