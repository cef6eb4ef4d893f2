package workflows

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

type tokKind int

const (
	tokEOF tokKind = iota
	tokInt
	tokFloat
	tokString
	tokIdent
	tokOp // punctuation and operators, text in tok.text
)

type token struct {
	kind tokKind
	text string // operator text, identifier, or decoded string
	i    int64
	f    float64
	pos  int
}

// lex splits an expression (the text between ${ and }) into tokens.
func lex(src string) ([]token, error) {
	var toks []token
	rs := []rune(src)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case unicode.IsDigit(r):
			j := i
			isFloat := false
			for j < len(rs) && unicode.IsDigit(rs[j]) {
				j++
			}
			if j+1 < len(rs) && rs[j] == '.' && unicode.IsDigit(rs[j+1]) {
				isFloat = true
				j++
				for j < len(rs) && unicode.IsDigit(rs[j]) {
					j++
				}
			}
			if j < len(rs) && (rs[j] == 'e' || rs[j] == 'E') {
				k := j + 1
				if k < len(rs) && (rs[k] == '+' || rs[k] == '-') {
					k++
				}
				if k < len(rs) && unicode.IsDigit(rs[k]) {
					isFloat = true
					for j = k; j < len(rs) && unicode.IsDigit(rs[j]); j++ {
					}
				}
			}
			text := string(rs[i:j])
			t := token{kind: tokInt, text: text, pos: i}
			if isFloat {
				t.kind = tokFloat
				t.f, _ = strconv.ParseFloat(text, 64) // digits checked above; overflow gives ±Inf
			} else {
				v, err := strconv.ParseInt(text, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("integer literal %s out of range", text)
				}
				t.i = v
			}
			toks = append(toks, t)
			i = j
		case r == '_' || unicode.IsLetter(r):
			j := i
			for j < len(rs) && (rs[j] == '_' || unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j])) {
				j++
			}
			toks = append(toks, token{kind: tokIdent, text: string(rs[i:j]), pos: i})
			i = j
		case r == '"' || r == '\'':
			s, n, err := lexString(rs[i:])
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tokString, text: s, pos: i})
			i += n
		default:
			op := ""
			for _, cand := range []string{"//", "<=", ">=", "==", "!=", "+", "-", "*", "/", "%", "<", ">", "(", ")", "[", "]", "{", "}", ",", ".", ":"} {
				if strings.HasPrefix(string(rs[i:min(i+2, len(rs))]), cand) {
					op = cand
					break
				}
			}
			if op == "" {
				return nil, fmt.Errorf("unexpected character %q at offset %d", r, i)
			}
			toks = append(toks, token{kind: tokOp, text: op, pos: i})
			i += len([]rune(op))
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(rs)}), nil
}

// lexString decodes a quoted string starting at rs[0] and returns it with
// the number of runes consumed.
func lexString(rs []rune) (string, int, error) {
	quote := rs[0]
	var b strings.Builder
	for i := 1; i < len(rs); i++ {
		r := rs[i]
		if r == quote {
			return b.String(), i + 1, nil
		}
		if r != '\\' {
			b.WriteRune(r)
			continue
		}
		i++
		if i >= len(rs) {
			break
		}
		switch rs[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'u':
			if i+4 >= len(rs) {
				return "", 0, fmt.Errorf("bad \\u escape in string")
			}
			code, err := strconv.ParseUint(string(rs[i+1:i+5]), 16, 32)
			if err != nil {
				return "", 0, fmt.Errorf("bad \\u escape in string")
			}
			b.WriteRune(rune(code))
			i += 4
		default: // \" \' \\ and any other escaped character stand for themselves
			b.WriteRune(rs[i])
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}
