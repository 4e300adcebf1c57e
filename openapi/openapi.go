// Package openapi serves the OpenAPI 3.1 description of gatehouse's JSON
// API. The document, openapi.json, is written by hand next to this file
// and embedded in the binary; a test checks that it names exactly the
// routes httpapi registers, so the two cannot drift apart.
package openapi

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"time"
)

//go:embed openapi.json
var document []byte

// JSON returns a copy of the OpenAPI document.
func JSON() []byte { return bytes.Clone(document) }

// Handler serves the document as application/json. It is public (the API
// shape is no secret) and CORS-open, so API tools on other origins can
// load it; clients revalidate with the ETag, which changes with the
// binary's document.
func Handler() http.Handler {
	sum := sha256.Sum256(document)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-cache")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("ETag", etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(document))
	})
}
