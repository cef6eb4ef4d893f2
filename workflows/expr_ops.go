package workflows

import (
	"math"
	"strconv"
)

func unary(op string, v any) (any, error) {
	switch op {
	case "not":
		b, ok := v.(bool)
		if !ok {
			return nil, typeErrorf("operator not needs a boolean, got %s", typeName(v))
		}
		return !b, nil
	default: // "-"
		switch n := v.(type) {
		case int64:
			if n == math.MinInt64 {
				return nil, valueErrorf("integer overflow")
			}
			return -n, nil
		case float64:
			return -n, nil
		}
		return nil, typeErrorf("unary - needs a number, got %s", typeName(v))
	}
}

// stringOf renders a scalar for string concatenation and string().
func stringOf(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return formatDouble(x), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

func binary(op string, l, r any) (any, error) {
	switch op {
	case "==":
		return equal(l, r), nil
	case "!=":
		return !equal(l, r), nil
	case "<", "<=", ">", ">=":
		return compare(op, l, r)
	case "in":
		return member(l, r)
	case "+":
		return add(l, r)
	}
	return arith(op, l, r)
}

// add implements the documented `+` conversion table: numbers add, and a
// string on either side turns numbers and booleans into strings.
func add(l, r any) (any, error) {
	_, ls := l.(string)
	_, rs := r.(string)
	if ls || rs {
		a, okA := stringOf(l)
		b, okB := stringOf(r)
		if okA && okB {
			return a + b, nil
		}
	}
	return arith("+", l, r)
}

func arith(op string, l, r any) (any, error) {
	li, lInt := l.(int64)
	ri, rInt := r.(int64)
	lf, lNum := toFloat(l)
	rf, rNum := toFloat(r)
	if !lNum || !rNum {
		return nil, typeErrorf("unsupported operand types for %s: %s and %s", op, typeName(l), typeName(r))
	}
	if (op == "/" || op == "//" || op == "%") && rf == 0 {
		return nil, errorf(tagZeroDivision, "division by zero")
	}
	if lInt && rInt && op != "/" {
		return intArith(op, li, ri)
	}
	switch op {
	case "+":
		return lf + rf, nil
	case "-":
		return lf - rf, nil
	case "*":
		return lf * rf, nil
	case "/":
		return lf / rf, nil
	case "//":
		return math.Floor(lf / rf), nil
	}
	// "%": the result takes the sign of the divisor, as with floor division.
	m := math.Mod(lf, rf)
	if m != 0 && (m < 0) != (rf < 0) {
		m += rf
	}
	return m, nil
}

func intArith(op string, a, b int64) (any, error) {
	overflow := valueErrorf("integer overflow in %d %s %d", a, op, b)
	switch op {
	case "+":
		s := a + b
		if (s > a) != (b > 0) {
			return nil, overflow
		}
		return s, nil
	case "-":
		s := a - b
		if (s < a) != (b > 0) {
			return nil, overflow
		}
		return s, nil
	case "*":
		if a == 0 || b == 0 {
			return int64(0), nil
		}
		p := a * b
		if p/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
			return nil, overflow
		}
		return p, nil
	case "//":
		if a == math.MinInt64 && b == -1 {
			return nil, overflow
		}
		q := a / b
		if (a%b != 0) && ((a < 0) != (b < 0)) {
			q--
		}
		return q, nil
	}
	// "%"
	if b == -1 {
		return int64(0), nil
	}
	m := a % b
	if m != 0 && (m < 0) != (b < 0) {
		m += b
	}
	return m, nil
}

func compare(op string, l, r any) (any, error) {
	var c int
	lf, lNum := toFloat(l)
	rf, rNum := toFloat(r)
	ls, lStr := l.(string)
	rs, rStr := r.(string)
	switch {
	case lNum && rNum:
		li, lInt := l.(int64)
		ri, rInt := r.(int64)
		switch {
		case lInt && rInt:
			c = cmp3(li < ri, li > ri)
		default:
			c = cmp3(lf < rf, lf > rf)
		}
	case lStr && rStr:
		c = cmp3(ls < rs, ls > rs)
	default:
		return nil, typeErrorf("cannot compare %s and %s with %s", typeName(l), typeName(r), op)
	}
	switch op {
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	}
	return c >= 0, nil
}

func cmp3(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}

// member implements `in`: a key in a map or a value in a list.
func member(l, r any) (any, error) {
	switch c := r.(type) {
	case []any:
		for _, e := range c {
			if equal(l, e) {
				return true, nil
			}
		}
		return false, nil
	case map[string]any:
		k, ok := l.(string)
		if !ok {
			return nil, typeErrorf("map keys are strings, cannot look up a %s", typeName(l))
		}
		_, found := c[k]
		return found, nil
	}
	return nil, typeErrorf("operator in needs a list or a map on its right, got %s", typeName(r))
}
