package workflows

import (
	"fmt"
	"strings"
	"sync"
	"unicode"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/genproto/googleapis/api/annotations"
	locationpb "google.golang.org/genproto/googleapis/cloud/location"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// connectorMethod is one googleapis.* connector function, derived from a
// google.api.http rule of an API's descriptors.
type connectorMethod struct {
	name     string
	verb     string // HTTP method
	segments []templateSeg
	suffix   string   // custom verb, with its colon (":run")
	query    []string // query parameter argument names (JSON names)
	body     bool     // whether the `body` argument is sent
	// longRunning methods wait for the Execution they start to finish
	// (Workflow Executions' create), up to the one-year connector limit.
	longRunning bool
	// helper is the Workflows-only run method, which has no REST rule.
	helper bool
}

// templateSeg is a literal path segment or a variable with its pattern.
type templateSeg struct {
	literal string
	arg     string   // argument name (JSON name of the field's last component)
	pattern []string // pattern segments; "*" one segment, "**" the rest
}

// connectorAPI is an API whose REST methods are connectors.
type connectorAPI struct {
	prefix  string // googleapis.API.VERSION.
	version string // first path segment of its URLs
	service protoreflect.ServiceDescriptor
}

const (
	cloudTasksPrefix = "googleapis.cloudtasks.v2."
	executionsPrefix = "googleapis.workflowexecutions.v1.projects.locations.workflows.executions."
	executionsRun    = executionsPrefix + "run"
	executionsCreate = executionsPrefix + "create"
)

// connectorMethods maps connector names to methods. It is built once from
// the descriptors: every RPC of google.cloud.tasks.v2.CloudTasks and of
// google.cloud.workflows.executions.v1.Executions with its HttpRule, the
// two Cloud Tasks Locations methods, whose rules are not in the Go
// descriptors and are written here as the spec's table gives them, and
// the Workflow Executions run helper.
var connectorMethods = sync.OnceValue(func() map[string]*connectorMethod {
	out := map[string]*connectorMethod{}
	tasks := connectorAPI{cloudTasksPrefix, "v2", cloudtaskspb.File_google_cloud_tasks_v2_cloudtasks_proto.Services().ByName("CloudTasks")}
	executions := connectorAPI{"googleapis.workflowexecutions.v1.", "v1", executionspb.File_google_cloud_workflows_executions_v1_executions_proto.Services().ByName("Executions")}
	for _, api := range []connectorAPI{tasks, executions} {
		for i := 0; i < api.service.Methods().Len(); i++ {
			md := api.service.Methods().Get(i)
			rule, ok := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
			if !ok || rule == nil {
				continue
			}
			if m, err := api.deriveMethod(string(md.Name()), md.Input(), rule); err == nil {
				out[m.name] = m
			}
		}
	}
	locations := []struct {
		rpc  string
		msg  proto.Message
		rule *annotations.HttpRule
	}{
		{"GetLocation", &locationpb.GetLocationRequest{}, &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v2/{name=projects/*/locations/*}"}}},
		{"ListLocations", &locationpb.ListLocationsRequest{}, &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v2/{name=projects/*}/locations"}}},
	}
	for _, l := range locations {
		if m, err := tasks.deriveMethod(l.rpc, l.msg.ProtoReflect().Descriptor(), l.rule); err == nil {
			out[m.name] = m
		}
	}
	if m := out[executionsCreate]; m != nil {
		m.longRunning = true
	}
	out[executionsRun] = &connectorMethod{name: executionsRun, helper: true, longRunning: true}
	return out
})

func ruleVerbPath(rule *annotations.HttpRule) (string, string) {
	switch p := rule.Pattern.(type) {
	case *annotations.HttpRule_Get:
		return "GET", p.Get
	case *annotations.HttpRule_Post:
		return "POST", p.Post
	case *annotations.HttpRule_Patch:
		return "PATCH", p.Patch
	case *annotations.HttpRule_Put:
		return "PUT", p.Put
	case *annotations.HttpRule_Delete:
		return "DELETE", p.Delete
	}
	return "", ""
}

// deriveMethod applies the discovery naming rule: the connector name is
// the API, the version, the resource path (the literal segments of the
// URL template after the version) and the method key: the custom verb if
// there is one, else the standard method the HTTP verb and URL shape
// imply (get/list/create/patch/update/delete). A singleton resource
// (template ending in a literal inside the variable, e.g. cmekConfig)
// takes the RPC name instead, as discovery does (getCmekConfig).
func (api connectorAPI) deriveMethod(rpc string, input protoreflect.MessageDescriptor, rule *annotations.HttpRule) (*connectorMethod, error) {
	verb, path := ruleVerbPath(rule)
	if verb == "" {
		return nil, fmt.Errorf("%s: unsupported http rule", rpc)
	}
	m := &connectorMethod{verb: verb, body: rule.Body != ""}
	segs, suffix, err := parseTemplate(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rpc, err)
	}
	m.suffix = suffix
	var literals []string
	pathFields := map[string]bool{}
	endsInLiteralPattern := false
	for i := range segs {
		s := &segs[i]
		if s.arg == "" {
			literals = append(literals, s.literal)
			continue
		}
		field := s.arg
		top := strings.Split(field, ".")[0]
		pathFields[top] = true
		s.arg = jsonNameOf(input, field)
		for _, p := range s.pattern {
			if p != "*" && p != "**" {
				literals = append(literals, p)
			}
		}
		last := s.pattern[len(s.pattern)-1]
		endsInLiteralPattern = i == len(segs)-1 && last != "*" && last != "**"
	}
	m.segments = segs
	if len(literals) == 0 || literals[0] != api.version {
		return nil, fmt.Errorf("%s: path %q is not under /%s", rpc, path, api.version)
	}
	resources := literals[1:]
	var method string
	switch {
	case suffix != "":
		method = suffix[1:]
	case endsInLiteralPattern:
		resources = resources[:len(resources)-1]
		method = lowerFirst(rpc)
	default:
		method = map[string]string{"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}[verb]
		if verb == "GET" {
			method = "get"
			if segs[len(segs)-1].arg == "" {
				method = "list"
			}
		}
	}
	m.name = api.prefix + strings.Join(append(resources, method), ".")
	if rule.Body != "*" {
		fields := input.Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			if pathFields[string(fd.Name())] || string(fd.Name()) == rule.Body || !queryable(fd) {
				continue
			}
			m.query = append(m.query, fd.JSONName())
		}
	}
	return m, nil
}

// queryable reports whether a field can travel in the query string.
func queryable(fd protoreflect.FieldDescriptor) bool {
	if fd.IsMap() {
		return false
	}
	if fd.Kind() != protoreflect.MessageKind {
		return true
	}
	switch fd.Message().FullName() {
	case "google.protobuf.FieldMask", "google.protobuf.Duration", "google.protobuf.Timestamp":
		return true
	}
	return false
}

// jsonNameOf maps a field path (queue.name, task_id) to the argument name:
// the JSON name of its last component.
func jsonNameOf(msg protoreflect.MessageDescriptor, path string) string {
	parts := strings.Split(path, ".")
	var fd protoreflect.FieldDescriptor
	for _, p := range parts {
		if msg == nil {
			break
		}
		fd = msg.Fields().ByName(protoreflect.Name(p))
		if fd == nil {
			break
		}
		msg = fd.Message()
	}
	if fd == nil {
		return parts[len(parts)-1]
	}
	return fd.JSONName()
}

func lowerFirst(s string) string {
	r := []rune(s)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}

// parseTemplate parses an HttpRule path template such as
// /v2/{name=projects/*/locations/*/queues/*}:run.
func parseTemplate(path string) ([]templateSeg, string, error) {
	suffix := ""
	if i := strings.LastIndex(path, ":"); i > strings.LastIndex(path, "}") {
		path, suffix = path[:i], path[i:]
	}
	var segs []templateSeg
	rest := strings.TrimPrefix(path, "/")
	for rest != "" {
		if rest[0] == '{' {
			end := strings.Index(rest, "}")
			if end < 0 {
				return nil, "", fmt.Errorf("unterminated variable in %q", path)
			}
			field, pattern, found := strings.Cut(rest[1:end], "=")
			if !found {
				pattern = "*"
			}
			segs = append(segs, templateSeg{arg: field, pattern: strings.Split(pattern, "/")})
			rest = rest[end+1:]
		} else {
			lit, _, _ := strings.Cut(rest, "/")
			segs = append(segs, templateSeg{literal: lit})
			rest = rest[len(lit):]
		}
		rest = strings.TrimPrefix(rest, "/")
	}
	return segs, suffix, nil
}
