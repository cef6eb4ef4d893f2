package workflows

import "fmt"

// parallelWrites rejects, as Workflows does at deployment, a parallel
// branch that assigns a variable of the enclosing scope without declaring
// it shared, and a shared variable that is never assigned before.
// "Enclosing scope" is approximated by every name the routine assigns
// outside the parallel step, plus its params.
func (c *checker) parallelWrites(r *routine) error {
	all := map[string]int{}
	countAssigned(r.steps, all)
	var err error
	walkSteps(r.steps, func(st *step) {
		if err != nil || st.par == nil {
			return
		}
		inside := map[string]int{}
		countAssigned([]*step{st}, inside)
		outer := map[string]bool{}
		for n, k := range all {
			if k > inside[n] {
				outer[n] = true
			}
		}
		for _, p := range r.params {
			outer[p.name] = true
		}
		shared := map[string]bool{}
		for _, s := range st.par.shared {
			if !outer[s] {
				err = &LoadError{Line: st.line, Step: st.name, Msg: fmt.Sprintf("shared variable %q must be assigned before the parallel step", s)}
				return
			}
			shared[s] = true
		}
		bodies := st.par.branches
		if st.par.loop != nil {
			bodies = st.par.loop.steps
		}
		written := map[string]int{}
		countAssigned(bodies, written)
		for n := range written {
			if outer[n] && !shared[n] {
				err = &LoadError{Line: st.line, Step: st.name, Msg: fmt.Sprintf("variable %q is assigned in a parallel branch but not declared shared", n)}
				return
			}
		}
	})
	return err
}

// countAssigned counts assignments (assign roots and call results) by name.
func countAssigned(steps []*step, into map[string]int) {
	walkSteps(steps, func(st *step) {
		for _, a := range st.assign {
			into[a.root]++
		}
		if st.call != nil && st.call.result != "" {
			into[st.call.result]++
		}
	})
}

// walkSteps visits every step, including nested and inline bodies.
func walkSteps(steps []*step, visit func(*step)) {
	for _, st := range steps {
		walkStep(st, visit)
	}
}

func walkStep(st *step, visit func(*step)) {
	visit(st)
	for _, sc := range st.cases {
		walkStep(sc.body, visit)
	}
	if st.loop != nil {
		walkSteps(st.loop.steps, visit)
	}
	if p := st.par; p != nil {
		walkSteps(p.branches, visit)
		if p.loop != nil {
			walkSteps(p.loop.steps, visit)
		}
	}
	if st.try != nil {
		walkStep(st.try.body, visit)
		walkSteps(st.try.except, visit)
	}
	walkSteps(st.steps, visit)
}
