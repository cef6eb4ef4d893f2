package workflows

import "math"

func addCollections() {
	register("list.concat", []string{"objs", "val"}, 2, func(c *call) (any, error) {
		l, err := c.list(0)
		if err != nil {
			return nil, err
		}
		return append(append(make([]any, 0, len(l)+1), l...), c.args[1]), nil
	})
	register("list.prepend", []string{"objs", "val"}, 2, func(c *call) (any, error) {
		l, err := c.list(0)
		if err != nil {
			return nil, err
		}
		return append([]any{c.args[1]}, l...), nil
	})
	register("map.get", []string{"map", "keys"}, 2, func(c *call) (any, error) {
		var path []string
		switch k := c.args[1].(type) {
		case string:
			path = []string{k}
		case []any:
			for _, e := range k {
				s, ok := e.(string)
				if !ok {
					return nil, c.badType(1, "a string or a list of strings")
				}
				path = append(path, s)
			}
		default:
			return nil, c.badType(1, "a string or a list of strings")
		}
		v := c.args[0]
		for _, k := range path {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, nil
			}
			v = m[k]
		}
		return v, nil
	})
	register("map.delete", []string{"map", "key"}, 2, func(c *call) (any, error) {
		m, err := c.mapArg(0)
		if err != nil {
			return nil, err
		}
		k, err := c.str(1)
		if err != nil {
			return nil, err
		}
		out := copyMap(m)
		delete(out, k)
		return out, nil
	})
	register("map.merge", []string{"first", "second"}, 2, func(c *call) (any, error) {
		a, b, err := twoMaps(c)
		if err != nil {
			return nil, err
		}
		out := copyMap(a)
		for k, v := range b {
			out[k] = v
		}
		return out, nil
	})
	register("map.merge_nested", []string{"first", "second"}, 2, func(c *call) (any, error) {
		a, b, err := twoMaps(c)
		if err != nil {
			return nil, err
		}
		return mergeNested(a, b), nil
	})
	register("math.abs", []string{"x"}, 1, func(c *call) (any, error) {
		switch v := c.args[0].(type) {
		case int64:
			if v == math.MinInt64 {
				return nil, valueErrorf("math.abs: integer overflow")
			}
			if v < 0 {
				return -v, nil
			}
			return v, nil
		case float64:
			return math.Abs(v), nil
		}
		return nil, c.badType(0, "a number")
	})
	register("math.floor", []string{"x"}, 1, func(c *call) (any, error) {
		switch v := c.args[0].(type) {
		case int64:
			return v, nil
		case float64:
			f := math.Floor(v)
			if math.IsNaN(f) || f >= 9.223372036854775807e18 || f < -9.223372036854775808e18 {
				return nil, valueErrorf("math.floor: %s is out of the integer range", formatDouble(v))
			}
			return int64(f), nil
		}
		return nil, c.badType(0, "a number")
	})
	register("math.max", []string{"x", "y"}, 2, func(c *call) (any, error) { return minMax(c, true) })
	register("math.min", []string{"x", "y"}, 2, func(c *call) (any, error) { return minMax(c, false) })
}

func twoMaps(c *call) (map[string]any, map[string]any, error) {
	a, err := c.mapArg(0)
	if err != nil {
		return nil, nil, err
	}
	b, err := c.mapArg(1)
	return a, b, err
}

// mergeNested merges b into a, recursing where both hold maps.
func mergeNested(a, b map[string]any) map[string]any {
	out := copyMap(a)
	for k, v := range b {
		am, aok := out[k].(map[string]any)
		bm, bok := v.(map[string]any)
		if aok && bok {
			out[k] = mergeNested(am, bm)
		} else {
			out[k] = v
		}
	}
	return out
}

func minMax(c *call, wantMax bool) (any, error) {
	x, err := c.number(0)
	if err != nil {
		return nil, err
	}
	y, err := c.number(1)
	if err != nil {
		return nil, err
	}
	pickX := x >= y
	if !wantMax {
		pickX = x <= y
	}
	if pickX {
		return c.args[0], nil
	}
	return c.args[1], nil
}
