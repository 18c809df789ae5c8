// Package httpjson holds the HTTP and JSON helpers that every API dialect (the native API,
// Piston's) shares: writing answers, reading a bounded body, strict decoding with errors a user
// can act on, and output bytes as JSON-safe text.
package httpjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// ErrorWriter answers an error in a dialect's own shape.
type ErrorWriter func(w http.ResponseWriter, code int, msg string)

// Write answers v as JSON. HTML is not escaped: program output is returned as it was written.
func Write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// ReadBody reads the whole body, whatever its content type (clients send JSON as text/plain
// too), up to max bytes. On failure it answers with writeErr (413 past max, else 400) and
// returns false.
func ReadBody(w http.ResponseWriter, r *http.Request, max int64, writeErr ErrorWriter) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeErr(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", max))
			return nil, false
		}
		writeErr(w, http.StatusBadRequest, "reading the request body: "+err.Error())
		return nil, false
	}
	return b, true
}

// DecodeStrict decodes exactly one JSON value with no unknown fields; the error is a sentence
// for the user.
func DecodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("malformed JSON: " + Problem(err))
	}
	if dec.More() {
		return errors.New("malformed JSON: more than one value in the body")
	}
	return nil
}

// Problem says what is wrong with a JSON document, from the decoder's error.
func Problem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "the body is empty"
	case errors.As(err, &syn):
		return fmt.Sprintf("%v (at byte %d)", syn, syn.Offset)
	case errors.As(err, &typ):
		// Embedded structs show up as a prefix of the field path; users never see those names.
		field := strings.TrimPrefix(typ.Field, "options.")
		return fmt.Sprintf("field %q must be %s, not %s", field, typ.Type, typ.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// Text returns b as a JSON-safe string: bytes that are not UTF-8 become U+FFFD, and then the
// exact bytes are also given in base64 (b64 is empty for valid UTF-8).
func Text(b []byte) (s, b64 string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), base64.StdEncoding.EncodeToString(b)
}
