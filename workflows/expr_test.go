package workflows

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestExpressionGoldens evaluates each line of testdata/expressions.txt in a
// workflow that defines m, l and s, and compares with the documented value.
func TestExpressionGoldens(t *testing.T) {
	f, err := os.Open("testdata/expressions.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		src, want, ok := strings.Cut(text, " => ")
		if !ok {
			t.Fatalf("line %d: no ' => ' in %q", line, text)
		}
		n++
		quoted, _ := json.Marshal("${" + src + "}")
		wf, err := Load([]byte(`[
			{"init": {"assign": [{"m": {"a": 1, "b": {"c": [10, 20]}}}, {"l": [1, 2, 3]}, {"s": "héllo"}]}},
			{"r": {"return": ` + string(quoted) + `}}]`))
		if err != nil {
			t.Errorf("line %d: %s: load: %v", line, src, err)
			continue
		}
		got, err := wf.Run(context.Background(), nil, Config{})
		if tag, isErr := strings.CutPrefix(want, "!"); isErr {
			we, ok := err.(*Error)
			if !ok || !hasTag(we.Value, tag) {
				t.Errorf("line %d: %s = %v, %v; want %s", line, src, got, err, tag)
			}
			continue
		}
		if err != nil {
			t.Errorf("line %d: %s: %v", line, src, err)
			continue
		}
		if !sameJSON(mustJSON(t, want), got) {
			t.Errorf("line %d: %s = %s, want %s", line, src, canon(t, got), want)
		}
	}
	if n < 50 {
		t.Fatalf("only %d expression cases read", n)
	}
}
