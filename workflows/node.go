package workflows

import (
	"fmt"
	"math"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// node is a parsed YAML/JSON value that remembers its source line, so that
// static checks can point at the offending step. Maps keep key order.
type node struct {
	kind nodeKind
	val  any // scalar: nil, bool, int64, float64 or string
	list []*node
	keys []string
	vals []*node
	line int
}

type nodeKind int

const (
	scalarNode nodeKind = iota
	listNode
	mapNode
)

func (n *node) get(key string) (*node, bool) {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i], true
		}
	}
	return nil, false
}

// maxNodes bounds alias expansion ("billion laughs") and huge documents.
const maxNodes = 1_000_000

// parseDocument parses YAML (and therefore JSON, which YAML's flow style
// covers) into nodes. Integers and doubles stay distinct.
func parseDocument(src []byte) (*node, error) {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return nil, &LoadError{Msg: "cannot parse the workflow: " + err.Error()}
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return nil, &LoadError{Msg: "the workflow must be exactly one YAML or JSON document"}
	}
	c := &converter{anchors: map[string]ast.Node{}}
	return c.convert(f.Docs[0].Body, 0)
}

type converter struct {
	anchors map[string]ast.Node
	count   int
}

func lineOf(n ast.Node) int {
	if t := n.GetToken(); t != nil && t.Position != nil {
		return t.Position.Line
	}
	return 0
}

func (c *converter) convert(n ast.Node, depth int) (*node, error) {
	c.count++
	if c.count > maxNodes || depth > 500 {
		return nil, &LoadError{Line: lineOf(n), Msg: "document too large or too deeply nested"}
	}
	line := lineOf(n)
	scalar := func(v any) (*node, error) { return &node{kind: scalarNode, val: v, line: line}, nil }
	switch x := n.(type) {
	case *ast.NullNode:
		return scalar(nil)
	case *ast.BoolNode:
		return scalar(x.Value)
	case *ast.IntegerNode:
		switch v := x.Value.(type) {
		case int64:
			return scalar(v)
		case uint64:
			if v <= math.MaxInt64 {
				return scalar(int64(v))
			}
		}
		return nil, &LoadError{Line: line, Msg: fmt.Sprintf("integer %s out of range", x.String())}
	case *ast.FloatNode:
		return scalar(x.Value)
	case *ast.InfinityNode:
		return scalar(x.Value)
	case *ast.NanNode:
		return scalar(math.NaN())
	case *ast.StringNode:
		return scalar(x.Value)
	case *ast.LiteralNode:
		return scalar(x.Value.Value)
	case *ast.TagNode:
		return c.convert(x.Value, depth+1)
	case *ast.AnchorNode:
		if name, ok := x.Name.(*ast.StringNode); ok {
			c.anchors[name.Value] = x.Value
		}
		return c.convert(x.Value, depth+1)
	case *ast.AliasNode:
		target, ok := c.anchors[x.Value.String()]
		if !ok {
			return nil, &LoadError{Line: line, Msg: fmt.Sprintf("unknown alias %s", x.Value.String())}
		}
		return c.convert(target, depth+1)
	case *ast.SequenceNode:
		out := &node{kind: listNode, line: line}
		for _, v := range x.Values {
			e, err := c.convert(v, depth+1)
			if err != nil {
				return nil, err
			}
			out.list = append(out.list, e)
		}
		return out, nil
	case *ast.MappingValueNode:
		out := &node{kind: mapNode, line: line}
		return out, c.addPair(out, x, map[string]bool{}, depth)
	case *ast.MappingNode:
		out := &node{kind: mapNode, line: line}
		seen := make(map[string]bool, len(x.Values))
		for _, mv := range x.Values {
			if err := c.addPair(out, mv, seen, depth); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, &LoadError{Line: line, Msg: fmt.Sprintf("unsupported YAML construct %s", n.Type())}
}

func (c *converter) addPair(m *node, mv *ast.MappingValueNode, seen map[string]bool, depth int) error {
	var key ast.Node = mv.Key
	if k, ok := key.(*ast.MappingKeyNode); ok {
		key = k.Value
	}
	k, err := c.convert(key, depth+1)
	if err != nil {
		return err
	}
	if k.kind != scalarNode || k.val == nil {
		return &LoadError{Line: k.line, Msg: "map keys must be scalars"}
	}
	ks, ok := stringOf(k.val)
	if !ok {
		ks = fmt.Sprint(k.val)
	}
	if seen[ks] {
		return &LoadError{Line: k.line, Msg: fmt.Sprintf("duplicate key %q", ks)}
	}
	seen[ks] = true
	v, err := c.convert(mv.Value, depth+1)
	if err != nil {
		return err
	}
	if m.line == 0 || k.line < m.line {
		m.line = k.line
	}
	m.keys = append(m.keys, ks)
	m.vals = append(m.vals, v)
	return nil
}
