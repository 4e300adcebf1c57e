// Package web serves gatehouse's browser pages from the binary. The pages
// are static HTML plus a little plain JavaScript that calls the same JSON
// API as any other client; there is no server-side back door, no build
// step and nothing loaded from another origin.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static/*
var files embed.FS

// PageCSP is the Content-Security-Policy of the pages and their assets:
// only this origin's scripts, styles and images, no inline code or
// styles (an injected <script> or style attribute does nothing), no
// plugins, no framing, forms that post only here, and Trusted Types
// enforced so a DOM-XSS sink such as innerHTML throws instead of parsing.
const PageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// Pages maps each page's path to its file in the embedded static folder.
var pages = map[string]string{
	"/":        "index.html",
	"/account": "account.html",
	"/admin":   "admin.html",
	"/reset":   "reset.html",
}

// Handler serves / (sign in and sign up), /account (your devices and
// password), /admin (users, roles, audit log, keys) and /static/….
func Handler() http.Handler {
	static, _ := fs.Sub(files, "static") // cannot fail: the directory is embedded
	fileServer := http.FileServerFS(static)
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Security-Policy", PageCSP)
			h.Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, static, name)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page(pages["/"]))
	mux.Handle("GET /account", page(pages["/account"]))
	mux.Handle("GET /admin", page(pages["/admin"]))
	mux.Handle("GET /reset", page(pages["/reset"]))
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", PageCSP)
		// Embedded files have no modification time, so there is nothing
		// to revalidate against: ask for a fresh copy each time, so a new
		// binary's scripts are never mixed with an old page.
		h.Set("Cache-Control", "no-cache")
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		fileServer.ServeHTTP(w, r)
	})))
	return mux
}
