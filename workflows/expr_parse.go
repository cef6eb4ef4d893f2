package workflows

import (
	"fmt"
	"strings"
)

// Expression syntax tree.
type (
	expr     interface{}
	litExpr  struct{ v any }
	nameExpr struct{ parts []string } // a.b.c: a variable, a library member or a subworkflow
	propExpr struct {
		obj expr
		key string
	}
	indexExpr struct{ obj, idx expr }
	callExpr  struct {
		name string
		args []expr
	}
	unaryExpr struct {
		op string
		x  expr
	}
	binExpr struct {
		op   string
		l, r expr
	}
	listExpr struct{ elems []expr }
	mapExpr  struct{ keys, vals []expr }
)

// Expression is a parsed ${...} expression.
type Expression struct {
	src   string
	root  expr
	calls []string // names of called functions, for static checks
}

// ParseExpression parses the text between ${ and }.
func ParseExpression(src string) (*Expression, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &exprParser{toks: toks}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, fmt.Errorf("unexpected %s at offset %d", describe(t), t.pos)
	}
	return &Expression{src: src, root: root, calls: p.calls}, nil
}

type exprParser struct {
	toks  []token
	i     int
	calls []string
	depth int
}

// maxNesting bounds recursion so that hostile input cannot exhaust the stack.
const maxNesting = 200

func (p *exprParser) peek() token { return p.toks[p.i] }
func (p *exprParser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func describe(t token) string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokString:
		return fmt.Sprintf("string %q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

// keyword reports whether t is the keyword kw in lower or upper case.
func keyword(t token, kw string) bool {
	return t.kind == tokIdent && (t.text == kw || t.text == strings.ToUpper(kw))
}

func (p *exprParser) isOp(text string) bool {
	t := p.peek()
	return t.kind == tokOp && t.text == text
}

func (p *exprParser) expect(text string) error {
	if !p.isOp(text) {
		t := p.peek()
		return fmt.Errorf("expected %q, found %s at offset %d", text, describe(t), t.pos)
	}
	p.next()
	return nil
}

func (p *exprParser) parseOr() (expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxNesting {
		return nil, fmt.Errorf("expression nested too deeply")
	}
	l, err := p.parseAnd()
	for err == nil && keyword(p.peek(), "or") {
		p.next()
		var r expr
		if r, err = p.parseAnd(); err == nil {
			l = binExpr{"or", l, r}
		}
	}
	return l, err
}

func (p *exprParser) parseAnd() (expr, error) {
	l, err := p.parseCmp()
	for err == nil && keyword(p.peek(), "and") {
		p.next()
		var r expr
		if r, err = p.parseCmp(); err == nil {
			l = binExpr{"and", l, r}
		}
	}
	return l, err
}

func (p *exprParser) parseCmp() (expr, error) {
	l, err := p.parseAdd()
	for err == nil {
		t := p.peek()
		op := ""
		switch {
		case t.kind == tokOp && (t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">=" || t.text == "==" || t.text == "!="):
			op = t.text
		case t.kind == tokIdent && t.text == "in":
			op = "in"
		}
		if op == "" {
			break
		}
		p.next()
		var r expr
		if r, err = p.parseAdd(); err == nil {
			l = binExpr{op, l, r}
		}
	}
	return l, err
}

func (p *exprParser) parseAdd() (expr, error) {
	l, err := p.parseMul()
	for err == nil && (p.isOp("+") || p.isOp("-")) {
		op := p.next().text
		var r expr
		if r, err = p.parseMul(); err == nil {
			l = binExpr{op, l, r}
		}
	}
	return l, err
}

func (p *exprParser) parseMul() (expr, error) {
	l, err := p.parseUnary()
	for err == nil && (p.isOp("*") || p.isOp("/") || p.isOp("//") || p.isOp("%")) {
		op := p.next().text
		var r expr
		if r, err = p.parseUnary(); err == nil {
			l = binExpr{op, l, r}
		}
	}
	return l, err
}

// parseUnary handles `not` and unary minus, which bind tighter than the
// arithmetic operators (precedence 4 and 5 in the spec).
func (p *exprParser) parseUnary() (expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxNesting {
		return nil, fmt.Errorf("expression nested too deeply")
	}
	if keyword(p.peek(), "not") {
		p.next()
		x, err := p.parseUnary()
		return unaryExpr{"not", x}, err
	}
	if p.isOp("-") {
		p.next()
		x, err := p.parseUnary()
		if lit, ok := x.(litExpr); ok && err == nil {
			// Negative literals are constants, not operations.
			switch n := lit.v.(type) {
			case int64:
				return litExpr{-n}, nil
			case float64:
				return litExpr{-n}, nil
			}
		}
		return unaryExpr{"-", x}, err
	}
	return p.parsePostfix()
}

func (p *exprParser) parsePostfix() (expr, error) {
	x, err := p.parsePrimary()
	for err == nil {
		switch {
		case p.isOp("."):
			p.next()
			t := p.next()
			if t.kind != tokIdent {
				return nil, fmt.Errorf("expected a name after '.', found %s at offset %d", describe(t), t.pos)
			}
			if n, ok := x.(nameExpr); ok {
				x = nameExpr{append(append([]string(nil), n.parts...), t.text)}
			} else {
				x = propExpr{x, t.text}
			}
		case p.isOp("["):
			p.next()
			var idx expr
			if idx, err = p.parseOr(); err != nil {
				return nil, err
			}
			if err = p.expect("]"); err != nil {
				return nil, err
			}
			x = indexExpr{x, idx}
		case p.isOp("("):
			n, ok := x.(nameExpr)
			if !ok {
				return nil, fmt.Errorf("only named functions can be called (offset %d)", p.peek().pos)
			}
			p.next()
			var args []expr
			if args, err = p.parseList(")"); err != nil {
				return nil, err
			}
			name := strings.Join(n.parts, ".")
			p.calls = append(p.calls, name)
			x = callExpr{name, args}
		default:
			return x, nil
		}
	}
	return x, err
}

// parseList parses comma-separated expressions up to the closing token.
func (p *exprParser) parseList(closing string) ([]expr, error) {
	var out []expr
	for !p.isOp(closing) {
		e, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		if !p.isOp(",") {
			break
		}
		p.next()
	}
	return out, p.expect(closing)
}

func (p *exprParser) parsePrimary() (expr, error) {
	t := p.next()
	switch t.kind {
	case tokInt:
		return litExpr{t.i}, nil
	case tokFloat:
		return litExpr{t.f}, nil
	case tokString:
		return litExpr{t.text}, nil
	case tokIdent:
		switch t.text {
		case "true", "True", "TRUE":
			return litExpr{true}, nil
		case "false", "False", "FALSE":
			return litExpr{false}, nil
		case "null":
			return litExpr{nil}, nil
		}
		for _, kw := range []string{"and", "or", "not", "in"} {
			if keyword(t, kw) {
				return nil, fmt.Errorf("unexpected keyword %q at offset %d", t.text, t.pos)
			}
		}
		return nameExpr{[]string{t.text}}, nil
	case tokOp:
		switch t.text {
		case "(":
			e, err := p.parseOr()
			if err != nil {
				return nil, err
			}
			return e, p.expect(")")
		case "[":
			elems, err := p.parseList("]")
			return listExpr{elems}, err
		case "{":
			return p.parseMap()
		}
	}
	return nil, fmt.Errorf("unexpected %s at offset %d", describe(t), t.pos)
}

func (p *exprParser) parseMap() (expr, error) {
	var m mapExpr
	for !p.isOp("}") {
		k, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		v, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		m.keys = append(m.keys, k)
		m.vals = append(m.vals, v)
		if !p.isOp(",") {
			break
		}
		p.next()
	}
	return m, p.expect("}")
}
