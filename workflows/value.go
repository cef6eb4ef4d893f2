package workflows

import (
	"bytes"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Workflow values are plain Go values so that they are cheap to build and
// compare: nil, bool, int64, float64, string, []byte, []any, map[string]any
// and funcRef. Lists and maps are never mutated once built; an assignment to
// a nested path copies the containers on that path (see setPath), which gives
// the pass-by-value semantics the spec requires without deep copies.

// funcRef names a callable: a standard library function or a subworkflow.
// It is what ${http.default_retry_predicate} or ${my_predicate} evaluates to.
type funcRef struct{ name string }

// typeName is the name get_type returns and error messages use.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case int64:
		return "integer"
	case float64:
		return "double"
	case string:
		return "string"
	case []byte:
		return "bytes"
	case []any:
		return "list"
	case map[string]any:
		return "map"
	case funcRef:
		return "function"
	}
	return "unknown"
}

// toFloat reports the numeric value of an integer or a double.
func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// equal is deep equality; integers and doubles compare by value, other
// values of different types are simply unequal.
func equal(a, b any) bool {
	if fa, ok := toFloat(a); ok {
		if fb, ok := toFloat(b); ok {
			if ia, ok := a.(int64); ok {
				if ib, ok := b.(int64); ok {
					return ia == ib
				}
			}
			return fa == fb
		}
		return false
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool, string, funcRef:
		return a == b
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

// sortedKeys returns the keys of m in ascending order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// formatDouble renders a double so that it reads back as a double: 2.0
// stays "2.0" rather than collapsing into the integer "2".
func formatDouble(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	s := strconv.FormatFloat(f, format, -1, 64)
	if format == 'f' && !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// copyMap returns a shallow copy of m with room for one more key.
func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
