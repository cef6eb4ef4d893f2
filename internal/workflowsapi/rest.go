package workflowsapi

import "google.golang.org/genproto/googleapis/api/annotations"

// MixinRules are the REST bindings workflows_v1.yaml declares for the
// Operations mixin under /v1, which its descriptor does not carry; serve
// them with server.WithRESTRules. The Locations ones
// (/v1/{name=projects/*}/locations, /v1/{name=projects/*/locations/*})
// are in locations.proto's own rules already. Executions declares no
// mixins.
func MixinRules() []*annotations.HttpRule {
	return []*annotations.HttpRule{
		{Selector: "google.longrunning.Operations.DeleteOperation", Pattern: &annotations.HttpRule_Delete{Delete: "/v1/{name=projects/*/locations/*/operations/*}"}},
		{Selector: "google.longrunning.Operations.GetOperation", Pattern: &annotations.HttpRule_Get{Get: "/v1/{name=projects/*/locations/*/operations/*}"}},
		{Selector: "google.longrunning.Operations.ListOperations", Pattern: &annotations.HttpRule_Get{Get: "/v1/{name=projects/*/locations/*}/operations"}},
	}
}
