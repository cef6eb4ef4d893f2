// Package workflowsdir deploys a folder of workflow definitions and keeps
// the deployments following the folder: the developer loop of `opentasks
// serve --workflows-dir DIR`.
//
// Every *.yaml, *.yml and *.json file directly in the folder is a workflow
// named after the file, lower-cased ("Orders.yaml" is workflow "orders").
// Files are deployed through the Workflows API (a
// workflowspb.WorkflowsServer), never the store, so a deploy from a file
// is checked, versioned and logged exactly as one from a client: a changed
// source makes a new revision, an unchanged one none, and executions keep
// the revision they started with. A name that is not a valid workflow ID,
// or a definition the API refuses, is logged as FILE:LINE: message and
// skipped; what was deployed before from that file keeps serving.
//
// Deploys carry the label managed-by=opentasks-workflows-dir. A workflow
// with that label whose file is gone is deleted, at start too (the file
// may have been deleted while the server was down); workflows deployed
// otherwise are never deleted, but a file of the same name takes them
// over.
//
// The folder is watched with fsnotify. Editors save in bursts (write to a
// temporary file and rename it into place; or truncate, then write in
// pieces), so events only mark names dirty, and a flush runs once the
// folder has been quiet for Config.Debounce. A flush looks at what each
// dirty name's files are now, not at the events, so any order of events
// ends in the same state. One goroutine does all of it; Config.Applied
// hears each outcome, which is what tests wait on.
package workflowsdir
