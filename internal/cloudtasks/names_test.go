package cloudtasks

import (
	"regexp"
	"strings"
	"testing"
)

// TestIDGrammarsMatchTheSpecRegexps: each hand-written ID check accepts
// exactly what the spec's regular expression does.
func TestIDGrammarsMatchTheSpecRegexps(t *testing.T) {
	cases := []struct {
		name string
		g    idGrammar
		re   string
	}{
		{"project", projectIDRe, `^[A-Za-z0-9\-:.]{1,100}$`},
		{"location", locationIDRe, `^[a-z0-9]+(-[a-z0-9]+)*$`},
		{"queue", queueIDRe, `^[A-Za-z0-9-]{1,100}$`},
		{"task", taskIDRe, `^[A-Za-z0-9_-]{1,500}$`},
		{"operation", operationIDRe, `^[A-Za-z0-9_-]{1,100}$`},
	}
	inputs := []string{"", "a", "A", "0", "-", "_", ".", ":", "a-b", "a--b", "-a", "a-", "A-b",
		"us-central1", "my_task", "x.y:z", "a b", "a/b", "é", "a\n", "\na",
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 100),
		strings.Repeat("a", 101), strings.Repeat("a", 500), strings.Repeat("a", 501)}
	for _, c := range cases {
		re := regexp.MustCompile(c.re)
		for _, in := range inputs {
			want := re.MatchString(in)
			if c.name == "location" && len(in) > 63 {
				want = false // parseLocation's separate bound, folded into the grammar
			}
			if got := c.g.MatchString(in); got != want {
				t.Errorf("%s %q: got %v, want %v", c.name, in, got, want)
			}
		}
	}
}
