package workflows

import (
	"context"
	"fmt"
	"slices"
)

// builtin is a standard library function. Arguments are positional in
// expressions and named (by params) in call steps.
type builtin struct {
	params   []string
	required int
	blocking bool // only callable from a call step
	fn       func(c *call) (any, error)
}

// call is one invocation of a builtin.
type call struct {
	ctx  context.Context
	env  env
	name string
	args []any  // one per param, nil when not given
	set  []bool // which params were given
}

// library and libraryConstants are filled once by init and never changed.
var (
	library          map[string]*builtin
	libraryConstants map[string]any
)

func init() {
	library = map[string]*builtin{}
	libraryConstants = map[string]any{}
	for _, add := range []func(){addExprHelpers, addText, addCollections, addCodecs, addHash, addSys, addHTTP, addEvents} {
		add()
	}
}

func register(name string, params []string, required int, fn func(c *call) (any, error)) *builtin {
	b := &builtin{params: params, required: required, fn: fn}
	library[name] = b
	return b
}

func (b *builtin) hasParam(name string) bool { return slices.Contains(b.params, name) }

func (b *builtin) call(ctx context.Context, e env, name string, args []any) (any, error) {
	set := make([]bool, len(b.params))
	for i := range args {
		set[i] = true
	}
	padded := append(append([]any(nil), args...), make([]any, len(b.params)-len(args))...)
	return b.invoke(&call{ctx: ctx, env: e, name: name, args: padded, set: set})
}

func (b *builtin) callNamed(ctx context.Context, e env, name string, named map[string]any) (any, error) {
	args := make([]any, len(b.params))
	set := make([]bool, len(b.params))
	for k, v := range named {
		i := -1
		for j, p := range b.params {
			if p == k {
				i = j
			}
		}
		if i < 0 {
			return nil, typeErrorf("%s has no argument %q", name, k)
		}
		args[i], set[i] = v, true
	}
	return b.invoke(&call{ctx: ctx, env: e, name: name, args: args, set: set})
}

func (b *builtin) invoke(c *call) (any, error) {
	for i := 0; i < b.required; i++ {
		if !c.set[i] {
			return nil, typeErrorf("%s: missing required argument %q", c.name, b.params[i])
		}
	}
	return b.fn(c)
}

// Argument accessors: each returns a TypeError naming the function and
// the argument when the value has the wrong type.

func (c *call) badType(i int, want string) error {
	return typeErrorf("%s: argument %q must be %s, got %s", c.name, c.param(i), want, typeName(c.args[i]))
}

func (c *call) param(i int) string {
	if b, ok := library[c.name]; ok && i < len(b.params) {
		return b.params[i]
	}
	return fmt.Sprint(i)
}

func (c *call) str(i int) (string, error) {
	s, ok := c.args[i].(string)
	if !ok {
		return "", c.badType(i, "a string")
	}
	return s, nil
}

func (c *call) integer(i int) (int64, error) {
	n, ok := c.args[i].(int64)
	if !ok {
		return 0, c.badType(i, "an integer")
	}
	return n, nil
}

func (c *call) number(i int) (float64, error) {
	f, ok := toFloat(c.args[i])
	if !ok {
		return 0, c.badType(i, "a number")
	}
	return f, nil
}

func (c *call) list(i int) ([]any, error) {
	l, ok := c.args[i].([]any)
	if !ok {
		return nil, c.badType(i, "a list")
	}
	return l, nil
}

func (c *call) mapArg(i int) (map[string]any, error) {
	m, ok := c.args[i].(map[string]any)
	if !ok {
		return nil, c.badType(i, "a map")
	}
	return m, nil
}

func (c *call) bytes(i int) ([]byte, error) {
	b, ok := c.args[i].([]byte)
	if !ok {
		return nil, c.badType(i, "bytes")
	}
	return b, nil
}

// optional reports whether argument i was given and is not null.
func (c *call) optional(i int) bool {
	return c.set[i] && c.args[i] != nil
}
