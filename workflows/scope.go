package workflows

import "sync"

// scope holds the variables of a routine or of a nested local scope (a for
// body, an except block, a parallel branch or iteration). All scopes of one
// routine invocation share a mutex, because parallel branches read the
// parent scope and write its shared variables concurrently.
type scope struct {
	vars   map[string]any
	parent *scope
	mu     *sync.Mutex
	// branch marks a parallel branch scope: writes reach the parent scopes
	// only for the names in shared.
	branch   bool
	shared   map[string]bool
	parDepth int // how many parallel steps enclose this scope
}

func newScope() *scope {
	return &scope{vars: map[string]any{}, mu: &sync.Mutex{}}
}

func (s *scope) child() *scope {
	return &scope{vars: map[string]any{}, parent: s, mu: s.mu, parDepth: s.parDepth}
}

func (s *scope) branchChild(shared []string) *scope {
	c := s.child()
	c.branch = true
	c.parDepth++
	c.shared = make(map[string]bool, len(shared))
	for _, n := range shared {
		c.shared[n] = true
	}
	return c
}

func (s *scope) get(name string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sc := s; sc != nil; sc = sc.parent {
		if v, ok := sc.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

// setLocal binds name in this very scope (loop variables, except's `as`).
func (s *scope) setLocal(name string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vars[name] = v
}

// update atomically replaces the variable name with fn(old). It writes to
// the nearest scope that already holds name and may be written from here;
// otherwise it creates the variable in this scope. fn must not touch scopes.
func (s *scope) update(name string, fn func(old any, exists bool) (any, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	target := s
	var old any
	exists := false
	for sc := s; sc != nil; sc = sc.parent {
		if v, ok := sc.vars[name]; ok {
			target, old, exists = sc, v, true
			break
		}
		if sc.branch && !sc.shared[name] {
			break
		}
	}
	v, err := fn(old, exists)
	if err != nil {
		return err
	}
	target.vars[name] = v
	return nil
}
