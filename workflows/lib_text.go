package workflows

import (
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

func addText() {
	register("text.decode", []string{"data", "charset"}, 1, func(c *call) (any, error) {
		b, err := c.bytes(0)
		if err != nil {
			return nil, err
		}
		if err := checkCharset(c); err != nil {
			return nil, err
		}
		if !utf8.Valid(b) {
			return nil, valueErrorf("text.decode: data is not valid UTF-8")
		}
		return string(b), nil
	})
	register("text.encode", []string{"text", "charset"}, 1, func(c *call) (any, error) {
		s, err := c.str(0)
		if err != nil {
			return nil, err
		}
		return []byte(s), checkCharset(c)
	})
	register("text.find_all", []string{"source", "substr"}, 2, func(c *call) (any, error) {
		src, sub, err := twoStrings(c)
		if err != nil {
			return nil, err
		}
		out := []any{}
		if sub == "" {
			return out, nil
		}
		for off := 0; ; {
			i := strings.Index(src[off:], sub)
			if i < 0 {
				return out, nil
			}
			out = append(out, int64(utf8.RuneCountInString(src[:off+i])))
			off += i + len(sub)
		}
	})
	register("text.find_all_regex", []string{"source", "regexp"}, 2, func(c *call) (any, error) {
		src, re, err := stringAndRegexp(c)
		if err != nil {
			return nil, err
		}
		out := []any{}
		for _, loc := range re.FindAllStringIndex(src, -1) {
			out = append(out, map[string]any{
				"index": int64(utf8.RuneCountInString(src[:loc[0]])),
				"match": src[loc[0]:loc[1]],
			})
		}
		return out, nil
	})
	register("text.match_regex", []string{"source", "regexp"}, 2, func(c *call) (any, error) {
		src, re, err := stringAndRegexp(c)
		if err != nil {
			return nil, err
		}
		return re.MatchString(src), nil
	})
	register("text.replace_all", []string{"source", "substr", "repl"}, 3, func(c *call) (any, error) {
		src, sub, err := twoStrings(c)
		if err != nil {
			return nil, err
		}
		repl, err := c.str(2)
		if err != nil {
			return nil, err
		}
		return strings.ReplaceAll(src, sub, repl), nil
	})
	register("text.replace_all_regex", []string{"source", "regexp", "repl"}, 3, func(c *call) (any, error) {
		src, re, err := stringAndRegexp(c)
		if err != nil {
			return nil, err
		}
		repl, err := c.str(2)
		if err != nil {
			return nil, err
		}
		return re.ReplaceAllString(src, repl), nil
	})
	register("text.split", []string{"source", "separator"}, 2, func(c *call) (any, error) {
		src, sep, err := twoStrings(c)
		if err != nil {
			return nil, err
		}
		out := []any{}
		for _, p := range strings.Split(src, sep) {
			out = append(out, p)
		}
		return out, nil
	})
	register("text.substring", []string{"source", "start", "end"}, 3, func(c *call) (any, error) {
		src, err := c.str(0)
		if err != nil {
			return nil, err
		}
		start, err := c.integer(1)
		if err != nil {
			return nil, err
		}
		end, err := c.integer(2)
		if err != nil {
			return nil, err
		}
		rs := []rune(src)
		clamp := func(i int64) int64 {
			if i < 0 {
				i += int64(len(rs))
			}
			return max(0, min(i, int64(len(rs))))
		}
		start, end = clamp(start), clamp(end)
		if start >= end {
			return "", nil
		}
		return string(rs[start:end]), nil
	})
	register("text.to_lower", []string{"source"}, 1, mapString(strings.ToLower))
	register("text.to_upper", []string{"source"}, 1, mapString(strings.ToUpper))
	register("text.url_encode", []string{"source"}, 1, mapString(func(s string) string { return urlEncode(s, false) }))
	register("text.url_encode_plus", []string{"source"}, 1, mapString(func(s string) string { return urlEncode(s, true) }))
	register("text.url_decode", []string{"source"}, 1, func(c *call) (any, error) {
		s, err := c.str(0)
		if err != nil {
			return nil, err
		}
		out, err := url.PathUnescape(s)
		if err != nil {
			return nil, valueErrorf("text.url_decode: %v", err)
		}
		return out, nil
	})
}

func checkCharset(c *call) error {
	if !c.optional(1) {
		return nil
	}
	cs, err := c.str(1)
	if err != nil {
		return err
	}
	if !strings.EqualFold(cs, "UTF-8") && !strings.EqualFold(cs, "UTF8") {
		return valueErrorf("%s: unsupported charset %q", c.name, cs)
	}
	return nil
}

func twoStrings(c *call) (string, string, error) {
	a, err := c.str(0)
	if err != nil {
		return "", "", err
	}
	b, err := c.str(1)
	return a, b, err
}

func stringAndRegexp(c *call) (string, *regexp.Regexp, error) {
	src, pattern, err := twoStrings(c)
	if err != nil {
		return "", nil, err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return "", nil, valueErrorf("%s: invalid regular expression: %v", c.name, err)
	}
	return src, re, nil
}

func mapString(f func(string) string) func(c *call) (any, error) {
	return func(c *call) (any, error) {
		s, err := c.str(0)
		if err != nil {
			return nil, err
		}
		return f(s), nil
	}
}

// urlEncode escapes everything but ASCII letters, digits and ".-_".
func urlEncode(s string, plus bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '.', ch == '-', ch == '_':
			b.WriteByte(ch)
		case ch == ' ' && plus:
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[ch>>4])
			b.WriteByte(hex[ch&15])
		}
	}
	return b.String()
}
