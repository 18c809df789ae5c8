// The playground: an editor, the language picker, and a live run over GET /api/v1/ws. Everything
// it talks to is our own API on this origin; nothing is stored on the server (a share link carries
// the code in its fragment).
import { EditorView, basicSetup } from "codemirror";
import { EditorState, Compartment, Prec } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { indentWithTab } from "@codemirror/commands";
import { syntaxHighlighting, StreamLanguage, indentUnit } from "@codemirror/language";
import { classHighlighter } from "@lezer/highlight";
import { python } from "@codemirror/lang-python";
import { javascript } from "@codemirror/lang-javascript";
import { java } from "@codemirror/lang-java";
import { cpp } from "@codemirror/lang-cpp";
import { go } from "@codemirror/lang-go";
import { ruby } from "@codemirror/legacy-modes/mode/ruby";
import { shell } from "@codemirror/legacy-modes/mode/shell";
import { rust } from "@codemirror/legacy-modes/mode/rust";
import { csharp, kotlin } from "@codemirror/legacy-modes/mode/clike";

// Editor support by language name or alias: a first-class package where CodeMirror has one, a
// legacy stream mode otherwise.
const modes = {
  python: () => python(), py: () => python(),
  javascript: () => javascript(), js: () => javascript(), node: () => javascript(),
  typescript: () => javascript({ typescript: true }), ts: () => javascript({ typescript: true }),
  java: () => java(),
  cpp: () => cpp(), "c++": () => cpp(), c: () => cpp(),
  go: () => go(), golang: () => go(),
  ruby: () => StreamLanguage.define(ruby), rb: () => StreamLanguage.define(ruby),
  bash: () => StreamLanguage.define(shell), sh: () => StreamLanguage.define(shell),
  rust: () => StreamLanguage.define(rust), rs: () => StreamLanguage.define(rust),
  csharp: () => StreamLanguage.define(csharp), kotlin: () => StreamLanguage.define(kotlin),
};

// A first program per language: it asks for a name, to show that a run can be answered.
const samples = {
  python: 'name = input("Your name? ") or "stranger"\nprint(f"Hello, {name}!")\n',
  javascript: 'const rl = require("readline").createInterface({ input: process.stdin, output: process.stdout });\nrl.question("Your name? ", (name) => {\n  console.log(`Hello, ${name}!`);\n  rl.close();\n});\n',
  ruby: 'print "Your name? "\nname = gets.to_s.chomp\nputs "Hello, #{name}!" unless name.empty?\n',
  java: 'import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n        System.out.print("Your name? ");\n        System.out.flush();\n        String name = new Scanner(System.in).nextLine();\n        System.out.println("Hello, " + name + "!");\n    }\n}\n',
  go: 'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n\t"strings"\n)\n\nfunc main() {\n\tfmt.Print("Your name? ")\n\tname, _ := bufio.NewReader(os.Stdin).ReadString(\'\\n\')\n\tfmt.Printf("Hello, %s!\\n", strings.TrimSpace(name))\n}\n',
  cpp: '#include <iostream>\n#include <string>\n\nint main() {\n    std::string name;\n    std::cout << "Your name? " << std::flush;\n    std::getline(std::cin, name);\n    std::cout << "Hello, " << name << "!" << std::endl;\n    return 0;\n}\n',
};

const $ = (id) => document.getElementById(id);
const picker = $("language"), runBtn = $("run"), stopBtn = $("stop"), shareBtn = $("share");
const shareURL = $("share-url"), stdinBox = $("stdin"), out = $("out"), term = $("term");
const compileBox = $("compile"), compileOut = $("compile-out"), statusLine = $("status");

let languages = [];   // as /api/v1/languages answers
let session = null;   // the running session: { ws, stopTimer }

function modeFor(name) {
  const l = languages.find((x) => x.name === name);
  for (const n of [name, ...(l ? l.aliases : [])]) if (modes[n]) return modes[n]();
  return [];
}

const language = new Compartment();
const view = new EditorView({
  parent: $("editor"),
  state: EditorState.create({
    doc: "",
    extensions: [
      Prec.highest(keymap.of([{ key: "Mod-Enter", run: () => { run(); return true; } }])),
      basicSetup,
      keymap.of([indentWithTab]),
      indentUnit.of("    "),
      syntaxHighlighting(classHighlighter),
      language.of([]),
      EditorView.contentAttributes.of({ "aria-label": "Code editor" }),
      // The editor writes its styles into a <style> element: the page's policy admits it by
      // this response's nonce.
      EditorView.cspNonce.of(document.querySelector('meta[name="style-nonce"]').content),
    ],
  }),
});

function setCode(code) {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: code } });
}

function setLanguage(name) {
  picker.value = name;
  view.dispatch({ effects: language.reconfigure(modeFor(name)) });
}

picker.addEventListener("change", () => {
  const prev = picker.dataset.current;
  const code = view.state.doc.toString();
  // Replace the code only when it is still the previous language's sample (or empty).
  if (code.trim() === "" || code === samples[prev]) setCode(samples[picker.value] || "");
  picker.dataset.current = picker.value;
  setLanguage(picker.value);
});

// Ctrl/Cmd+Enter runs from anywhere on the page (the editor has its own binding).
document.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !e.defaultPrevented) { e.preventDefault(); run(); }
});

// --- share links: #<base64url(deflate-raw(JSON {l, c, s}))> ---

async function pipe(bytes, stream) {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(stream)).arrayBuffer());
}

function toBase64url(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text) {
  const s = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

async function encodeShare(state) {
  const raw = new TextEncoder().encode(JSON.stringify(state));
  return toBase64url(await pipe(raw, new CompressionStream("deflate-raw")));
}

async function decodeShare(fragment) {
  const raw = await pipe(fromBase64url(fragment), new DecompressionStream("deflate-raw"));
  return JSON.parse(new TextDecoder().decode(raw));
}

shareBtn.addEventListener("click", async () => {
  const frag = await encodeShare({ l: picker.value, c: view.state.doc.toString(), s: stdinBox.value });
  const url = `${location.origin}${location.pathname}#${frag}`;
  history.replaceState(null, "", `#${frag}`);
  shareURL.value = url;
  shareURL.hidden = false;
  shareURL.focus();
  shareURL.select();
  try { await navigator.clipboard.writeText(url); statusLine.textContent = "Share link copied."; }
  catch { statusLine.textContent = "Share link ready: copy it from the box."; }
});

// --- running ---

function append(el, text, cls) {
  const span = document.createElement("span");
  if (cls) span.className = cls;
  span.textContent = text;
  el.appendChild(span);
  $("output").scrollTop = $("output").scrollHeight;
}

function fmtBytes(n) {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

function showStatus(status, exit) {
  const parts = [`status: ${status}`];
  if (exit) {
    if (exit.signal) parts.push(`signal ${exit.signal}`);
    else if (exit.exitCode !== undefined && exit.exitCode !== null) parts.push(`exit code ${exit.exitCode}`);
    parts.push(`wall ${Math.round(exit.wallTimeMs)} ms`, `CPU ${Math.round(exit.cpuTimeMs)} ms`, `memory ${fmtBytes(exit.memoryBytes || 0)}`);
  }
  statusLine.textContent = parts.join(" · ");
  statusLine.className = status === "ok" ? "ok" : "failed";
}

function setRunning(on) {
  runBtn.disabled = on;
  stopBtn.disabled = !on;
  picker.disabled = on;
  term.disabled = !on;
}

function run() {
  if (session || !picker.value || runBtn.disabled) return;
  out.textContent = "";
  compileOut.textContent = "";
  compileBox.hidden = true;
  statusLine.className = "";
  statusLine.textContent = "Running…";
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/api/v1/ws`);
  const s = { ws, exit: null, done: false };
  session = s;
  setRunning(true);
  term.value = "";
  term.focus();
  ws.onopen = () => {
    const source = languages.find((l) => l.name === picker.value)?.source || "main";
    const req = { language: picker.value, interactive: true, files: [{ filename: source, code: view.state.doc.toString() }] };
    if (stdinBox.value) req.stdin = stdinBox.value;
    ws.send(JSON.stringify(req));
  };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    switch (m.type) {
      case "stdout":
      case "stderr": {
        const text = m.data !== undefined ? m.data : new TextDecoder().decode(fromBase64(m.dataBase64));
        if (m.stage === "compile") { compileBox.hidden = false; append(compileOut, text); }
        else append(out, text, m.type);
        break;
      }
      case "exit":
        if (m.stage === "compile" && m.status !== "ok") compileBox.hidden = false;
        if (m.stage !== "compile" || m.status !== "ok") s.exit = m;
        break;
      case "result":
        s.done = true;
        showStatus(m.result.status, s.exit);
        break;
      case "error":
        s.done = true;
        statusLine.textContent = `error: ${m.message}`;
        statusLine.className = "failed";
        break;
    }
  };
  ws.onclose = (ev) => {
    if (!s.done) {
      statusLine.textContent = s.stopped ? "Stopped." : `Connection closed (${ev.code}${ev.reason ? ": " + ev.reason : ""}).`;
      statusLine.className = "failed";
    }
    clearTimeout(s.stopTimer);
    if (session === s) session = null;
    setRunning(false);
  };
}

function fromBase64(b64) { return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)); }

function send(msg) {
  if (session && session.ws.readyState === WebSocket.OPEN) session.ws.send(JSON.stringify(msg));
}

// Stop kills the program; the server then sends its exit and result. Should they not come, the
// connection is closed, which stops the run as well.
function stop() {
  if (!session) return;
  const s = session;
  s.stopped = true;
  send({ type: "signal", signal: "SIGKILL" });
  s.stopTimer = setTimeout(() => s.ws.close(), 3000);
}

runBtn.addEventListener("click", run);
stopBtn.addEventListener("click", stop);

// The terminal line: what is typed is echoed into the output and sent with Enter; Ctrl+D ends input.
term.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.ctrlKey && !e.metaKey) {
    e.preventDefault();
    const line = term.value + "\n";
    term.value = "";
    append(out, line, "stdin");
    send({ type: "stdin", data: line });
  } else if (e.key === "d" && e.ctrlKey) {
    e.preventDefault();
    if (term.value) { append(out, term.value, "stdin"); send({ type: "stdin", data: term.value }); term.value = ""; }
    append(out, "^D\n", "note");
    send({ type: "eof" });
  } else if (e.key === "c" && e.ctrlKey && !term.value) {
    e.preventDefault();
    send({ type: "signal", signal: "SIGINT" });
  }
});
$("output").addEventListener("click", () => { if (!term.disabled) term.focus(); });

// --- start: the languages, then a shared program if the URL carries one ---

async function start() {
  const resp = await fetch("/api/v1/languages");
  languages = await resp.json();
  picker.textContent = "";
  for (const l of languages) {
    const o = document.createElement("option");
    o.value = l.name;
    o.textContent = `${l.name} ${l.version}`;
    picker.appendChild(o);
  }
  picker.disabled = false;
  runBtn.disabled = false;
  let lang = languages.some((l) => l.name === "python") ? "python" : languages[0]?.name;
  let code = null, stdin = "";
  if (location.hash.length > 1) {
    try {
      const shared = await decodeShare(location.hash.slice(1));
      if (languages.some((l) => l.name === shared.l)) lang = shared.l;
      code = shared.c || "";
      stdin = shared.s || "";
    } catch {
      statusLine.textContent = "This link's program could not be read.";
    }
  }
  picker.dataset.current = lang;
  setLanguage(lang);
  setCode(code !== null ? code : samples[lang] || "");
  stdinBox.value = stdin;
  document.body.dataset.ready = "true";
}

start().catch((err) => {
  statusLine.textContent = `Could not load the languages: ${err}`;
  statusLine.className = "failed";
});
