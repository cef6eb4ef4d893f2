package workflows

import (
	"context"
	"strings"
)

// evalEnv is what an expression can see: variables, library members and
// subworkflows, and functions to call.
type evalEnv interface {
	lookupVar(name string) (any, bool)
	// resolveName returns a library member (constant or function) or a
	// subworkflow reference for a dotted name that is not a variable.
	resolveName(name string) (any, bool)
	callFunc(ctx context.Context, name string, args []any) (any, error)
}

// Source returns the expression text.
func (e *Expression) Source() string { return e.src }

func (e *Expression) eval(ctx context.Context, env evalEnv) (any, error) {
	return evalExpr(ctx, env, e.root)
}

func evalExpr(ctx context.Context, env evalEnv, x expr) (any, error) {
	switch n := x.(type) {
	case litExpr:
		return n.v, nil
	case nameExpr:
		return evalName(env, n.parts)
	case propExpr:
		obj, err := evalExpr(ctx, env, n.obj)
		if err != nil {
			return nil, err
		}
		return getKey(obj, n.key)
	case indexExpr:
		obj, err := evalExpr(ctx, env, n.obj)
		if err != nil {
			return nil, err
		}
		idx, err := evalExpr(ctx, env, n.idx)
		if err != nil {
			return nil, err
		}
		return index(obj, idx)
	case callExpr:
		args := make([]any, len(n.args))
		for i, a := range n.args {
			v, err := evalExpr(ctx, env, a)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
		return env.callFunc(ctx, n.name, args)
	case unaryExpr:
		v, err := evalExpr(ctx, env, n.x)
		if err != nil {
			return nil, err
		}
		return unary(n.op, v)
	case binExpr:
		return evalBinary(ctx, env, n)
	case listExpr:
		out := make([]any, len(n.elems))
		for i, el := range n.elems {
			v, err := evalExpr(ctx, env, el)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case mapExpr:
		out := make(map[string]any, len(n.keys))
		for i := range n.keys {
			k, err := evalExpr(ctx, env, n.keys[i])
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, typeErrorf("map keys must be strings, got %s", typeName(k))
			}
			v, err := evalExpr(ctx, env, n.vals[i])
			if err != nil {
				return nil, err
			}
			out[ks] = v
		}
		return out, nil
	}
	return nil, typeErrorf("unsupported expression")
}

// evalName resolves a dotted name: a variable and its keys first, then the
// longest prefix naming a library member or subworkflow.
func evalName(env evalEnv, parts []string) (any, error) {
	if v, ok := env.lookupVar(parts[0]); ok {
		return walkKeys(v, parts[1:])
	}
	for i := len(parts); i >= 1; i-- {
		if v, ok := env.resolveName(strings.Join(parts[:i], ".")); ok {
			return walkKeys(v, parts[i:])
		}
	}
	return nil, errorf(tagKey, "variable %q is not defined", parts[0])
}

func walkKeys(v any, keys []string) (any, error) {
	for _, k := range keys {
		var err error
		if v, err = getKey(v, k); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func getKey(obj any, key string) (any, error) {
	m, ok := obj.(map[string]any)
	if !ok {
		return nil, typeErrorf("cannot read key %q of a %s", key, typeName(obj))
	}
	v, ok := m[key]
	if !ok {
		return nil, errorf(tagKey, "key not found: %s", key)
	}
	return v, nil
}

func index(obj, idx any) (any, error) {
	switch c := obj.(type) {
	case []any:
		i, ok := idx.(int64)
		if !ok {
			return nil, typeErrorf("list index must be an integer, got %s", typeName(idx))
		}
		if i < 0 || i >= int64(len(c)) {
			return nil, errorf(tagIndex, "list index %d out of range", i)
		}
		return c[i], nil
	case map[string]any:
		k, ok := idx.(string)
		if !ok {
			return nil, typeErrorf("map key must be a string, got %s", typeName(idx))
		}
		return getKey(c, k)
	}
	return nil, typeErrorf("a %s cannot be indexed", typeName(obj))
}

// evalBinary evaluates and/or with short-circuit, other operators eagerly.
func evalBinary(ctx context.Context, env evalEnv, n binExpr) (any, error) {
	l, err := evalExpr(ctx, env, n.l)
	if err != nil {
		return nil, err
	}
	if n.op == "and" || n.op == "or" {
		lb, ok := l.(bool)
		if !ok {
			return nil, typeErrorf("operator %s needs booleans, got %s", n.op, typeName(l))
		}
		if (n.op == "and" && !lb) || (n.op == "or" && lb) {
			return lb, nil
		}
		r, err := evalExpr(ctx, env, n.r)
		if err != nil {
			return nil, err
		}
		rb, ok := r.(bool)
		if !ok {
			return nil, typeErrorf("operator %s needs booleans, got %s", n.op, typeName(r))
		}
		return rb, nil
	}
	r, err := evalExpr(ctx, env, n.r)
	if err != nil {
		return nil, err
	}
	return binary(n.op, l, r)
}
