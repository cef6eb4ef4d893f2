package auth

import "testing"

func TestQueueOf(t *testing.T) {
	for resource, want := range map[string]string{
		"projects/p/locations/l/queues/q":                         "projects/p/locations/l/queues/q",
		"projects/p/locations/l/queues/q/tasks/t":                 "projects/p/locations/l/queues/q",
		"projects/p/locations/l":                                  "",
		"projects/p/locations/l/queues/":                          "",
		"projects/p/locations/l/queues/q/tasks/t/queues/other":    "",
		"projects/p/locations/l/queues/q/other/t":                 "",
		"deployer@p.iam.gserviceaccount.com":                      "",
		"projects/p/locations/l/operations/o":                     "",
		"projects/p/locations/l/queues/q1/tasks/x/../../queues/q": "",
		"projects/p/locations/l/workflows/w":                      "",
	} {
		got, ok := queueOf(resource)
		if got != want || ok != (want != "") {
			t.Errorf("queueOf(%q) = %q, %v; want %q", resource, got, ok, want)
		}
	}
}

// TestRoleTable checks the role table against IAM_SPEC §2, row by row,
// and the Workflows roles against Google's role page (roles.go).
func TestRoleTable(t *testing.T) {
	count := map[string]int{
		"roles/cloudtasks.admin": 21, "roles/cloudtasks.editor": 18, "roles/cloudtasks.viewer": 9,
		"roles/cloudtasks.queueAdmin": 12, "roles/cloudtasks.enqueuer": 3, "roles/cloudtasks.taskRunner": 2,
		"roles/cloudtasks.taskDeleter": 1, "roles/owner": 22 + 13, "roles/editor": 19 + 13, "roles/viewer": 9 + 7,
		"roles/workflows.admin": 13, "roles/workflows.editor": 13, "roles/workflows.invoker": 6, "roles/workflows.viewer": 7,
	}
	for role, n := range count {
		if got := len(roles[role]); got != n {
			t.Errorf("%s has %d permissions; want %d", role, got, n)
		}
	}
	for _, c := range []struct {
		role, perm string
		has        bool
	}{
		{"roles/cloudtasks.viewer", PermTasksFullView, true},
		{"roles/cloudtasks.viewer", PermTasksCreate, false},
		{"roles/cloudtasks.enqueuer", PermTasksCreate, true},
		{"roles/cloudtasks.enqueuer", PermTasksList, false},
		{"roles/cloudtasks.taskDeleter", PermTasksFullView, false},
		{"roles/cloudtasks.queueAdmin", PermQueuesSetIamPolicy, true},
		{"roles/cloudtasks.queueAdmin", PermTasksCreate, false},
		{"roles/cloudtasks.editor", PermQueuesGetIamPolicy, false},
		{"roles/editor", PermCmekUpdate, false},
		{"roles/editor", PermActAs, true},
		{"roles/cloudtasks.admin", PermActAs, false},
		{"roles/iam.serviceAccountUser", PermActAs, true},
		{"roles/workflows.invoker", PermExecutionsCreate, true},
		{"roles/workflows.invoker", PermCallbacksSend, true},
		{"roles/workflows.invoker", PermWorkflowsGet, false},
		{"roles/workflows.invoker", PermWorkflowsOperationsGet, false},
		{"roles/workflows.viewer", PermWorkflowsListRevision, true},
		{"roles/workflows.viewer", PermExecutionsCreate, false},
		{"roles/workflows.viewer", PermCallbacksSend, false},
		{"roles/workflows.admin", PermActAs, false},
		{"roles/viewer", PermWorkflowsGet, true},
		{"roles/viewer", PermWorkflowsCreate, false},
		{"roles/editor", PermWorkflowsDelete, true},
	} {
		if roleGrants(c.role, c.perm) != c.has {
			t.Errorf("%s grants %s: %v; want %v", c.role, c.perm, !c.has, c.has)
		}
	}
}

func TestOperationPerms(t *testing.T) {
	for name, want := range map[string]string{
		"projects/p/locations/l/operations/operation-1700000000000-0a1b": PermWorkflowsOperationsGet,
		"projects/p/locations/l/operations/4f2c9e":                       PermOperationsGet,
		"projects/p/locations/l":                                         PermOperationsGet,
	} {
		if got := operationPerms(name); len(got) != 1 || got[0] != want {
			t.Errorf("operationPerms(%q) = %v; want [%s]", name, got, want)
		}
	}
}
