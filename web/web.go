// Package web serves gatehouse's browser pages from the binary. The pages
// are static HTML plus a little plain JavaScript that calls the same JSON
// API as any other client; there is no server-side back door.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static/*
var files embed.FS

// pageCSP allows only this origin's scripts and styles: no inline code, so
// an injected <script> cannot run.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Handler serves / (sign in and sign up), /account (your devices), /admin
// and /static/….
func Handler() http.Handler {
	static, _ := fs.Sub(files, "static") // cannot fail: the directory is embedded
	fileServer := http.FileServerFS(static)
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", pageCSP)
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, static, name)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page("index.html"))
	mux.Handle("GET /account", page("account.html"))
	mux.Handle("GET /admin", page("admin.html"))
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", pageCSP)
		fileServer.ServeHTTP(w, r)
	})))
	return mux
}
