package auth

import "slices"

// Permissions of Cloud Tasks (IAM_SPEC §2), the ones a queue policy can
// grant, and the one task tokens need (§6).
const (
	PermLocationsGet       = "cloudtasks.locations.get"
	PermLocationsList      = "cloudtasks.locations.list"
	PermCmekGet            = "cloudtasks.cmekConfig.get"
	PermCmekUpdate         = "cloudtasks.cmekConfig.update"
	PermOperationsGet      = "cloudtasks.operations.get"
	PermQueuesCreate       = "cloudtasks.queues.create"
	PermQueuesDelete       = "cloudtasks.queues.delete"
	PermQueuesGet          = "cloudtasks.queues.get"
	PermQueuesGetIamPolicy = "cloudtasks.queues.getIamPolicy"
	PermQueuesList         = "cloudtasks.queues.list"
	PermQueuesPause        = "cloudtasks.queues.pause"
	PermQueuesPurge        = "cloudtasks.queues.purge"
	PermQueuesResume       = "cloudtasks.queues.resume"
	PermQueuesSetIamPolicy = "cloudtasks.queues.setIamPolicy"
	PermQueuesUpdate       = "cloudtasks.queues.update"
	PermTasksCreate        = "cloudtasks.tasks.create"
	PermTasksDelete        = "cloudtasks.tasks.delete"
	PermTasksFullView      = "cloudtasks.tasks.fullView"
	PermTasksGet           = "cloudtasks.tasks.get"
	PermTasksList          = "cloudtasks.tasks.list"
	PermTasksRun           = "cloudtasks.tasks.run"
	PermActAs              = "iam.serviceAccounts.actAs"
)

// queuePermissions are the permissions that mean something on a queue:
// what TestIamPermissions answers about.
var queuePermissions = []string{
	PermQueuesDelete, PermQueuesGet, PermQueuesGetIamPolicy, PermQueuesPause,
	PermQueuesPurge, PermQueuesResume, PermQueuesSetIamPolicy, PermQueuesUpdate,
	PermTasksCreate, PermTasksDelete, PermTasksFullView, PermTasksGet,
	PermTasksList, PermTasksRun,
}

// allTasks is every cloudtasks permission (roles/owner's share).
var allTasks = []string{
	PermCmekGet, PermCmekUpdate, PermLocationsGet, PermLocationsList, PermOperationsGet,
	PermQueuesCreate, PermQueuesDelete, PermQueuesGet, PermQueuesGetIamPolicy, PermQueuesList,
	PermQueuesPause, PermQueuesPurge, PermQueuesResume, PermQueuesSetIamPolicy, PermQueuesUpdate,
	PermTasksCreate, PermTasksDelete, PermTasksFullView, PermTasksGet, PermTasksList, PermTasksRun,
}

func without(all []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(all), func(p string) bool { return slices.Contains(drop, p) })
}

// roles are the predefined roles that carry Cloud Tasks permissions, as
// https://cloud.google.com/iam/docs/roles-permissions/cloudtasks lists
// them, and those that carry Workflows permissions (workflows.go), as
// https://cloud.google.com/iam/docs/roles-permissions/workflows lists
// them (monitoring and resourcemanager permissions left out: OpenTasks
// has nothing they guard). Basic roles also carry actAs in Cloud IAM
// (owner and editor), as does roles/iam.serviceAccountUser.
var roles = func() map[string][]string {
	tasksViewer := []string{PermCmekGet, PermLocationsGet, PermLocationsList, PermOperationsGet,
		PermQueuesGet, PermQueuesList, PermTasksFullView, PermTasksGet, PermTasksList}
	viewer := slices.Concat(tasksViewer, workflowsViewer)
	owner := slices.Concat(allTasks, allWorkflows, []string{PermActAs})
	editor := without(owner, PermQueuesGetIamPolicy, PermQueuesSetIamPolicy, PermCmekUpdate)
	return map[string][]string{
		"roles/cloudtasks.admin":  allTasks,
		"roles/cloudtasks.editor": without(allTasks, PermQueuesGetIamPolicy, PermQueuesSetIamPolicy, PermCmekUpdate),
		"roles/cloudtasks.viewer": tasksViewer,
		"roles/cloudtasks.queueAdmin": {PermLocationsGet, PermLocationsList, PermQueuesCreate, PermQueuesDelete,
			PermQueuesGet, PermQueuesGetIamPolicy, PermQueuesList, PermQueuesPause, PermQueuesPurge,
			PermQueuesResume, PermQueuesSetIamPolicy, PermQueuesUpdate},
		"roles/cloudtasks.enqueuer":    {PermOperationsGet, PermTasksCreate, PermTasksFullView},
		"roles/cloudtasks.taskRunner":  {PermTasksFullView, PermTasksRun},
		"roles/cloudtasks.taskDeleter": {PermTasksDelete},
		"roles/workflows.admin":        allWorkflows,
		"roles/workflows.editor":       allWorkflows,
		"roles/workflows.invoker":      workflowsInvoker,
		"roles/workflows.viewer":       workflowsViewer,
		"roles/owner":                  owner,
		"roles/admin":                  owner,
		"roles/editor":                 editor,
		"roles/writer":                 editor,
		"roles/viewer":                 viewer,
		"roles/reader":                 viewer,
		"roles/iam.serviceAccountUser": {PermActAs},
	}
}()

// roleGrants reports whether role carries perm.
func roleGrants(role, perm string) bool {
	return slices.Contains(roles[role], perm)
}

// KnownRole reports whether role is one OpenTasks knows the permissions of.
func KnownRole(role string) bool {
	_, ok := roles[role]
	return ok
}
