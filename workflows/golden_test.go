package workflows

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock records sleeps instead of sleeping and advances its time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func (c *fakeClock) seconds() []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []any{}
	for _, d := range c.sleeps {
		out = append(out, d.Seconds())
	}
	return out
}

// header reads "# key: value" lines at the top of a golden file.
func header(t *testing.T, path string) map[string]string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			break
		}
		if k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ":"); ok {
			h[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return h
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	v, err := DecodeJSON([]byte(s))
	if err != nil {
		t.Fatalf("bad JSON %q in test data: %v", s, err)
	}
	return v
}

func canon(t *testing.T, v any) string {
	t.Helper()
	b, err := EncodeJSON(v)
	if err != nil {
		t.Fatalf("cannot encode %v: %v", v, err)
	}
	return string(b)
}

// subset reports whether every key of want is in got with an equal value
// (integers and doubles kept apart).
func subset(want, got any) bool {
	wm, ok := want.(map[string]any)
	if !ok {
		return sameJSON(want, got)
	}
	gm, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, wv := range wm {
		gv, ok := gm[k]
		if !ok || !subset(wv, gv) {
			return false
		}
	}
	return true
}

func sameJSON(a, b any) bool {
	x, err1 := EncodeJSON(a)
	y, err2 := EncodeJSON(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// TestStepGoldens runs every workflow in testdata/steps. Expectations sit
// in the header of the YAML file and come from the spec's documentation;
// a .json file is the twin of the .yaml file with the same name and must
// behave identically.
func TestStepGoldens(t *testing.T) {
	files, err := filepath.Glob("testdata/steps/*.*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			yamlFile := strings.TrimSuffix(file, filepath.Ext(file)) + ".yaml"
			h := header(t, yamlFile)
			if h["want"] == "" && h["error"] == "" {
				t.Fatalf("%s has neither want nor error", yamlFile)
			}
			wf, err := LoadFile(file)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			var arg any
			if a := h["args"]; a != "" {
				arg = mustJSON(t, a)
			}
			env := map[string]string{}
			if e := h["env"]; e != "" {
				for k, v := range mustJSON(t, e).(map[string]any) {
					env[k] = v.(string)
				}
			}
			clock := newFakeClock()
			var log bytes.Buffer
			got, err := wf.Run(context.Background(), arg, Config{Env: env, Now: clock.Now, Sleep: clock.Sleep, Log: &log})
			if w := h["want"]; w != "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if !sameJSON(mustJSON(t, w), got) {
					t.Errorf("result = %s, want %s", canon(t, got), w)
				}
			}
			if w := h["error"]; w != "" {
				we, ok := err.(*Error)
				if !ok {
					t.Fatalf("error = %v (result %v), want workflow error %s", err, got, w)
				}
				if !subset(mustJSON(t, w), we.Value) {
					t.Errorf("error = %s, want (subset) %s", canon(t, we.Value), w)
				}
				if at := h["at"]; at != "" && we.Context() != at {
					t.Errorf("error location = %s, want %s", we.Context(), at)
				}
			}
			if s := h["sleeps"]; s != "" && !sameJSON(mustJSON(t, s), clock.seconds()) {
				t.Errorf("sleeps = %v, want %s", clock.seconds(), s)
			}
			if l := h["log"]; l != "" && !strings.Contains(log.String(), l) {
				t.Errorf("log = %q, want it to contain %q", log.String(), l)
			}
		})
	}
}

// TestLoadErrors checks that each file in testdata/invalid is rejected with
// a message naming the problem, the step and the line.
func TestLoadErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			want := header(t, file)["load-error"]
			if want == "" {
				t.Fatal("missing load-error header")
			}
			_, err := LoadFile(file)
			if err == nil {
				t.Fatalf("loaded without error, want %q", want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error = %q, want it to contain %q", err, want)
			}
		})
	}
}
