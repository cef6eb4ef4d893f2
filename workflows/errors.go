package workflows

import (
	"fmt"
	"strings"
)

// Error tags from the Workflows error catalogue.
const (
	tagConnection       = "ConnectionError"
	tagConnectionFailed = "ConnectionFailedError"
	tagHTTP             = "HttpError"
	tagIndex            = "IndexError"
	tagKey              = "KeyError"
	tagParallelNesting  = "ParallelNestingError"
	tagRecursion        = "RecursionError"
	tagResourceLimit    = "ResourceLimitError"
	tagTimeout          = "TimeoutError"
	tagType             = "TypeError"
	tagUnhandledBranch  = "UnhandledBranchError"
	tagValue            = "ValueError"
	tagZeroDivision     = "ZeroDivisionError"
)

// Error is a workflow error: the value a workflow sees in `except` (a map
// with tags and message for built-in errors, or whatever was raised) and
// the place where it was first raised.
type Error struct {
	Value   any
	Step    string
	Routine string
	Line    int
}

// Message is the error's message key, or its value when a string was raised.
func (e *Error) Message() string {
	switch v := e.Value.(type) {
	case string:
		return v
	case map[string]any:
		if m, ok := v["message"].(string); ok {
			return m
		}
	}
	b, err := EncodeJSON(e.Value)
	if err != nil {
		return fmt.Sprint(e.Value)
	}
	return string(b)
}

// Context is the location line the Executions API reports with an error.
func (e *Error) Context() string {
	return fmt.Sprintf("in step %q, routine %q, line: %d", e.Step, e.Routine, e.Line)
}

func (e *Error) Error() string {
	if e.Step == "" {
		return e.Message()
	}
	return e.Message() + "\n" + e.Context()
}

// Tags returns the error's tags (empty for raised strings and untagged maps).
func (e *Error) Tags() []string {
	m, _ := e.Value.(map[string]any)
	list, _ := m["tags"].([]any)
	var tags []string
	for _, t := range list {
		if s, ok := t.(string); ok {
			tags = append(tags, s)
		}
	}
	return tags
}

// newError builds a built-in error map with one or more tags.
func newError(tags []string, format string, args ...any) *Error {
	list := make([]any, len(tags))
	for i, t := range tags {
		list[i] = t
	}
	return &Error{Value: map[string]any{"tags": list, "message": fmt.Sprintf(format, args...)}}
}

func errorf(tag, format string, args ...any) *Error {
	return newError([]string{tag}, format, args...)
}

func typeErrorf(format string, args ...any) *Error  { return errorf(tagType, format, args...) }
func valueErrorf(format string, args ...any) *Error { return errorf(tagValue, format, args...) }

// hasTag reports whether an error value carries tag.
func hasTag(v any, tag string) bool {
	m, _ := v.(map[string]any)
	list, _ := m["tags"].([]any)
	for _, t := range list {
		if t == tag {
			return true
		}
	}
	return false
}

// LoadError is a static error in a workflow definition.
type LoadError struct {
	Line int    // 1-based source line, 0 when unknown
	Step string // enclosing step, if any
	Msg  string
}

func (e *LoadError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Step != "" {
		fmt.Fprintf(&b, "step %q: ", e.Step)
	}
	b.WriteString(e.Msg)
	return b.String()
}
