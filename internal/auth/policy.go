package auth

import (
	"fmt"
	"strings"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/protobuf/encoding/protojson"
)

// memberPrefixes are the member forms of google/iam/v1/policy.proto
// (IAM_SPEC §5); allUsers and allAuthenticatedUsers stand alone.
var memberPrefixes = []string{"user:", "serviceAccount:", "group:", "domain:", "principal://", "principalSet://", "deleted:"}

// ValidatePolicy checks what OpenTasks can enforce: known roles, members
// in one of IAM's forms, each binding with a member, and no conditions
// (evaluating CEL is not supported; IAM_SPEC §3 infers queues take none).
func ValidatePolicy(p *iampb.Policy) error {
	members := 0
	for _, b := range p.GetBindings() {
		if !KnownRole(b.GetRole()) {
			return fmt.Errorf("Role %s is not supported for this resource.", b.GetRole())
		}
		if b.GetCondition() != nil {
			return fmt.Errorf("Conditional role bindings are not supported: the binding for %s has a condition.", b.GetRole())
		}
		if len(b.GetMembers()) == 0 {
			return fmt.Errorf("The binding for %s has no members.", b.GetRole())
		}
		for _, m := range b.GetMembers() {
			if !validMember(m) {
				return fmt.Errorf("Invalid principal %q in the binding for %s.", m, b.GetRole())
			}
		}
		members += len(b.GetMembers())
	}
	if members > 1500 {
		return fmt.Errorf("The policy has %d principals; at most 1500 are allowed.", members)
	}
	return nil
}

func validMember(m string) bool {
	if m == "allUsers" || m == "allAuthenticatedUsers" {
		return true
	}
	for _, p := range memberPrefixes {
		if rest, ok := strings.CutPrefix(m, p); ok && rest != "" {
			return true
		}
	}
	return false
}

// ParsePolicy reads a google.iam.v1.Policy in JSON (what gcloud's
// get-iam-policy --format=json writes) and validates it.
func ParsePolicy(b []byte) (*iampb.Policy, error) {
	p := &iampb.Policy{}
	if err := protojson.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("parsing IAM policy: %w", err)
	}
	if err := ValidatePolicy(p); err != nil {
		return nil, fmt.Errorf("IAM policy: %w", err)
	}
	return p, nil
}

// OwnerPolicy grants roles/owner to every authenticated caller: the
// project policy when only authentication is configured.
func OwnerPolicy() *iampb.Policy {
	return &iampb.Policy{Bindings: []*iampb.Binding{{Role: "roles/owner", Members: []string{"allAuthenticatedUsers"}}}}
}

// grants reports whether p gives perm to who.
func grants(p *iampb.Policy, who Principal, perm string) bool {
	for _, b := range p.GetBindings() {
		if b.GetCondition() != nil || !roleGrants(b.GetRole(), perm) {
			continue
		}
		for _, m := range b.GetMembers() {
			if who.matches(m) {
				return true
			}
		}
	}
	return false
}
