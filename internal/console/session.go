package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

// The console's cookies, all scoped to Prefix, HttpOnly and SameSite=Strict.
const (
	tokenCookie = "opentasks_console_token"
	csrfCookie  = "opentasks_console_csrf"
	flashCookie = "opentasks_console_flash"
	csrfField   = "csrf"
)

// minCSRFLen is the length of a token rand.Text makes (128 bits); a
// shorter cookie was not made by the console.
const minCSRFLen = 26

// maxFormBytes bounds a posted form: room for a 1 MiB task body and its
// headers.
const maxFormBytes = 2 << 20

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     Prefix,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

func cookieValue(r *http.Request, name string) string {
	ck, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}

// csrfToken returns the browser's double-submit token, setting the cookie
// when the browser has none yet.
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if v := cookieValue(r, csrfCookie); len(v) >= minCSRFLen {
		return v
	}
	v := rand.Text()
	setCookie(w, r, csrfCookie, v, 0)
	return v
}

// readForm parses a POST's form, at most maxFormBytes of it.
func readForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	return r.ParseForm()
}

// csrfValid reports whether a POST repeats the browser's token in its form.
func csrfValid(r *http.Request) bool {
	want := cookieValue(r, csrfCookie)
	got := r.PostForm.Get(csrfField)
	return len(want) >= minCSRFLen && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// flash keeps a message for the next page the browser shows (after a
// redirect), without putting user-visible text in the URL.
func flash(w http.ResponseWriter, r *http.Request, msg string) {
	setCookie(w, r, flashCookie, base64.RawURLEncoding.EncodeToString([]byte(msg)), 60)
}

// takeFlash returns and clears the pending message, if any.
func takeFlash(w http.ResponseWriter, r *http.Request) string {
	v := cookieValue(r, flashCookie)
	if v == "" {
		return ""
	}
	setCookie(w, r, flashCookie, "", -1)
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// authed runs h with the context to call the API with: the request's own
// when authentication is off, the authenticated principal's otherwise.
func (c *Console) authed(h func(ctx context.Context, w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.cfg.Authenticate == nil {
			h(r.Context(), w, r)
			return
		}
		tok, err := base64.RawURLEncoding.DecodeString(cookieValue(r, tokenCookie))
		if err != nil || len(tok) == 0 {
			c.toLogin(w, r, "")
			return
		}
		ctx, err := c.authenticate(r, string(tok))
		if err != nil {
			setCookie(w, r, tokenCookie, "", -1)
			c.toLogin(w, r, "Your token was not accepted: "+errMessage(err))
			return
		}
		h(ctx, w, r)
	}
}

func (c *Console) authenticate(r *http.Request, token string) (context.Context, error) {
	r2 := r.Clone(r.Context())
	r2.Header.Set("Authorization", "Bearer "+token)
	return c.cfg.Authenticate(r2)
}

// toLogin sends the browser to the sign-in page, to come back to where it
// was (a GET) or to the page it posted from.
func (c *Console) toLogin(w http.ResponseWriter, r *http.Request, msg string) {
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet {
		next = Prefix
	}
	if msg != "" {
		flash(w, r, msg)
	}
	http.Redirect(w, r, Prefix+"login?next="+url.QueryEscape(next), http.StatusSeeOther)
}

// safeNext keeps a post-login redirect inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

type loginData struct {
	Next    string
	Enabled bool
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", &page{Title: "Sign in"}, loginData{Next: safeNext(r.URL.Query().Get("next")), Enabled: c.cfg.Authenticate != nil})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostForm.Get("next"))
	if c.cfg.Authenticate == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	if _, err := c.authenticate(r, tok); tok == "" || err != nil {
		msg := "Enter a token."
		if err != nil {
			msg = "That token was not accepted: " + errMessage(err)
		}
		p := &page{Title: "Sign in", Error: msg}
		c.render(w, r, http.StatusUnauthorized, "login", p, loginData{Next: next, Enabled: true})
		return
	}
	// Encoded: a token may hold bytes a cookie cannot.
	setCookie(w, r, tokenCookie, base64.RawURLEncoding.EncodeToString([]byte(tok)), 0)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	setCookie(w, r, tokenCookie, "", -1)
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}
