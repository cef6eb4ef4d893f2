package main

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/opentasks/opentasks/internal/queuefile"
)

// composeFile is the part of the Compose format the examples rely on.
type composeFile struct {
	Services map[string]struct {
		Image       string
		Build       struct{ Context string }
		Command     []string
		Environment map[string]string
		Volumes     []string
		Ports       []string
		Healthcheck struct{ Test []string }
		DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
	}
	Volumes map[string]any
}

func readCompose(t *testing.T, file string) composeFile {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return c
}

// checkNode checks one OpenTasks service: built from the repository's
// Dockerfile, declaring its queues from a mounted file that parses, and
// health-checked by the binary.
func checkNode(t *testing.T, docs, name string, c composeFile) {
	t.Helper()
	s, ok := c.Services[name]
	if !ok {
		t.Fatalf("no service %q", name)
	}
	if _, err := os.Stat(filepath.Join(docs, s.Build.Context, "Dockerfile")); err != nil {
		t.Errorf("%s: build context %q has no Dockerfile: %v", name, s.Build.Context, err)
	}
	i := slices.Index(s.Command, "--queues")
	if s.Command[0] != "serve" || i < 0 || i+1 >= len(s.Command) {
		t.Fatalf("%s: command %q does not serve with --queues", name, s.Command)
	}
	var mounted bool
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == s.Command[i+1] {
			mounted = true
			if _, err := queuefile.ReadFile(filepath.Join(docs, parts[0]), queuefile.DefaultParent); err != nil {
				t.Errorf("%s: the mounted queue file: %v", name, err)
			}
		}
	}
	if !mounted {
		t.Errorf("%s: %s is not mounted (volumes %q)", name, s.Command[i+1], s.Volumes)
	}
	if !slices.Equal(s.Healthcheck.Test, []string{"CMD", "/opentasks", "healthcheck"}) {
		t.Errorf("%s: healthcheck %q", name, s.Healthcheck.Test)
	}
	if s.Environment["OPENTASKS_ADDR"] != "0.0.0.0:8123" {
		t.Errorf("%s: OPENTASKS_ADDR %q: other containers could not reach it", name, s.Environment["OPENTASKS_ADDR"])
	}
}

// TestComposeFiles: the compose examples parse and hold together.
func TestComposeFiles(t *testing.T) {
	docs := filepath.Join("..", "..", "docs")
	c := readCompose(t, filepath.Join(docs, "docker-compose.yaml"))
	checkNode(t, docs, "opentasks", c)
	if _, ok := c.Services["app"]; !ok {
		t.Error("no app service")
	}
	// The SQLite store is on a named volume, declared at the top.
	store := strings.TrimPrefix(c.Services["opentasks"].Environment["OPENTASKS_STORE"], "sqlite:")
	var onVolume bool
	for _, v := range c.Services["opentasks"].Volumes {
		parts := strings.Split(v, ":")
		if _, declared := c.Volumes[parts[0]]; declared && len(parts) >= 2 && path.Dir(store) == parts[1] {
			onVolume = true
		}
	}
	if !onVolume {
		t.Errorf("store %q is not on a declared volume: %q", store, c.Services["opentasks"].Volumes)
	}

	pg := readCompose(t, filepath.Join(docs, "docker-compose.postgres.yaml"))
	var ports []string
	for _, n := range []string{"opentasks-1", "opentasks-2"} {
		checkNode(t, docs, n, pg)
		s := pg.Services[n]
		if !strings.HasPrefix(s.Environment["OPENTASKS_STORE"], "postgres://") || !strings.Contains(s.Environment["OPENTASKS_STORE"], "@postgres:5432/") {
			t.Errorf("%s: store %q is not the postgres service", n, s.Environment["OPENTASKS_STORE"])
		}
		if s.DependsOn["postgres"].Condition != "service_healthy" {
			t.Errorf("%s: does not wait for postgres: %v", n, s.DependsOn)
		}
		ports = append(ports, s.Ports...)
	}
	if pg.Services["opentasks-1"].Environment["OPENTASKS_STORE"] != pg.Services["opentasks-2"].Environment["OPENTASKS_STORE"] {
		t.Error("the two nodes use different databases")
	}
	if len(ports) != 2 || ports[0] == ports[1] {
		t.Errorf("host ports %q", ports)
	}
	if len(pg.Services["postgres"].Healthcheck.Test) == 0 {
		t.Error("postgres has no healthcheck for depends_on to wait on")
	}
}

// TestDockerfile: the image's promises, read from the Dockerfile: a
// static (cgo-free) build, an empty base, a non-root user, and the
// binary's own healthcheck.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var user, health, entry string
	var static bool
	var cont string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		if cont != "" {
			line = cont + " " + line
			cont = ""
		}
		if l, ok := strings.CutSuffix(line, "\\"); ok {
			cont = l
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		switch word {
		case "FROM":
			froms = append(froms, rest)
		case "USER":
			user = rest
		case "HEALTHCHECK":
			health = rest
		case "ENTRYPOINT":
			entry = rest
		case "RUN":
			if strings.Contains(rest, "CGO_ENABLED=0 go build") {
				static = true
			}
		}
	}
	if len(froms) < 2 || froms[len(froms)-1] != "scratch" {
		t.Errorf("final stage %q: want scratch (no shell)", froms)
	}
	if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("USER %q: want a non-root user", user)
	}
	if !strings.HasSuffix(health, `CMD ["/opentasks", "healthcheck"]`) {
		t.Errorf("HEALTHCHECK %q", health)
	}
	if entry != `["/opentasks"]` || !static {
		t.Errorf("ENTRYPOINT %q, static build %v", entry, static)
	}
}
