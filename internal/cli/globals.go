package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
)

// DefaultEndpoint is where the CLI finds OpenTasks unless --endpoint or
// $OPENTASKS_ENDPOINT says otherwise.
const DefaultEndpoint = "http://127.0.0.1:8123"

// Defaults for --project and --location: gcloud takes them from its
// configuration or the App Engine app; OpenTasks has neither, so it uses
// the same names as serve's --queues-parent.
const (
	DefaultProject  = "local-project"
	DefaultLocation = "us-central1"
)

// Format is an output format.
type Format string

// The formats --format accepts.
const (
	FormatDefault Format = "" // the command's own: table for lists, YAML for one resource
	FormatTable   Format = "table"
	FormatJSON    Format = "json"
	FormatYAML    Format = "yaml"
)

// Globals are the flags every API command takes.
type Globals struct {
	Project  string
	Location string
	Endpoint string
	// Token is the bearer token for an OpenTasks that requires one
	// ($OPENTASKS_TOKEN; no flag, so that it stays out of process lists).
	Token  string
	Format Format
	// Quiet answers every prompt with its default (-q, --quiet).
	Quiet bool
}

// Register adds the global flags to fs, with defaults from env:
// $OPENTASKS_ENDPOINT, $OPENTASKS_PROJECT (else gcloud's
// $CLOUDSDK_CORE_PROJECT), $OPENTASKS_LOCATION.
func (g *Globals) Register(fs *flag.FlagSet, env Env) {
	fs.StringVar(&g.Project, "project", firstOf(env.Getenv("OPENTASKS_PROJECT"), env.Getenv("CLOUDSDK_CORE_PROJECT"), DefaultProject), "project `ID`")
	fs.StringVar(&g.Location, "location", firstOf(env.Getenv("OPENTASKS_LOCATION"), DefaultLocation), "location `ID` (region)")
	g.Token = env.Getenv("OPENTASKS_TOKEN")
	fs.StringVar(&g.Endpoint, "endpoint", firstOf(env.Getenv("OPENTASKS_ENDPOINT"), DefaultEndpoint), "API `URL`: http://HOST:PORT for OpenTasks, https://cloudtasks.googleapis.com for Cloud Tasks (with Application Default Credentials)")
	fs.Func("format", "output `format`: table, json or yaml", func(v string) error {
		switch f := Format(v); f {
		case FormatTable, FormatJSON, FormatYAML:
			g.Format = f
			return nil
		}
		return fmt.Errorf("format %q: want table, json or yaml", v)
	})
	fs.BoolVar(&g.Quiet, "quiet", false, "do not prompt; take each prompt's default")
	fs.BoolVar(&g.Quiet, "q", false, "same as --quiet")
}

func (g *Globals) check() error {
	if !strings.HasPrefix(g.Endpoint, "http://") && !strings.HasPrefix(g.Endpoint, "https://") {
		return fmt.Errorf("--endpoint %q: want http://HOST:PORT or https://HOST", g.Endpoint)
	}
	return nil
}

// LocationName is projects/P/locations/L of the flags.
func (g *Globals) LocationName() string {
	return "projects/" + g.Project + "/locations/" + g.Location
}

// ClientOptions are the Google client options for the endpoint: the
// token of $OPENTASKS_TOKEN if set (an OpenTasks with --auth-tokens or
// --auth-jwks), else no credentials for plain http (OpenTasks) and
// Application Default Credentials for https.
func (g *Globals) ClientOptions() []option.ClientOption {
	opts := []option.ClientOption{option.WithEndpoint(g.Endpoint)}
	switch {
	case g.Token != "":
		opts = append(opts, option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: g.Token})))
	case strings.HasPrefix(g.Endpoint, "http://"):
		opts = append(opts, option.WithoutAuthentication())
	}
	return opts
}

// TasksClient returns a Cloud Tasks client in REST mode for the endpoint.
func (g *Globals) TasksClient(ctx context.Context) (*cloudtasks.Client, error) {
	c, err := cloudtasks.NewRESTClient(ctx, g.ClientOptions()...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", g.Endpoint, err)
	}
	return c, nil
}

// WithClient runs f with a Cloud Tasks client for the endpoint, closed
// after.
func (c *Call) WithClient(ctx context.Context, f func(*cloudtasks.Client) error) error {
	client, err := c.TasksClient(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	return f(client)
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
