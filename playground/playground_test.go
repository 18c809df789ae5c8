package playground

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The page carries a fresh style nonce, named by its policy; its files are served with the
// same policy and nothing outside static/ is reachable.
func TestPage(t *testing.T) {
	var nonces []string
	for range 2 {
		rec := httptest.NewRecorder()
		Page(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET / = %d %s (is playground/static/app.js built? make build)", rec.Code, rec.Body)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		body := rec.Body.String()
		_, rest, ok := strings.Cut(body, `<meta name="style-nonce" content="`)
		nonce, _, _ := strings.Cut(rest, `"`)
		if !ok || len(nonce) < 16 || !strings.Contains(csp, "style-src 'self' 'nonce-"+nonce+"'") {
			t.Fatalf("nonce %q, policy %q", nonce, csp)
		}
		for _, d := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self';", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("policy %q lacks %q", csp, d)
			}
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type %q", ct)
		}
		nonces = append(nonces, nonce)
	}
	if nonces[0] == nonces[1] {
		t.Errorf("two pages share the nonce %q", nonces[0])
	}

	for name, want := range map[string]int{
		"app.js": 200, "style.css": 200, "icon.svg": 200,
		"index.html": 404, "../playground.go": 404, "missing.js": 404,
	} {
		rec := httptest.NewRecorder()
		Asset(rec, httptest.NewRequest(http.MethodGet, "/playground/"+name, nil), name)
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", name, rec.Code, want)
			continue
		}
		if want == 200 && !strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: no policy", name)
		}
	}
}
