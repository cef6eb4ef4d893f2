package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/opentasks/opentasks/internal/server"
)

// liveHeader marks the script's requests for live updates.
const liveHeader = "X-Console-Live"

// page is what the layout shows around every page.
type page struct {
	Title  string
	Crumbs []crumb
	// Live: the page polls for updates.
	Live bool
	// Flash is a message from the last action; Error one about this
	// request.
	Flash, Error string
	CSRF         string
	AuthOn       bool
	WorkflowsOn  bool
}

type crumb struct{ Name, URL string }

// view is what a page template executes with.
type view struct {
	Page *page
	Data any
}

// render writes the page template name with data; a template error is a
// bug, logged and answered with a plain 500.
func (c *Console) render(w http.ResponseWriter, r *http.Request, code int, name string, p *page, data any) {
	p.CSRF = csrfToken(w, r)
	p.AuthOn = c.cfg.Authenticate != nil
	p.WorkflowsOn = c.cfg.Workflows != nil
	if p.Flash == "" {
		p.Flash = takeFlash(w, r)
	}
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", view{Page: p, Data: data}); err != nil {
		c.cfg.Logger.Error("console: rendering page", "page", name, "err", err)
		http.Error(w, "console: rendering the page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

type errorData struct {
	Message string
	Back    crumb
}

// acted ends an action: the error page when it failed, else its message on
// the next page and a redirect there.
func (c *Console) acted(w http.ResponseWriter, r *http.Request, err error, msg, back string, from crumb) {
	if err != nil {
		c.apiError(w, r, strings.TrimSuffix(msg, ".")+" failed", err, from)
		return
	}
	flash(w, r, msg)
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// apiError answers a failed API call: the sign-in page for an unaccepted
// principal, otherwise an error page with the API's message and the HTTP
// status of its code.
func (c *Console) apiError(w http.ResponseWriter, r *http.Request, doing string, err error, back crumb) {
	st, _ := status.FromError(err)
	if st.Code() == codes.Unauthenticated && c.cfg.Authenticate != nil {
		c.toLogin(w, r, st.Message())
		return
	}
	if errors.Is(err, context.Canceled) {
		return // the browser went away
	}
	c.render(w, r, server.HTTPStatus(st.Code()), "error", &page{Title: "Error"}, errorData{Message: doing + ": " + st.Message(), Back: back})
}

// httpStatusOf is the HTTP status for an API error.
func httpStatusOf(err error) int {
	return server.HTTPStatus(status.Code(err))
}

// errMessage is the message of an API error, without its code.
func errMessage(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}

// assets serves the embedded static files; their URLs carry a hash of
// their content, so browsers may cache them for good.
type assets struct {
	files map[string][]byte
	hash  map[string]string
}

func loadAssets(fsys fs.FS) (*assets, error) {
	a := &assets{files: map[string][]byte{}, hash: map[string]string{}}
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(b)
		a.files[name] = b
		a.hash[name] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: reading embedded assets: %w", err)
	}
	return a, nil
}

// url is the cache-busting URL of a static file.
func (a *assets) url(name string) (string, error) {
	h, ok := a.hash[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return Prefix + "static/" + name + "?v=" + h, nil
}

func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, Prefix+"static/")
	b, ok := a.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	if r.URL.Query().Get("v") == a.hash[name] {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	_, _ = w.Write(b)
}

// funcs are the templates' helpers.
func funcs(a *assets) template.FuncMap {
	return template.FuncMap{
		"asset": a.url,
		// cls turns a label into a CSS class name part ("In flight": "in-flight").
		"cls": func(s string) string { return strings.ReplaceAll(strings.ToLower(s), " ", "-") },
		"attemptPair": func(title string, a attemptView) any {
			return struct {
				Title string
				A     attemptView
			}{title, a}
		},
	}
}
