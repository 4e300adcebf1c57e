// Package notes is a small multi-user notes app that signs people in with
// a remote gatehouse, through the middleware package. Everyone signed in
// keeps their own notes and sees only those; holders of the notes:admin
// permission see and delete everyone's.
//
// It serves a browser page (gatehouse's session cookie, same-site) and a
// JSON API (a bearer access token from gatehouse):
//
//	GET    /                  the page (sign-in link when anonymous)
//	POST   /notes             form: title, body → 303 to /
//	POST   /notes/{id}/delete form → 303 to /
//	GET    /api/notes         {"notes": [note, …]} (all of them for notes:admin)
//	POST   /api/notes         {"title", "body"} → 201 note
//	GET    /api/notes/{id}    note, or 404 if it is not yours
//	DELETE /api/notes/{id}    204, or 404 if it is not yours
package notes

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/middleware"
)

// AdminPermission lets its holders see and delete every user's notes.
const AdminPermission = "notes:admin"

// Limits on what a note may hold.
const (
	MaxTitle = 200   // characters
	MaxBody  = 10000 // characters
	maxInput = 64 << 10
)

//go:embed page.html style.css
var files embed.FS

var page = template.Must(template.ParseFS(files, "page.html"))

// Config is what the app needs.
type Config struct {
	// Middleware authenticates callers against gatehouse; required.
	Middleware *middleware.Middleware
	// Store keeps the notes; required.
	Store *Store
	// PublicURL is where browsers reach the app, for the sign-in link's
	// return address; default: the scheme and Host of each request.
	PublicURL string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// app serves the notes.
type app struct {
	cfg Config
}

// NewApp returns the app's handler.
func NewApp(cfg Config) http.Handler {
	if cfg.Middleware == nil || cfg.Store == nil {
		panic("notes: Config.Middleware and Config.Store are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &app{cfg: cfg}
	m := cfg.Middleware
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", m.Authenticate(http.HandlerFunc(a.page)))
	mux.HandleFunc("GET /style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		http.ServeFileFS(w, r, files, "style.css")
	})
	mux.Handle("POST /notes", m.RequireAuth(http.HandlerFunc(a.formCreate)))
	mux.Handle("POST /notes/{id}/delete", m.RequireAuth(http.HandlerFunc(a.formDelete)))
	mux.Handle("GET /api/notes", m.RequireAuth(http.HandlerFunc(a.apiList)))
	mux.Handle("POST /api/notes", m.RequireAuth(http.HandlerFunc(a.apiCreate)))
	mux.Handle("GET /api/notes/{id}", m.RequireAuth(http.HandlerFunc(a.apiGet)))
	mux.Handle("DELETE /api/notes/{id}", m.RequireAuth(http.HandlerFunc(a.apiDelete)))
	return securityHeaders(mux)
}

// securityHeaders sets headers that suit every response of the app.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// caller is the signed-in user; the handlers behind RequireAuth always
// have one.
func caller(r *http.Request) middleware.User {
	u, _ := middleware.UserFrom(r.Context())
	return u
}

// visible reports whether u may see and delete n.
func visible(u middleware.User, n Note) bool {
	return n.Owner == u.ID || u.Can(AdminPermission)
}

// listFor is what u sees: their notes, or all for admins.
func (a *app) listFor(u middleware.User) []Note {
	if u.Can(AdminPermission) {
		return a.cfg.Store.List("")
	}
	return a.cfg.Store.List(u.ID)
}

// newNote checks a title and body and builds the note, or says in a
// sentence for the user what is wrong.
func (a *app) newNote(u middleware.User, title, body string) (Note, string) {
	title = strings.TrimSpace(title)
	switch {
	case title == "":
		return Note{}, "A note needs a title."
	case !utf8.ValidString(title) || !utf8.ValidString(body):
		return Note{}, "The note is not valid UTF-8."
	case utf8.RuneCountInString(title) > MaxTitle:
		return Note{}, "The title is too long (200 characters at most)."
	case utf8.RuneCountInString(body) > MaxBody:
		return Note{}, "The note is too long (10000 characters at most)."
	}
	return Note{Owner: u.ID, OwnerEmail: u.Email, Title: title, Body: body, CreatedAt: a.cfg.Now().UTC()}, ""
}

// pageData is what page.html shows.
type pageData struct {
	User      *middleware.User
	Admin     bool
	Notes     []Note
	SignInURL string
	Account   string
}

func (a *app) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	d := pageData{Account: strings.TrimSuffix(a.cfg.Middleware.Issuer(), "/") + "/account"}
	if u, ok := middleware.UserFrom(r.Context()); ok {
		d.User, d.Admin, d.Notes = &u, u.Can(AdminPermission), a.listFor(u)
	} else {
		d.SignInURL = a.cfg.Middleware.SignInURL(a.publicURL(r) + "/")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, d)
}

// publicURL is the app's base URL as the browser sees it.
func (a *app) publicURL(r *http.Request) string {
	if a.cfg.PublicURL != "" {
		return strings.TrimSuffix(a.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (a *app) formCreate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxInput)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The form could not be read.", http.StatusBadRequest)
		return
	}
	n, msg := a.newNote(caller(r), r.PostForm.Get("title"), r.PostForm.Get("body"))
	if msg != "" {
		http.Error(w, msg, http.StatusUnprocessableEntity)
		return
	}
	a.cfg.Store.Add(n)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) formDelete(w http.ResponseWriter, r *http.Request) {
	if n, ok := a.cfg.Store.Get(r.PathValue("id")); ok && visible(caller(r), n) {
		a.cfg.Store.Delete(n.ID)
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) apiList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"notes": a.listFor(caller(r))})
}

func (a *app) apiCreate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title string `json:"title"`
		Body  string `json:"body"`
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeProblem(w, http.StatusUnsupportedMediaType, "unsupported_type", "Send the note as application/json.")
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxInput))
	dec.DisallowUnknownFields()
	err := dec.Decode(&in)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("trailing data")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeProblem(w, http.StatusRequestEntityTooLarge, "too_large", "The note is larger than 64 KiB.")
		return
	case err != nil:
		writeProblem(w, http.StatusBadRequest, "invalid", `Send one JSON object {"title": "…", "body": "…"}.`)
		return
	}
	n, msg := a.newNote(caller(r), in.Title, in.Body)
	if msg != "" {
		writeProblem(w, http.StatusUnprocessableEntity, "unprocessable", msg)
		return
	}
	writeJSON(w, http.StatusCreated, a.cfg.Store.Add(n))
}

// own returns the note named in the path if the caller may see it; else
// it answers 404 (another user's note is "not found" too, so that IDs
// cannot be probed).
func (a *app) own(w http.ResponseWriter, r *http.Request) (Note, bool) {
	n, ok := a.cfg.Store.Get(r.PathValue("id"))
	if !ok || !visible(caller(r), n) {
		writeProblem(w, http.StatusNotFound, "not_found", "No such note.")
		return Note{}, false
	}
	return n, true
}

func (a *app) apiGet(w http.ResponseWriter, r *http.Request) {
	if n, ok := a.own(w, r); ok {
		writeJSON(w, http.StatusOK, n)
	}
}

func (a *app) apiDelete(w http.ResponseWriter, r *http.Request) {
	if n, ok := a.own(w, r); ok {
		a.cfg.Store.Delete(n.ID)
		w.WriteHeader(http.StatusNoContent)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeProblem answers an RFC 9457 problem document.
func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "urn:notes:problem:" + code, "title": http.StatusText(status), "status": status, "detail": detail,
	})
}
