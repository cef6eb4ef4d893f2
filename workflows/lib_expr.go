package workflows

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// addExprHelpers registers the expression helpers: double, int, string,
// keys, len, default, if and get_type.
func addExprHelpers() {
	register("double", []string{"value"}, 1, func(c *call) (any, error) {
		switch v := c.args[0].(type) {
		case int64:
			return float64(v), nil
		case float64:
			return v, nil
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return nil, valueErrorf("double: cannot convert %q to a double", v)
			}
			return f, nil
		}
		return nil, c.badType(0, "a string, integer or double")
	})
	register("int", []string{"value"}, 1, func(c *call) (any, error) {
		switch v := c.args[0].(type) {
		case int64:
			return v, nil
		case float64:
			if math.IsNaN(v) || v >= 9.223372036854775807e18 || v < -9.223372036854775808e18 {
				return nil, valueErrorf("int: %s is out of the integer range", formatDouble(v))
			}
			return int64(v), nil // truncates toward zero
		case string:
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return nil, valueErrorf("int: cannot convert %q to an integer", v)
			}
			return n, nil
		}
		return nil, c.badType(0, "a string, integer or double")
	})
	register("string", []string{"value"}, 1, func(c *call) (any, error) {
		s, ok := stringOf(c.args[0])
		if !ok {
			return nil, c.badType(0, "a string, integer, double or boolean")
		}
		return s, nil
	})
	register("keys", []string{"map"}, 1, func(c *call) (any, error) {
		m, err := c.mapArg(0)
		if err != nil {
			return nil, err
		}
		out := []any{}
		for _, k := range sortedKeys(m) {
			out = append(out, k)
		}
		return out, nil
	})
	register("len", []string{"value"}, 1, func(c *call) (any, error) {
		switch v := c.args[0].(type) {
		case string:
			return int64(utf8.RuneCountInString(v)), nil
		case []any:
			return int64(len(v)), nil
		case map[string]any:
			return int64(len(v)), nil
		case []byte:
			return int64(len(v)), nil
		}
		return nil, c.badType(0, "a string, list, map or bytes")
	})
	register("default", []string{"value", "default_value"}, 2, func(c *call) (any, error) {
		if c.args[0] == nil {
			return c.args[1], nil
		}
		return c.args[0], nil
	})
	register("if", []string{"condition", "if_true", "if_false"}, 3, func(c *call) (any, error) {
		switch v := c.args[0].(type) {
		case bool:
			if v {
				return c.args[1], nil
			}
			return c.args[2], nil
		case nil:
			return c.args[2], nil
		}
		return nil, c.badType(0, "a boolean")
	})
	register("get_type", []string{"value"}, 1, func(c *call) (any, error) {
		return typeName(c.args[0]), nil
	})
}
