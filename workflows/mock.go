package workflows

import (
	"context"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Mocks answers calls in place of the world: a list of rules read from
// YAML, each a matcher (the function or connector name, the request URL,
// a subset of the arguments) and an answer (a result, an HttpError, a
// ConnectionError, any raised value, or passing the call through), with an
// optional delay. Rules are tried in order; the first that matches and is
// not used up answers. A rule answers `times` calls, or every call when
// times is absent, so rules with `times: 1` give answers in sequence.
//
// With mocks, every http.* request and googleapis.* connector call must be
// answered by a rule (a `passthrough` rule lets it through): an unmatched
// one stops the run with an *UnmatchedCallError showing the call. Any
// other function is mocked only when a rule names it. The format is
// documented in docs/workflows-mocks.md.
//
// Mocks is immutable; each run counts its own uses.
type Mocks struct {
	rules []*mockRule
}

type mockRule struct {
	line  int
	call  *regexp.Regexp
	name  string // the call pattern as written
	url   *regexp.Regexp
	args  map[string]any
	times int64 // 0: every call
	delay time.Duration

	passthrough bool
	answer      func() (any, error) // result or error value; nil when passthrough
}

// mockKeys are the fields of a rule.
var mockKeys = map[string]bool{
	"call": true, "url": true, "args": true, "times": true, "delay": true,
	"result": true, "http_error": true, "connection_error": true, "raise": true, "passthrough": true,
}

// LoadMocksFile reads mocks from a YAML or JSON file.
func LoadMocksFile(path string) (*Mocks, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := ParseMocks(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ParseMocks parses a YAML (or JSON) list of mock rules.
func ParseMocks(src []byte) (*Mocks, error) {
	doc, err := parseDocument(src)
	if err != nil {
		return nil, err
	}
	if doc.kind != listNode {
		return nil, &LoadError{Line: doc.line, Msg: "mocks must be a list of rules"}
	}
	m := &Mocks{}
	for _, n := range doc.list {
		r, err := parseMockRule(n)
		if err != nil {
			return nil, err
		}
		m.rules = append(m.rules, r)
	}
	return m, nil
}

func parseMockRule(n *node) (*mockRule, error) {
	bad := func(format string, args ...any) error {
		return &LoadError{Line: n.line, Msg: "mock: " + fmt.Sprintf(format, args...)}
	}
	if n.kind != mapNode {
		return nil, bad("a rule is a map with call and an answer")
	}
	v, _ := n.plain().(map[string]any)
	for _, k := range n.keys {
		if !mockKeys[k] {
			return nil, bad("unknown field %q", k)
		}
	}
	r := &mockRule{line: n.line}
	name, ok := v["call"].(string)
	if !ok || name == "" {
		return nil, bad("call must name the function or connector (a * matches any characters)")
	}
	r.name, r.call = name, globRE(name)
	if u, present := v["url"]; present {
		s, ok := u.(string)
		if !ok {
			return nil, bad("url must be a string pattern")
		}
		r.url = globRE(s)
	}
	if a, present := v["args"]; present {
		if r.args, ok = a.(map[string]any); !ok {
			return nil, bad("args must be a map (a subset of the call's arguments)")
		}
	}
	if t, present := v["times"]; present {
		if r.times, ok = t.(int64); !ok || r.times < 1 {
			return nil, bad("times must be a positive integer")
		}
	}
	if d, present := v["delay"]; present {
		secs, ok := toFloat(d)
		if !ok || secs < 0 || math.IsNaN(secs) || math.IsInf(secs, 0) {
			return nil, bad("delay must be a non-negative number of seconds")
		}
		r.delay = time.Duration(secs * float64(time.Second))
	}
	var answers []string
	for _, k := range []string{"result", "http_error", "connection_error", "raise", "passthrough"} {
		if _, present := v[k]; present {
			answers = append(answers, k)
		}
	}
	if len(answers) != 1 {
		return nil, bad("give exactly one of result, http_error, connection_error, raise and passthrough (got %d)", len(answers))
	}
	switch val := v[answers[0]]; answers[0] {
	case "result":
		r.answer = func() (any, error) { return val, nil }
	case "raise":
		r.answer = func() (any, error) { return nil, &Error{Value: val} }
	case "passthrough":
		if val != true {
			return nil, bad("passthrough must be true")
		}
		r.passthrough = true
	case "connection_error":
		msg := "connection error (mocked)"
		if s, ok := val.(string); ok {
			msg = s
		} else if val != true {
			return nil, bad("connection_error must be true or a message")
		}
		r.answer = func() (any, error) { return nil, errorf(tagConnection, "%s", msg) }
	case "http_error":
		h, ok := val.(map[string]any)
		code, isInt := h["code"].(int64)
		if !ok || !isInt || code < 400 || code > 599 {
			return nil, bad("http_error needs a code between 400 and 599")
		}
		for k := range h {
			if k != "code" && k != "body" && k != "headers" {
				return nil, bad("http_error has code, body and headers, not %q", k)
			}
		}
		headers, _ := h["headers"].(map[string]any)
		if headers == nil {
			headers = map[string]any{}
		}
		resp := &response{code: int(code), headers: headers, body: h["body"]}
		r.answer = func() (any, error) { return nil, resp.httpError() }
	}
	return r, nil
}

// globRE compiles a pattern where * matches any run of characters.
func globRE(p string) *regexp.Regexp {
	parts := strings.Split(p, "*")
	for i, s := range parts {
		parts[i] = regexp.QuoteMeta(s)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// names reports whether some rule's call pattern matches name.
func (m *Mocks) names(name string) bool {
	for _, r := range m.rules {
		if r.call.MatchString(name) {
			return true
		}
	}
	return false
}

// external reports whether a call reaches outside the runner, so that
// with mocks it must be answered by a rule.
func external(name string) bool {
	return strings.HasPrefix(name, "googleapis.") ||
		(strings.HasPrefix(name, "http.") && !strings.HasPrefix(name, "http.default_"))
}

// mockRun is one run's use of the mocks.
type mockRun struct {
	m    *Mocks
	mu   sync.Mutex
	used []int64
}

func newMockRun(m *Mocks) *mockRun {
	if m == nil {
		return nil
	}
	return &mockRun{m: m, used: make([]int64, len(m.rules))}
}

// answer answers a call by name with named arguments and, for http.* and
// known connectors, its URL. handled is false when the call must run for
// real: a passthrough rule matched, or no rule matched a call that is not
// external.
func (ex *execution) answerMock(ctx context.Context, name string, args map[string]any, url string) (result any, handled bool, err error) {
	mr := ex.mocks
	if mr == nil {
		return nil, false, nil
	}
	rule := mr.take(name, args, url)
	switch {
	case rule == nil && external(name):
		return nil, true, &UnmatchedCallError{Call: name, Args: args, URL: url}
	case rule == nil || rule.passthrough:
		return nil, false, nil
	}
	if rule.delay > 0 {
		if err := ex.cfg.Sleep(ctx, rule.delay); err != nil {
			return nil, true, err
		}
	}
	result, err = rule.answer()
	return result, true, err
}

func (mr *mockRun) take(name string, args map[string]any, url string) *mockRule {
	mr.mu.Lock()
	defer mr.mu.Unlock()
	for i, r := range mr.m.rules {
		if r.times > 0 && mr.used[i] >= r.times {
			continue
		}
		if !r.call.MatchString(name) || (r.url != nil && (url == "" || !r.url.MatchString(url))) || !subsetOf(r.args, args) {
			continue
		}
		mr.used[i]++
		return r
	}
	return nil
}

// subsetOf reports whether every key of want is in got with an equal value,
// maps compared as subsets in turn.
func subsetOf(want, got map[string]any) bool {
	for k, wv := range want {
		gv, ok := got[k]
		if !ok {
			return false
		}
		if wm, ok := wv.(map[string]any); ok {
			gm, ok := gv.(map[string]any)
			if !ok || !subsetOf(wm, gm) {
				return false
			}
			continue
		}
		if !equal(wv, gv) {
			return false
		}
	}
	return true
}

// UnmatchedCallError is a call that mocks were given for and none
// answered. It is not a workflow error: no except catches it, and the run
// stops.
type UnmatchedCallError struct {
	Call    string
	Args    map[string]any
	URL     string
	Step    string
	Routine string
	Line    int
}

func (e *UnmatchedCallError) Error() string {
	args, err := EncodeJSON(e.Args)
	if err != nil {
		args = []byte(fmt.Sprint(e.Args))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "no mock matches the call %s with args %s", e.Call, args)
	if e.URL != "" {
		fmt.Fprintf(&b, " (url %s)", e.URL)
	}
	if e.Step != "" {
		fmt.Fprintf(&b, "\nin step %q, routine %q, line: %d", e.Step, e.Routine, e.Line)
	}
	return b.String()
}

// plain converts a parsed node to a value, with no expressions.
func (n *node) plain() any {
	switch n.kind {
	case listNode:
		out := make([]any, len(n.list))
		for i, e := range n.list {
			out[i] = e.plain()
		}
		return out
	case mapNode:
		out := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			out[k] = n.vals[i].plain()
		}
		return out
	}
	return n.val
}
