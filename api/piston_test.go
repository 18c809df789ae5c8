package api

import (
	"testing"
)

func TestIsPiston(t *testing.T) {
	cases := []struct {
		body string
		want bool
	}{
		{`{"language": "python", "version": "*", "files": [{"content": "print(1)"}]}`, true},
		{`{"language": "python", "files": [{"name": "a.py", "content": "print(1)"}]}`, true},
		{`{"language": "python", "version": "3.11"}`, true},
		{`{"language": "python", "files": [{"filename": "a.py", "code": "print(1)"}]}`, false},
		{`{"language": "python", "files": "x"}`, false},
		{`[1]`, false},
		{`{"language": `, false},
	}
	for _, c := range cases {
		if got := isPiston([]byte(c.body)); got != c.want {
			t.Errorf("isPiston(%s) = %v, want %v", c.body, got, c.want)
		}
	}
}

func TestVersionMatches(t *testing.T) {
	cases := []struct {
		want, have string
		ok         bool
	}{
		{"*", "3.11.2", true},
		{"", "3.11.2", true},
		{"3.11.2", "3.11.2", true},
		{"3.11", "3.11.2", true},
		{"3", "3.11.2", true},
		{"3.x", "3.11.2", true},
		{"3.11.x", "3.11.2", true},
		{"3.1", "3.11.2", false},
		{"3.10.0", "3.11.2", false},
		{"2", "3.11.2", false},
	}
	for _, c := range cases {
		if got := versionMatches(c.want, c.have); got != c.ok {
			t.Errorf("versionMatches(%q, %q) = %v, want %v", c.want, c.have, got, c.ok)
		}
	}
}

func TestDecodeContent(t *testing.T) {
	cases := []struct {
		content, encoding, want string
		err                     bool
	}{
		{"print(1)", "", "print(1)", false},
		{"print(1)", "utf8", "print(1)", false},
		{"cHJpbnQoMSk=", "base64", "print(1)", false},
		{"7072696e74283129", "hex", "print(1)", false},
		{"%%%", "base64", "", true},
		{"zz", "hex", "", true},
		{"x", "rot13", "", true},
	}
	for _, c := range cases {
		got, err := decodeContent(c.content, c.encoding)
		if (err != nil) != c.err || string(got) != c.want {
			t.Errorf("decodeContent(%q, %q) = %q, %v", c.content, c.encoding, got, err)
		}
	}
}
