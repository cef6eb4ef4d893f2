// Package console is the web console served at /console/: a Queues page
// (every project and location), a page per queue and a page per task, with
// actions (create, pause, resume, purge and delete queues; create, run and
// delete tasks).
//
// Pages are rendered on the server with html/template; the stylesheet and
// one small script are embedded with go:embed, so the console works offline
// and needs no build step. Every form works without JavaScript (post, then
// redirect back: the browser's back button and reload stay harmless); the
// script adds confirmations, local-time schedule input, and live updates.
//
// Live updates poll: once a second the script fetches the page it shows and
// morphs each region marked data-live in place, node by node, keyed by id.
// Nodes that did not change are left alone, so focus, scroll position, open
// details and anything typed in a form survive, and numbers are laid out in
// fixed-width cells so that a refresh never moves the page.
//
// The console acts only through the Cloud Tasks API (a
// cloudtaskspb.CloudTasksServer), with the context Config.Authenticate
// gives the request, so it can do exactly what the signed-in principal may
// do. When Authenticate is set, the console asks for a token and keeps it
// in an HttpOnly, SameSite=Strict cookie scoped to /console/. Every POST is
// checked twice against cross-site requests: Go's CrossOriginProtection
// (Sec-Fetch-Site and Origin), and a double-submit token (a random cookie
// that each form repeats in a hidden field).
//
// Per-queue live numbers come from Config.Metrics (internal/metrics keeps
// them in memory). What the API gives cheaply fills in the rest: due now
// and the oldest task's age are counted from one small ListTasks page per
// queue (50 tasks on the Queues page, 1000 on a queue's page), shared by
// every viewer for a second; when a queue holds more tasks than that page,
// they show as lower bounds ("≥").
package console
