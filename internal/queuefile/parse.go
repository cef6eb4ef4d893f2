package queuefile

import (
	"errors"
	"fmt"
	"os"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// DefaultParent is where queue.yaml's queues go unless told otherwise.
const DefaultParent = "projects/local-project/locations/us-central1"

// Decl is one declared queue.
type Decl struct {
	// Queue is the queue as the file describes it, with its full name.
	Queue *cloudtaskspb.Queue
	// Paths are the update-mask paths the file's format controls.
	Paths []string
	// Burst is queue.yaml's bucket_size (0: derived from the rate).
	Burst int32
	// State is the state the file asks for; unspecified leaves it alone.
	State cloudtaskspb.Queue_State
	// Source is FILE:LINE of the declaration.
	Source string
}

// Error is a problem in a file, at a line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ReadFile reads and parses one file; parent is where queue.yaml queues go.
func ReadFile(path, parent string) ([]Decl, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading queue file: %w", err)
	}
	return Parse(path, data, parent)
}

// Parse reads the declarations in data; file names it in errors and
// sources.
func Parse(file string, data []byte, parent string) ([]Decl, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) {
			return nil, &Error{File: file, Line: lineOf(ye.GetToken()), Msg: ye.GetMessage()}
		}
		return nil, &Error{File: file, Msg: err.Error()}
	}
	var docs []ast.Node
	for _, d := range f.Docs {
		if d.Body != nil {
			docs = append(docs, d.Body)
		}
	}
	if len(docs) != 1 {
		return nil, &Error{File: file, Msg: fmt.Sprintf("want one YAML or JSON document, found %d", len(docs))}
	}
	p := &fileParser{file: file}
	switch body := unwrap(docs[0]).(type) {
	case *ast.MappingNode:
		if v := p.key(body, "queue"); v != nil {
			return p.appEngine(body, v, parent)
		}
		if v := p.key(body, "queues"); v != nil {
			return p.resources(v)
		}
	case *ast.SequenceNode:
		return p.resources(body)
	}
	return nil, p.errf(docs[0], "neither a queue.yaml (a mapping with a \"queue:\" list) nor a list of Queue resources")
}

// fileParser reports errors against one file.
type fileParser struct {
	file string
}

func (p *fileParser) errf(n ast.Node, format string, args ...any) error {
	return &Error{File: p.file, Line: lineOf(n.GetToken()), Msg: fmt.Sprintf(format, args...)}
}

func (p *fileParser) source(n ast.Node) string {
	return fmt.Sprintf("%s:%d", p.file, lineOf(n.GetToken()))
}

// key returns the value of key in m, or nil.
func (p *fileParser) key(m *ast.MappingNode, key string) ast.Node {
	for _, kv := range m.Values {
		if kv.Key.GetToken().Value == key {
			return unwrap(kv.Value)
		}
	}
	return nil
}

func lineOf(tk *token.Token) int {
	if tk == nil || tk.Position == nil {
		return 0
	}
	return tk.Position.Line
}

// unwrap looks through tags and anchors to the node they decorate.
func unwrap(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.TagNode:
			n = v.Value
		case *ast.AnchorNode:
			n = v.Value
		default:
			return n
		}
	}
}
