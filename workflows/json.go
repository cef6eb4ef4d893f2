package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
)

// DecodeJSON decodes a JSON document into workflow values, keeping integers
// (no fraction or exponent, fitting in 64 bits) apart from doubles.
func DecodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return fromJSON(v), nil
}

func fromJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i
			}
		}
		f, _ := strconv.ParseFloat(s, 64) // the decoder already validated the syntax
		return f
	case []any:
		for i := range x {
			x[i] = fromJSON(x[i])
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = fromJSON(e)
		}
		return x
	}
	return v
}

// EncodeJSON encodes a workflow value as compact JSON with sorted map keys.
// Doubles keep a fraction ("2.0") so they decode back as doubles. Bytes and
// functions are not JSON values: they give a TypeError.
func EncodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := encodeJSON(&b, v, "", "", 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// encodeIndentJSON is EncodeJSON with a line prefix and an indent per level.
func encodeIndentJSON(v any, prefix, indent string) ([]byte, error) {
	var b bytes.Buffer
	if err := encodeJSON(&b, v, prefix, indent, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func encodeJSON(b *bytes.Buffer, v any, prefix, indent string, depth int) error {
	newline := func(d int) {
		if indent == "" && prefix == "" {
			return
		}
		b.WriteByte('\n')
		b.WriteString(prefix)
		b.WriteString(strings.Repeat(indent, d))
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return valueErrorf("cannot encode %v as JSON", x)
		}
		b.WriteString(formatDouble(x))
	case string:
		quoteJSON(b, x)
	case []any:
		if len(x) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(depth + 1)
			if err := encodeJSON(b, e, prefix, indent, depth+1); err != nil {
				return err
			}
		}
		newline(depth)
		b.WriteByte(']')
	case map[string]any:
		if len(x) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteByte('{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(depth + 1)
			quoteJSON(b, k)
			b.WriteByte(':')
			if indent != "" || prefix != "" {
				b.WriteByte(' ')
			}
			if err := encodeJSON(b, x[k], prefix, indent, depth+1); err != nil {
				return err
			}
		}
		newline(depth)
		b.WriteByte('}')
	default:
		return typeErrorf("a value of type %s cannot be encoded as JSON", typeName(v))
	}
	return nil
}

// quoteJSON writes s as a JSON string without HTML escaping.
func quoteJSON(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // encoding a string into a buffer cannot fail
	b.Truncate(b.Len() - 1) // Encode appends a newline
}
