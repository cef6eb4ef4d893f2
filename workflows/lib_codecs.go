package workflows

import (
	"encoding/base64"
	"strings"
)

func addCodecs() {
	register("json.decode", []string{"data"}, 1, func(c *call) (any, error) {
		var data []byte
		switch v := c.args[0].(type) {
		case []byte:
			data = v
		case string:
			data = []byte(v)
		default:
			return nil, c.badType(0, "bytes or a string")
		}
		v, err := DecodeJSON(data)
		if err != nil {
			return nil, valueErrorf("json.decode: %v", err)
		}
		return v, nil
	})
	register("json.encode", []string{"data", "indent"}, 1, func(c *call) (any, error) {
		b, err := jsonEncodeArgs(c)
		if err != nil {
			return nil, err
		}
		return b, nil
	})
	register("json.encode_to_string", []string{"data", "indent"}, 1, func(c *call) (any, error) {
		b, err := jsonEncodeArgs(c)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	})
	register("base64.encode", []string{"data", "padding"}, 1, func(c *call) (any, error) {
		b, err := c.bytes(0)
		if err != nil {
			return nil, err
		}
		enc, err := base64Encoding(c)
		if err != nil {
			return nil, err
		}
		return enc.EncodeToString(b), nil
	})
	register("base64.decode", []string{"data", "padding"}, 1, func(c *call) (any, error) {
		s, err := c.str(0)
		if err != nil {
			return nil, err
		}
		enc, err := base64Encoding(c)
		if err != nil {
			return nil, err
		}
		out, err := enc.DecodeString(s)
		if err != nil {
			return nil, valueErrorf("base64.decode: %v", err)
		}
		return out, nil
	})
}

func base64Encoding(c *call) (*base64.Encoding, error) {
	if !c.optional(1) {
		return base64.StdEncoding, nil
	}
	pad, ok := c.args[1].(bool)
	if !ok {
		return nil, c.badType(1, "a boolean")
	}
	if pad {
		return base64.StdEncoding, nil
	}
	return base64.RawStdEncoding, nil
}

// jsonEncodeArgs encodes data, indented when indent is true (two spaces) or
// a map {prefix, indent}.
func jsonEncodeArgs(c *call) ([]byte, error) {
	if !c.optional(1) {
		return EncodeJSON(c.args[0])
	}
	switch ind := c.args[1].(type) {
	case bool:
		if !ind {
			return EncodeJSON(c.args[0])
		}
		return encodeIndentJSON(c.args[0], "", "  ")
	case map[string]any:
		prefix, _ := ind["prefix"].(string)
		indent, ok := ind["indent"].(string)
		if !ok {
			indent = "  "
		}
		if strings.Trim(prefix+indent, " \t") != "" {
			return nil, valueErrorf("%s: prefix and indent may only contain spaces and tabs", c.name)
		}
		return encodeIndentJSON(c.args[0], prefix, indent)
	}
	return nil, c.badType(1, "a boolean or a map")
}
