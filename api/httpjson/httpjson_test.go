package httpjson

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadBody(t *testing.T) {
	var code int
	var msg string
	writeErr := func(w http.ResponseWriter, c int, m string) { code, msg = c, m }
	r := httptest.NewRequest("POST", "/", strings.NewReader("12345"))
	if b, ok := ReadBody(httptest.NewRecorder(), r, 5, writeErr); !ok || string(b) != "12345" {
		t.Errorf("within the limit: %q %v", b, ok)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader("123456"))
	if _, ok := ReadBody(httptest.NewRecorder(), r, 5, writeErr); ok || code != 413 || msg != "request body is larger than 5 bytes" {
		t.Errorf("past the limit: %v %d %q", ok, code, msg)
	}
}

func TestDecodeStrict(t *testing.T) {
	type options struct {
		N int `json:"n"`
	}
	var v struct {
		options
		S string `json:"s"`
	}
	for body, want := range map[string]string{
		``:                  "malformed JSON: the body is empty",
		`{"n": 1} {}`:       "malformed JSON: more than one value in the body",
		`{"x": 1}`:          `malformed JSON: unknown field "x"`,
		`{"n": "1"}`:        `malformed JSON: field "n" must be int, not string`,
		`{"s": 1`:           "malformed JSON: unexpected EOF",
		`{"s" 1}`:           "malformed JSON: invalid character '1' after object key (at byte 6)",
		`{"n": 1, "s": ""}`: "",
	} {
		got := ""
		if err := DecodeStrict([]byte(body), &v); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%s: %q, want %q", body, got, want)
		}
	}
}

func TestText(t *testing.T) {
	if s, b64 := Text([]byte("héllo")); s != "héllo" || b64 != "" {
		t.Errorf("UTF-8: %q %q", s, b64)
	}
	if s, b64 := Text([]byte("a\xffb")); s != "a\uFFFDb" || b64 != "Yf9i" {
		t.Errorf("not UTF-8: %q %q", s, b64)
	}
}
