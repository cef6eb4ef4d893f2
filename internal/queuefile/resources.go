package queuefile

import (
	"encoding/json"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"google.golang.org/protobuf/encoding/protojson"
)

// resourcePaths are the fields a Queue resource controls: all the mutable
// ones, so that a field left out of the file returns to its default.
func resourcePaths() []string {
	return []string{
		"rate_limits",
		"retry_config",
		"app_engine_routing_override",
		"stackdriver_logging_config",
		"http_target",
	}
}

// resources reads a list of Queue resources.
func (p *fileParser) resources(list ast.Node) ([]Decl, error) {
	seq, ok := list.(*ast.SequenceNode)
	if !ok {
		return nil, p.errf(list, "queues: must be a list of Queue resources")
	}
	var decls []Decl
	seen := map[string]string{}
	for _, item := range seq.Values {
		item = unwrap(item)
		var v any
		if err := yaml.NodeToValue(item, &v); err != nil {
			return nil, p.errf(item, "%v", err)
		}
		if _, ok := v.(map[string]any); !ok {
			return nil, p.errf(item, "each queue must be a Queue resource (a mapping with a name)")
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, p.errf(item, "cannot read this queue: %v", err)
		}
		q := &cloudtaskspb.Queue{}
		if err := protojson.Unmarshal(b, q); err != nil {
			return nil, p.errf(p.badField(item), "not a Cloud Tasks Queue: %v", err)
		}
		if q.Name == "" {
			return nil, p.errf(item, "queue without a name (want projects/P/locations/L/queues/Q)")
		}
		if prev, dup := seen[q.Name]; dup {
			return nil, p.errf(item, "queue %q is already declared at %s", q.Name, prev)
		}
		d := Decl{Queue: q, Paths: resourcePaths(), State: q.State, Source: p.source(item)}
		// Output-only fields are the server's; purge_time is ignored.
		q.State, q.PurgeTime = cloudtaskspb.Queue_STATE_UNSPECIFIED, nil
		seen[q.Name] = d.Source
		decls = append(decls, d)
	}
	return decls, nil
}

// badField finds the top-level key of a Queue item that protojson rejects,
// so that the error points at its line rather than the item's; it returns
// the item when no single key is at fault.
func (p *fileParser) badField(item ast.Node) ast.Node {
	m, ok := item.(*ast.MappingNode)
	if !ok {
		return item
	}
	for _, kv := range m.Values {
		var v any
		if err := yaml.NodeToValue(kv.Value, &v); err != nil {
			return kv.Key
		}
		b, err := json.Marshal(map[string]any{kv.Key.GetToken().Value: v})
		if err != nil || protojson.Unmarshal(b, &cloudtaskspb.Queue{}) != nil {
			return kv.Key
		}
	}
	return item
}
