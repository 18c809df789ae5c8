//go:build integration

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserWatch collects, for every tab, what must not happen on the page: console errors,
// uncaught exceptions, browser log errors (CSP violations, failed loads) and requests to any
// origin but the server's.
type browserWatch struct {
	origin, wsOrigin string
	mu               sync.Mutex
	problems         []string
}

func (b *browserWatch) add(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

func (b *browserWatch) listen(ctx context.Context) {
	chromedp.ListenTarget(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.add("console error: %s", strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			b.add("exception: %s", e.ExceptionDetails.Error())
		case *log.EventEntryAdded:
			if e.Entry.Level == log.LevelError {
				b.add("log error (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
			}
		case *network.EventRequestWillBeSent:
			if u := e.Request.URL; !strings.HasPrefix(u, b.origin+"/") {
				b.add("request to another origin: %s", u)
			}
		case *network.EventWebSocketCreated:
			if !strings.HasPrefix(e.URL, b.wsOrigin+"/") {
				b.add("WebSocket to another origin: %s", e.URL)
			}
		}
	})
}

func (b *browserWatch) check(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Error(p)
	}
	b.problems = nil
}

// TestPlayground drives the playground at GET / in Debian's headless Chromium: a run answered in
// the output pane, a compile error, Stop, a share link, and highlighting for every language. A
// screenshot of each state goes to a folder under the temporary directory (printed in the log).
func TestPlayground(t *testing.T) {
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Fatalf("chromium is needed (.ci/run installs it: apt-get install chromium): %v", err)
	}
	srv := StartServer(t, ServerOptions{Languages: []string{"python", "cpp"}})
	shots, err := os.MkdirTemp("", "codeexec-playground-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 760),
	)
	defer cancel()
	browser, cancel := chromedp.NewContext(alloc)
	defer cancel()
	browser, cancel = context.WithTimeout(browser, 4*time.Minute)
	defer cancel()

	watch := &browserWatch{origin: srv.URL, wsOrigin: "ws" + strings.TrimPrefix(srv.URL, "http")}
	open := func(ctx context.Context, url string) {
		t.Helper()
		watch.listen(ctx)
		run(t, ctx, network.Enable(), log.Enable(), runtime.Enable(),
			chromedp.Navigate(url), chromedp.WaitVisible(`body[data-ready="true"]`))
	}
	shot := func(ctx context.Context, name string) {
		t.Helper()
		var png []byte
		run(t, ctx, chromedp.CaptureScreenshot(&png))
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Loaded: the picker holds every language of /api/v1/languages, with its version.
	open(browser, srv.URL+"/")
	var options []string
	run(t, browser, chromedp.Evaluate(`Array.from(document.querySelectorAll("#language option"), o => o.textContent)`, &options))
	var want []string
	for _, l := range parseArray(t, srv.Get(t, "/api/v1/languages").Raw) {
		want = append(want, fmt.Sprintf("%s %s", l["name"], l["version"]))
	}
	if strings.Join(options, ",") != strings.Join(want, ",") {
		t.Errorf("picker %q, want %q", options, want)
	}
	shot(browser, "01-loaded")
	watch.check(t)

	t.Run("python answered in the output pane", func(t *testing.T) {
		pick(t, browser, "python")
		typeCode(t, browser, "name = input(\"Name? \")\nprint(\"Hello, \" + name + \"!\")")
		// Ctrl+Enter from the editor runs it.
		run(t, browser, chromedp.KeyEvent("\r", chromedp.KeyModifiers(input.ModifierCtrl)))
		waitText(t, browser, "#out", "Name? ")
		run(t, browser, chromedp.SendKeys("#term", "Ada\r", chromedp.ByQuery))
		waitText(t, browser, "#out", "Hello, Ada!")
		waitText(t, browser, "#status", "status: ok")
		waitText(t, browser, "#status", "exit code 0")
		for _, s := range []string{"wall ", "CPU ", "memory "} {
			waitText(t, browser, "#status", s)
		}
		shot(browser, "02-python-answered")
		watch.check(t)
	})

	t.Run("C++ compile error", func(t *testing.T) {
		pick(t, browser, "cpp")
		typeCode(t, browser, "int main() { return undefined_name; }")
		run(t, browser, chromedp.Click("#run", chromedp.ByQuery))
		waitText(t, browser, "#compile-out", "undefined_name")
		waitText(t, browser, "#compile-out", "error")
		waitText(t, browser, "#status", "compile")
		var hidden bool
		run(t, browser, chromedp.Evaluate(`document.getElementById("compile").hidden`, &hidden))
		if hidden {
			t.Error("the compiler's output is hidden")
		}
		shot(browser, "03-cpp-compile-error")
		watch.check(t)
	})

	t.Run("Stop ends a loop", func(t *testing.T) {
		pick(t, browser, "python")
		typeCode(t, browser, "import time\nwhile True: print(\"tick\", flush=True); time.sleep(0.1)")
		run(t, browser, chromedp.Click("#run", chromedp.ByQuery))
		waitText(t, browser, "#out", "tick\ntick\n")
		run(t, browser, chromedp.Click("#stop", chromedp.ByQuery))
		waitText(t, browser, "#status", "SIGKILL")
		waitEval(t, browser, `!document.getElementById("run").disabled && document.getElementById("stop").disabled`)
		shot(browser, "04-stopped")
		watch.check(t)
	})

	t.Run("share link restores language, code and stdin", func(t *testing.T) {
		pick(t, browser, "cpp")
		code := "#include <iostream>\nint main() { std::cout << 42; }"
		typeCode(t, browser, code)
		stdin := "first line\nsecond ünïcode line\n"
		run(t, browser, chromedp.SetValue("#stdin", stdin, chromedp.ByQuery),
			chromedp.Click("#share", chromedp.ByQuery))
		var link string
		waitEval(t, browser, `!document.getElementById("share-url").hidden`)
		run(t, browser, chromedp.Value("#share-url", &link, chromedp.ByQuery))
		if !strings.HasPrefix(link, srv.URL+"/#") {
			t.Fatalf("share link %q", link)
		}
		tab, cancel := chromedp.NewContext(browser)
		defer cancel()
		open(tab, link)
		var lang, gotStdin string
		run(t, tab, chromedp.Value("#language", &lang, chromedp.ByQuery), chromedp.Value("#stdin", &gotStdin, chromedp.ByQuery))
		if got := editorText(t, tab); got != code || lang != "cpp" || gotStdin != stdin {
			t.Errorf("the shared tab has %s %q with stdin %q, want cpp %q with stdin %q", lang, got, gotStdin, code, stdin)
		}
		shot(tab, "05-shared")
		watch.check(t)
	})

	t.Run("every language is highlighted", func(t *testing.T) {
		open(browser, srv.URL+"/") // the sample of each language replaces the previous one
		for _, l := range parseArray(t, srv.Get(t, "/api/v1/languages").Raw) {
			name := l["name"].(string)
			pick(t, browser, name)
			if name == "plaintext" {
				// The one exception: a plaintext program is its own output, so its sample has
				// no keyword or string to mark; it must still have a sample.
				if strings.TrimSpace(editorText(t, browser)) == "" {
					t.Errorf("%s: the editor has no sample", name)
				}
				continue
			}
			if !tryEval(browser, `document.querySelector(".cm-content .tok-keyword") !== null && document.querySelector(".cm-content .tok-string") !== null`) {
				t.Errorf("%s: the editor marks no keyword or no string in %q", name, editorText(t, browser))
			}
		}
		// The same page in the system's dark mode.
		run(t, browser, emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}))
		shot(browser, "06-dark")
		var bg string
		run(t, browser, chromedp.Evaluate(`getComputedStyle(document.body).backgroundColor`, &bg))
		if bg != "rgb(13, 17, 23)" {
			t.Errorf("dark mode background %s", bg)
		}
		watch.check(t)
	})
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// pick chooses a language as a user does: the picker focused, the option chosen, change fired.
func pick(t *testing.T, ctx context.Context, lang string) {
	t.Helper()
	run(t, ctx, chromedp.Evaluate(fmt.Sprintf(`(() => { const p = document.getElementById("language");
		p.focus(); p.value = %q; p.dispatchEvent(new Event("change")); return p.value })()`, lang), nil))
	var got string
	run(t, ctx, chromedp.Value("#language", &got, chromedp.ByQuery))
	if got != lang {
		t.Fatalf("picker shows %q, want %q", got, lang)
	}
}

// typeCode replaces the editor's text: select all and delete with the keyboard, then the code
// inserted as text input (as a paste or an input method does: typed key by key, the editor's
// closing of brackets would add its own).
func typeCode(t *testing.T, ctx context.Context, code string) {
	t.Helper()
	run(t, ctx, chromedp.Click(".cm-content", chromedp.ByQuery),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(input.ModifierCtrl)),
		chromedp.KeyEvent("\b"),
		input.InsertText(code))
	if got := editorText(t, ctx); got != code {
		t.Fatalf("the editor holds %q after typing %q", got, code)
	}
}

func editorText(t *testing.T, ctx context.Context) string {
	t.Helper()
	var s string
	run(t, ctx, chromedp.Evaluate(`Array.from(document.querySelectorAll(".cm-content .cm-line"), l => l.textContent).join("\n")`, &s))
	return strings.ReplaceAll(s, "\u00a0", " ") // the editor's DOM may show a typed space as a no-break space
}

// tryEval polls a JavaScript condition for up to 30 seconds.
func tryEval(ctx context.Context, cond string) bool {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		if err := chromedp.Run(ctx, chromedp.Evaluate(cond, &ok)); err == nil && ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitEval(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	if !tryEval(ctx, cond) {
		t.Fatalf("not true within 30 s: %s", cond)
	}
}

// waitText waits until the element's text holds want.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	if !tryEval(ctx, fmt.Sprintf(`document.querySelector(%q).textContent.includes(%q)`, sel, want)) {
		var text string
		_ = chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%q).textContent`, sel), &text))
		var status string
		_ = chromedp.Run(ctx, chromedp.Text("#status", &status, chromedp.ByQuery))
		t.Fatalf("%s holds %q, not %q (status line: %q)", sel, text, want, status)
	}
}
