package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Callbacks is the registry behind events.create_callback_endpoint and
// events.await_callback. An execution is named by its resource name
// (projects/P/locations/L/workflows/W/executions/E); a callback by its URL.
// MemoryCallbacks is the implementation a single process uses.
type Callbacks interface {
	// Create registers an endpoint of the execution that accepts method
	// and returns its URL.
	Create(ctx context.Context, execution, method string) (url string, err error)
	// Await returns the oldest request received at url that no await has
	// taken, waiting for one until ctx is done. It returns
	// ErrUnknownCallback when url is not an endpoint of the execution.
	Await(ctx context.Context, execution, url string) (request map[string]any, err error)
	// Release forgets the execution's endpoints; it ends when its run does.
	Release(execution string)
}

// ErrUnknownCallback is returned by Await for a URL that is not an
// endpoint of the awaiting execution.
var ErrUnknownCallback = errors.New("not a callback endpoint of this execution")

// callbackMethods are the HTTP methods a callback endpoint may accept.
var callbackMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"}

// maxCallbackBody bounds a callback request's body: the 512 KB Workflows
// allows for variables.
const maxCallbackBody = 512 << 10

// maxPendingPayloads bounds the requests an endpoint keeps for awaits to
// come, so that a sender cannot fill the memory of a server whose
// workflow never awaits; past it a request gets 429.
const maxPendingPayloads = 100

// MemoryCallbacks keeps callback endpoints in memory and serves them over
// HTTP at BASE/callbacks/NAME, where NAME is the callback's resource name
// (projects/P/locations/L/workflows/W/executions/E/callbacks/ID). Requests
// that arrive before an await wait in order, as Cloud Workflows' available
// payloads do; each await takes the oldest.
type MemoryCallbacks struct {
	base string
	now  func() time.Time

	mu        sync.Mutex
	endpoints map[string]*endpoint // by callback name
}

type endpoint struct {
	execution, method string
	payloads          []map[string]any
	waiters           []chan map[string]any
}

// NewMemoryCallbacks returns a registry whose URLs start with baseURL
// (http://HOST:PORT, where its handler is served).
func NewMemoryCallbacks(baseURL string) *MemoryCallbacks {
	return &MemoryCallbacks{base: strings.TrimRight(baseURL, "/"), now: time.Now, endpoints: map[string]*endpoint{}}
}

// Create implements Callbacks.
func (m *MemoryCallbacks) Create(_ context.Context, execution, method string) (string, error) {
	name := execution + "/callbacks/" + newUUID()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.endpoints[name] = &endpoint{execution: execution, method: method}
	return m.base + "/callbacks/" + name, nil
}

// nameOf extracts the callback name from a URL or a request path: ours
// (/callbacks/NAME) or the Executions API's sendHttpCallback (/v1/NAME).
func nameOf(s string) string {
	if i := strings.Index(s, "/callbacks/projects/"); i >= 0 {
		return s[i+len("/callbacks/"):]
	}
	if rest, ok := strings.CutPrefix(s, "/v1/"); ok && strings.HasPrefix(rest, "projects/") {
		return rest
	}
	return ""
}

// Await implements Callbacks.
func (m *MemoryCallbacks) Await(ctx context.Context, execution, url string) (map[string]any, error) {
	name := nameOf(url)
	m.mu.Lock()
	ep := m.endpoints[name]
	if ep == nil || ep.execution != execution || url != m.base+"/callbacks/"+name {
		m.mu.Unlock()
		return nil, ErrUnknownCallback
	}
	if len(ep.payloads) > 0 {
		req := ep.payloads[0]
		ep.payloads = ep.payloads[1:]
		m.mu.Unlock()
		return req, nil
	}
	ch := make(chan map[string]any, 1)
	ep.waiters = append(ep.waiters, ch)
	m.mu.Unlock()
	select {
	case req := <-ch:
		return req, nil
	case <-ctx.Done():
		m.mu.Lock()
		ep.waiters = slices.DeleteFunc(ep.waiters, func(c chan map[string]any) bool { return c == ch })
		m.mu.Unlock()
		select {
		case req := <-ch: // delivered before the waiter was removed
			return req, nil
		default:
			return nil, ctx.Err()
		}
	}
}

// Release implements Callbacks.
func (m *MemoryCallbacks) Release(execution string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, ep := range m.endpoints {
		if ep.execution == execution {
			delete(m.endpoints, name)
		}
	}
}

// CallbackInfo describes a live endpoint, as the Executions API's
// ListCallbacks reports it.
type CallbackInfo struct {
	Name              string   // projects/P/locations/L/workflows/W/executions/E/callbacks/ID
	Method            string   // the HTTP method it accepts
	AvailablePayloads []string // received and not yet awaited, as JSON
	Waiters           int64    // awaits waiting on it
}

// List returns the execution's live endpoints ordered by name.
func (m *MemoryCallbacks) List(execution string) []CallbackInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []CallbackInfo
	for name, ep := range m.endpoints {
		if ep.execution != execution {
			continue
		}
		info := CallbackInfo{Name: name, Method: ep.method, Waiters: int64(len(ep.waiters))}
		for _, p := range ep.payloads {
			b, _ := EncodeJSON(p) // a received request is plain JSON values
			info.AvailablePayloads = append(info.AvailablePayloads, string(b))
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b CallbackInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// CallbackRESTPattern is the http.ServeMux pattern of the Executions API's
// sendHttpCallback (/v1/NAME), which ServeHTTP also answers.
const CallbackRESTPattern = "/v1/projects/{p}/locations/{l}/workflows/{w}/executions/{e}/callbacks/{c}"

// ServeHTTP receives a callback request at /callbacks/NAME: 404 for an
// unknown or released endpoint, 405 for another method than the one it
// was created with, 413 for a body over 512 KB, 429 when 100 requests
// already wait for awaits, else an empty 200 and the request is handed to
// the oldest await (or kept for the next one).
func (m *MemoryCallbacks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := nameOf(r.URL.Path)
	m.mu.Lock()
	ep := m.endpoints[name]
	m.mu.Unlock()
	if ep == nil {
		writeCallbackError(w, http.StatusNotFound, "NOT_FOUND", "callback not found: "+r.URL.Path)
		return
	}
	if r.Method != ep.method {
		w.Header().Set("Allow", ep.method)
		writeCallbackError(w, http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "this callback accepts "+ep.method+", not "+r.Method)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxCallbackBody+1))
	if err != nil {
		writeCallbackError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "reading the callback body: "+err.Error())
		return
	}
	if len(data) > maxCallbackBody {
		writeCallbackError(w, http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT", "the callback body is larger than 512 KB")
		return
	}
	req := callbackRequest(r, data, m.now())
	m.mu.Lock()
	ep = m.endpoints[name] // released meanwhile?
	switch {
	case ep == nil:
		m.mu.Unlock()
		writeCallbackError(w, http.StatusNotFound, "NOT_FOUND", "callback not found: "+r.URL.Path)
		return
	case len(ep.waiters) > 0:
		ch := ep.waiters[0]
		ep.waiters = ep.waiters[1:]
		ch <- req
	case len(ep.payloads) >= maxPendingPayloads:
		m.mu.Unlock()
		writeCallbackError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "this callback already holds the most requests not yet awaited")
		return
	default:
		ep.payloads = append(ep.payloads, req)
	}
	m.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func writeCallbackError(w http.ResponseWriter, code int, status, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}

// callbackRequest is the value events.await_callback returns, shaped as
// the callbacks page shows it: {http_request: {body, headers, method,
// query, url}, received_time, type: "HTTP"}. A JSON body arrives decoded
// (the samples read http_request.body.FIELD), other text as a string,
// other bytes as bytes, an empty body as null; query maps each name to
// the list of its values; url is the request path.
func callbackRequest(r *http.Request, data []byte, now time.Time) map[string]any {
	var body any
	if len(data) > 0 {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch v, err := DecodeJSON(data); {
		case (mt == "application/json" || strings.HasSuffix(mt, "+json")) && err == nil:
			body = v
		case utf8.Valid(data):
			body = string(data)
		default:
			body = data
		}
	}
	headers := map[string]any{}
	for k, vs := range r.Header {
		headers[k] = strings.Join(vs, ", ")
	}
	query := map[string]any{}
	for k, vs := range r.URL.Query() {
		list := make([]any, len(vs))
		for i, v := range vs {
			list[i] = v
		}
		query[k] = list
	}
	return map[string]any{
		"http_request": map[string]any{
			"body": body, "headers": headers, "method": r.Method, "query": query, "url": r.URL.Path,
		},
		"received_time": now.UTC().Format(time.RFC3339Nano),
		"type":          "HTTP",
	}
}
