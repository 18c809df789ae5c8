// Package playground serves the browser playground: the page at GET / and its assets under
// /playground/. The page is built from web/ (CodeMirror 6, bundled by esbuild in `make build`)
// into static/app.js and embedded in the binary; it talks only to our own API on its own origin.
package playground

import (
	"bytes"
	"crypto/rand"
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

//go:embed static
var files embed.FS

// policy is the Content-Security-Policy of the page and its files: everything from our own
// origin, nothing else. connect-src 'self' covers the WebSocket to the same host (CSP Level 3:
// Chromium, Firefox, Safari 15.4+). No inline script runs; the one inline style allowed is the
// editor's own <style> element, which carries the nonce of this response.
func policy(nonce string) string {
	style := "'self'"
	if nonce != "" {
		style += " 'nonce-" + nonce + "'"
	}
	return "default-src 'none'; script-src 'self'; style-src " + style + "; img-src 'self'; " +
		"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// built is the bundle `make build` writes; without it the page cannot work, so it is not served.
const built = "app.js"

// Page serves the playground's page, with a fresh style nonce.
func Page(w http.ResponseWriter, r *http.Request) {
	if _, err := fs.Stat(files, "static/"+built); err != nil {
		http.Error(w, "the playground was not built into this binary: build it with `make build`", http.StatusServiceUnavailable)
		return
	}
	page, err := files.ReadFile("static/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	nonce := rand.Text()
	page = bytes.Replace(page, []byte("{{nonce}}"), []byte(nonce), 1)
	header(w, nonce, ".html")
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(page))
}

// Asset serves a file of the page (route parameter :file).
func Asset(w http.ResponseWriter, r *http.Request, name string) {
	if name == "index.html" || path.Base(name) != name {
		http.NotFound(w, r)
		return
	}
	serve(w, r, name)
}

func serve(w http.ResponseWriter, r *http.Request, name string) {
	b, err := files.ReadFile("static/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	header(w, "", path.Ext(name))
	// The files change with the binary, which has no build time to offer: revalidate each time.
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

func header(w http.ResponseWriter, nonce, ext string) {
	h := w.Header()
	h.Set("Content-Security-Policy", policy(nonce))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if t := mime.TypeByExtension(ext); t != "" {
		h.Set("Content-Type", t)
	}
}
