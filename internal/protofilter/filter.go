package protofilter

import (
	"cmp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/opentasks/opentasks/internal/protopath"
)

// A Filter is a compiled list filter: a predicate over one message type.
// The language is the subset of AIP-160 (Cloud Logging style) that Cloud
// Tasks documents for ListQueues: restrictions "field OP value" with the
// operators = != < <= > >= and : (has: substring for strings, "*" for
// presence), combined with AND, OR (which binds tighter, as in AIP-160),
// juxtaposition (AND), NOT or a leading "-", and parentheses. Any scalar,
// enum, Duration or Timestamp field of the message may be named, in
// snake_case or camelCase, through nested messages, and so may an entry of
// a string map (labels.env = prod).
type Filter func(m protoreflect.Message) bool

// Compile parses text against md. An empty text matches everything.
func Compile(md protoreflect.MessageDescriptor, text string) (Filter, error) {
	toks, err := lexFilter(text)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return func(protoreflect.Message) bool { return true }, nil
	}
	p := &filterParser{md: md, toks: toks}
	f, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, errFilter("unexpected %q", p.toks[p.pos].text)
	}
	return f, nil
}

func errFilter(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "Invalid filter: "+format+".", args...)
}

type tokKind int

const (
	tokWord tokKind = iota
	tokString
	tokOp
	tokLParen
	tokRParen
)

type filterTok struct {
	kind tokKind
	text string
}

func lexFilter(s string) ([]filterTok, error) {
	var toks []filterTok
	rs := []rune(s)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '(':
			toks = append(toks, filterTok{tokLParen, "("})
			i++
		case r == ')':
			toks = append(toks, filterTok{tokRParen, ")"})
			i++
		case r == '"' || r == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(rs) && rs[j] != r; j++ {
				if rs[j] == '\\' && j+1 < len(rs) {
					j++
				}
				b.WriteRune(rs[j])
			}
			if j >= len(rs) {
				return nil, errFilter("unterminated string")
			}
			toks = append(toks, filterTok{tokString, b.String()})
			i = j + 1
		case strings.ContainsRune("=!<>:", r):
			op := string(r)
			if i+1 < len(rs) && rs[i+1] == '=' && r != '=' && r != ':' {
				op += "="
			}
			if op == "!" {
				return nil, errFilter("unexpected \"!\"")
			}
			toks = append(toks, filterTok{tokOp, op})
			i += len(op)
		default:
			// A value right after an operator may contain colons, so that
			// timestamps need no quotes.
			stop := "()\"'=!<>:"
			if len(toks) > 0 && toks[len(toks)-1].kind == tokOp {
				stop = "()\"'=!<>"
			}
			j := i
			for j < len(rs) && !unicode.IsSpace(rs[j]) && !strings.ContainsRune(stop, rs[j]) {
				j++
			}
			toks = append(toks, filterTok{tokWord, string(rs[i:j])})
			i = j
		}
	}
	return toks, nil
}

// maxParenDepth bounds nested parentheses: the parser recurses once per
// level, and a request body holds two million of them, enough to take
// seconds and a stack of gigabytes. No real filter comes near it.
const maxParenDepth = 64

type filterParser struct {
	md    protoreflect.MessageDescriptor
	toks  []filterTok
	pos   int
	depth int // parentheses open at pos
}

func (p *filterParser) peekKeyword(kw string) bool {
	return p.pos < len(p.toks) && p.toks[p.pos].kind == tokWord && p.toks[p.pos].text == kw
}

// expr := seq { AND seq }
func (p *filterParser) expr() (Filter, error) {
	f, err := p.seq()
	if err != nil {
		return nil, err
	}
	for p.peekKeyword("AND") {
		p.pos++
		g, err := p.seq()
		if err != nil {
			return nil, err
		}
		f = and(f, g)
	}
	return f, nil
}

// seq := factor { factor }: juxtaposed factors are ANDed.
func (p *filterParser) seq() (Filter, error) {
	f, err := p.factor()
	if err != nil {
		return nil, err
	}
	for p.pos < len(p.toks) && p.toks[p.pos].kind != tokRParen && !p.peekKeyword("AND") {
		g, err := p.factor()
		if err != nil {
			return nil, err
		}
		f = and(f, g)
	}
	return f, nil
}

// factor := term { OR term }
func (p *filterParser) factor() (Filter, error) {
	f, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.peekKeyword("OR") {
		p.pos++
		g, err := p.term()
		if err != nil {
			return nil, err
		}
		f0 := f
		f = func(m protoreflect.Message) bool { return f0(m) || g(m) }
	}
	return f, nil
}

// term := [NOT | -] simple ; simple := ( expr ) | restriction
func (p *filterParser) term() (Filter, error) {
	if p.pos >= len(p.toks) {
		return nil, errFilter("unexpected end of filter")
	}
	negate := false
	if p.peekKeyword("NOT") {
		negate = true
		p.pos++
	} else if t := &p.toks[p.pos]; t.kind == tokWord && len(t.text) > 1 && t.text[0] == '-' {
		negate = true
		t.text = t.text[1:]
	}
	var f Filter
	var err error
	if p.pos < len(p.toks) && p.toks[p.pos].kind == tokLParen {
		if p.depth++; p.depth > maxParenDepth {
			return nil, errFilter("parentheses nested deeper than %d", maxParenDepth)
		}
		p.pos++
		if f, err = p.expr(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.toks) || p.toks[p.pos].kind != tokRParen {
			return nil, errFilter("missing \")\"")
		}
		p.pos++
		p.depth--
	} else if f, err = p.restriction(); err != nil {
		return nil, err
	}
	if negate {
		g := f
		f = func(m protoreflect.Message) bool { return !g(m) }
	}
	return f, nil
}

func (p *filterParser) restriction() (Filter, error) {
	if p.pos+3 > len(p.toks) {
		return nil, errFilter("expected a restriction such as \"state: PAUSED\"")
	}
	field, op, value := p.toks[p.pos], p.toks[p.pos+1], p.toks[p.pos+2]
	if field.kind != tokWord || op.kind != tokOp || (value.kind != tokWord && value.kind != tokString) {
		return nil, errFilter("expected a restriction such as \"state: PAUSED\"")
	}
	p.pos += 3
	fds, ok := protopath.Resolve(p.md, field.text)
	if !ok {
		if f, ok := mapRestriction(p.md, field.text, op.text, value.text); ok {
			return f, nil
		}
		return nil, errFilter("unknown field %q", field.text)
	}
	return compileRestriction(fds, op.text, value.text)
}

// mapRestriction compiles a restriction on one entry of a string map,
// "labels.env = prod" (AIP-160's map traversal): = and != compare the
// entry's value (a missing entry is ""), ":" tests that the key is there
// ("labels.env:*") or its value holds the text.
func mapRestriction(md protoreflect.MessageDescriptor, field, op, value string) (Filter, bool) {
	i := strings.LastIndex(field, ".")
	if i < 0 {
		return nil, false
	}
	fds, ok := protopath.Resolve(md, field[:i])
	if !ok {
		return nil, false
	}
	fd := fds[len(fds)-1]
	if !fd.IsMap() || fd.MapKey().Kind() != protoreflect.StringKind || fd.MapValue().Kind() != protoreflect.StringKind {
		return nil, false
	}
	key := protoreflect.ValueOfString(field[i+1:]).MapKey()
	entry := func(m protoreflect.Message) (string, bool) {
		mv := leaf(m, fds).Get(fd).Map()
		if !mv.Has(key) {
			return "", false
		}
		return mv.Get(key).String(), true
	}
	switch op {
	case "=":
		return func(m protoreflect.Message) bool { v, _ := entry(m); return v == value }, true
	case "!=":
		return func(m protoreflect.Message) bool { v, _ := entry(m); return v != value }, true
	case ":":
		return func(m protoreflect.Message) bool {
			v, ok := entry(m)
			return ok && (value == "*" || strings.Contains(strings.ToLower(v), strings.ToLower(value)))
		}, true
	}
	return nil, false
}

func and(f, g Filter) Filter {
	return func(m protoreflect.Message) bool { return f(m) && g(m) }
}

// leaf follows fds from m to the last field's message and returns it; unset
// messages on the way read as empty.
func leaf(m protoreflect.Message, fds []protoreflect.FieldDescriptor) protoreflect.Message {
	for _, fd := range fds[:len(fds)-1] {
		m = m.Get(fd).Message()
	}
	return m
}

func compileRestriction(fds []protoreflect.FieldDescriptor, op, value string) (Filter, error) {
	fd := fds[len(fds)-1]
	if fd.IsList() || fd.IsMap() {
		return nil, errFilter("field %q cannot be filtered on", protopath.Name(fds))
	}
	if op == ":" && value == "*" {
		return func(m protoreflect.Message) bool { return leaf(m, fds).Has(fd) }, nil
	}
	// cmpTo compares the field's value with the literal: -1, 0 or 1.
	var cmpTo func(v protoreflect.Value) int
	has := func(v protoreflect.Value) bool { return cmpTo(v) == 0 }
	switch fd.Kind() {
	case protoreflect.StringKind:
		cmpTo = func(v protoreflect.Value) int { return strings.Compare(v.String(), value) }
		lower := strings.ToLower(value)
		has = func(v protoreflect.Value) bool { return strings.Contains(strings.ToLower(v.String()), lower) }
	case protoreflect.EnumKind:
		n, err := enumNumber(fd.Enum(), value)
		if err != nil {
			return nil, err
		}
		cmpTo = func(v protoreflect.Value) int { return cmp.Compare(v.Enum(), n) }
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return nil, errFilter("%q is not a boolean", value)
		}
		cmpTo = func(v protoreflect.Value) int { return cmp.Compare(b2i(v.Bool()), b2i(b)) }
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, errFilter("%q is not a number", value)
		}
		cmpTo = func(v protoreflect.Value) int { return cmp.Compare(float64(v.Int()), n) }
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, errFilter("%q is not a number", value)
		}
		cmpTo = func(v protoreflect.Value) int { return cmp.Compare(float64(v.Uint()), n) }
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, errFilter("%q is not a number", value)
		}
		cmpTo = func(v protoreflect.Value) int { return cmp.Compare(v.Float(), n) }
	case protoreflect.MessageKind:
		switch fd.Message().FullName() {
		case "google.protobuf.Duration":
			d, err := time.ParseDuration(value)
			if err != nil {
				return nil, errFilter("%q is not a duration such as \"3.5s\"", value)
			}
			cmpTo = func(v protoreflect.Value) int { return cmp.Compare(secondsNanos(v.Message()), d) }
		case "google.protobuf.Timestamp":
			t, err := time.Parse(time.RFC3339Nano, value)
			if err != nil {
				// A bare date, as the Executions API's examples use
				// (startTime>"2023-08-01"), is its midnight UTC.
				if t, err = time.Parse(time.DateOnly, value); err != nil {
					return nil, errFilter("%q is not an RFC 3339 timestamp", value)
				}
			}
			cmpTo = func(v protoreflect.Value) int { return compareTime(v.Message(), t) }
		default:
			return nil, errFilter("field %q cannot be filtered on", protopath.Name(fds))
		}
	default:
		return nil, errFilter("field %q cannot be filtered on", protopath.Name(fds))
	}
	var pred func(v protoreflect.Value) bool
	switch op {
	case "=":
		pred = func(v protoreflect.Value) bool { return cmpTo(v) == 0 }
	case "!=":
		pred = func(v protoreflect.Value) bool { return cmpTo(v) != 0 }
	case "<":
		pred = func(v protoreflect.Value) bool { return cmpTo(v) < 0 }
	case "<=":
		pred = func(v protoreflect.Value) bool { return cmpTo(v) <= 0 }
	case ">":
		pred = func(v protoreflect.Value) bool { return cmpTo(v) > 0 }
	case ">=":
		pred = func(v protoreflect.Value) bool { return cmpTo(v) >= 0 }
	case ":":
		pred = has
	default:
		return nil, errFilter("unknown operator %q", op)
	}
	return func(m protoreflect.Message) bool { return pred(leaf(m, fds).Get(fd)) }, nil
}

func enumNumber(ed protoreflect.EnumDescriptor, value string) (protoreflect.EnumNumber, error) {
	if ev := ed.Values().ByName(protoreflect.Name(strings.ToUpper(value))); ev != nil {
		return ev.Number(), nil
	}
	if n, err := strconv.ParseInt(value, 10, 32); err == nil && ed.Values().ByNumber(protoreflect.EnumNumber(n)) != nil {
		return protoreflect.EnumNumber(n), nil
	}
	return 0, errFilter("%q is not a value of %s", value, ed.Name())
}

// secondsNanos reads a google.protobuf.Duration reflectively.
func secondsNanos(m protoreflect.Message) time.Duration {
	f := m.Descriptor().Fields()
	return time.Duration(m.Get(f.ByName("seconds")).Int())*time.Second + time.Duration(m.Get(f.ByName("nanos")).Int())
}

// compareTime compares a google.protobuf.Timestamp with t.
func compareTime(m protoreflect.Message, t time.Time) int {
	f := m.Descriptor().Fields()
	mt := time.Unix(m.Get(f.ByName("seconds")).Int(), m.Get(f.ByName("nanos")).Int())
	return mt.Compare(t)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
