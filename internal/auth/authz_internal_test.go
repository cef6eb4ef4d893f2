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
	} {
		got, ok := queueOf(resource)
		if got != want || ok != (want != "") {
			t.Errorf("queueOf(%q) = %q, %v; want %q", resource, got, ok, want)
		}
	}
}

// TestRoleTable checks the role table against IAM_SPEC §2, row by row.
func TestRoleTable(t *testing.T) {
	count := map[string]int{
		"roles/cloudtasks.admin": 21, "roles/cloudtasks.editor": 18, "roles/cloudtasks.viewer": 9,
		"roles/cloudtasks.queueAdmin": 12, "roles/cloudtasks.enqueuer": 3, "roles/cloudtasks.taskRunner": 2,
		"roles/cloudtasks.taskDeleter": 1, "roles/owner": 22, "roles/editor": 19, "roles/viewer": 9,
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
	} {
		if roleGrants(c.role, c.perm) != c.has {
			t.Errorf("%s grants %s: %v; want %v", c.role, c.perm, !c.has, c.has)
		}
	}
}
