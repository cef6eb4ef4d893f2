package workflows

import "fmt"

// Workflow is a loaded, statically checked workflow definition. It is
// immutable and may be run any number of times, concurrently.
type Workflow struct {
	routines map[string]*routine
	digest   [32]byte // SHA-256 of the source
}

// RevisionID is the revision ID a local run reports when none is given:
// Cloud Workflows' shape (six-digit ordinal, dash, three hex digits) with
// the hex digits taken from the source, so that a changed file reports a
// different revision.
func (w *Workflow) RevisionID() string {
	return fmt.Sprintf("000001-%x", w.digest[:2])[:10]
}

type routine struct {
	name   string
	line   int
	params []param
	steps  []*step
}

type param struct {
	name       string
	def        tmpl
	hasDefault bool
}

// step is one named step. Exactly one of the kind fields is set, except for
// a pure jump, which has only next.
type step struct {
	name string
	line int
	next string

	assign    []assignment
	call      *callSpec
	cases     []*switchCase
	loop      *forSpec
	par       *parallelSpec
	raise     tmpl
	ret       tmpl
	hasReturn bool
	try       *trySpec
	steps     []*step
	isSwitch  bool
	isSteps   bool
}

type assignment struct {
	line  int
	root  string
	path  []pathElem
	value tmpl
}

// pathElem is one `.key` or `[expr]` of an assignment target.
type pathElem struct {
	key string
	idx *Expression
}

type callSpec struct {
	target string
	args   *mapT // nil when there are no args
	result string
}

type switchCase struct {
	line int
	cond tmpl
	body *step // nil when the case only has `next`
}

type forSpec struct {
	value, index string
	in, rng      tmpl
	steps        []*step
}

type parallelSpec struct {
	shared   []string
	limit    tmpl
	branches []*step
	loop     *forSpec
}

type trySpec struct {
	body     *step
	retry    tmpl
	exceptAs string
	except   []*step
	catch    bool
}

// Value templates: literal YAML values with ${...} expressions inside.
type (
	tmpl   interface{}
	constT struct{ v any }
	exprT  struct {
		e    *Expression
		line int
	}
	listT struct{ items []tmpl }
	mapT  struct {
		keys    []string
		keyExpr []*exprT // per key: nil for a literal key, else the ${...} that computes it
		vals    []tmpl
	}
)
