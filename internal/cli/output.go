package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/goccy/go-yaml"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Column is one column of a table: its header and how a resource shows in
// it.
type Column[M proto.Message] struct {
	Header string
	Value  func(M) string
}

// PrintOne prints one resource: YAML unless --format says otherwise (a
// table has one row).
func PrintOne[M proto.Message](c *Call, m M, cols []Column[M]) error {
	switch c.Format {
	case FormatTable:
		return printTable(c.Stdout, []M{m}, cols)
	case FormatJSON:
		return printJSON(c.Stdout, []proto.Message{m}, false)
	default:
		return printYAML(c.Stdout, []proto.Message{m})
	}
}

// PrintList prints resources: a table unless --format says otherwise; an
// empty table is "Listed 0 items." on stderr, as gcloud says it.
func PrintList[M proto.Message](c *Call, ms []M, cols []Column[M]) error {
	generic := make([]proto.Message, len(ms))
	for i, m := range ms {
		generic[i] = m
	}
	switch c.Format {
	case FormatJSON:
		return printJSON(c.Stdout, generic, true)
	case FormatYAML:
		return printYAML(c.Stdout, generic)
	}
	if len(ms) == 0 {
		fmt.Fprintln(c.Stderr, "Listed 0 items.")
		return nil
	}
	return printTable(c.Stdout, ms, cols)
}

// PrintResult prints what a mutation returned, only when --format asks
// for it (gcloud's mutations print just their status line by default).
func PrintResult[M proto.Message](c *Call, m M, cols []Column[M]) error {
	if c.Format == FormatDefault {
		return nil
	}
	return PrintOne(c, m, cols)
}

// Status prints a status line ("Created queue [q].") on stderr.
func Status(c *Call, format string, args ...any) {
	fmt.Fprintf(c.Stderr, format+"\n", args...)
}

func printTable[M proto.Message](w io.Writer, ms []M, cols []Column[M]) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for i, col := range cols {
		if i > 0 {
			fmt.Fprint(tw, "\t")
		}
		fmt.Fprint(tw, col.Header)
	}
	fmt.Fprintln(tw)
	for _, m := range ms {
		for i, col := range cols {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, col.Value(m))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// jsonOf is a resource's JSON in the API's own shape (camelCase, enums by
// name), indented.
func jsonOf(m proto.Message) ([]byte, error) {
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	var out bytes.Buffer
	// protojson's spacing is deliberately unstable; Indent normalises it.
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func printJSON(w io.Writer, ms []proto.Message, list bool) error {
	var out bytes.Buffer
	if list {
		out.WriteString("[")
	}
	for i, m := range ms {
		b, err := jsonOf(m)
		if err != nil {
			return err
		}
		if i > 0 {
			out.WriteString(",")
		}
		out.Write(b)
	}
	if list {
		out.WriteString("]")
		var ind bytes.Buffer
		if err := json.Indent(&ind, out.Bytes(), "", "  "); err != nil {
			return err
		}
		out = ind
	}
	out.WriteString("\n")
	_, err := w.Write(out.Bytes())
	return err
}

// printYAML prints each resource as a YAML document, "---" between them,
// keys in the API's order.
func printYAML(w io.Writer, ms []proto.Message) error {
	for i, m := range ms {
		b, err := jsonOf(m)
		if err != nil {
			return err
		}
		y, err := yaml.JSONToYAML(b)
		if err != nil {
			return fmt.Errorf("encoding YAML: %w", err)
		}
		if i > 0 {
			fmt.Fprintln(w, "---")
		}
		if _, err := w.Write(y); err != nil {
			return err
		}
	}
	return nil
}
