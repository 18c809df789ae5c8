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
import { clike, c, csharp, kotlin, scala, objectiveC } from "@codemirror/legacy-modes/mode/clike";
import { groovy } from "@codemirror/legacy-modes/mode/groovy";
import { clojure } from "@codemirror/legacy-modes/mode/clojure";
import { haskell } from "@codemirror/legacy-modes/mode/haskell";
import { r } from "@codemirror/legacy-modes/mode/r";
import { perl } from "@codemirror/legacy-modes/mode/perl";
import { lua } from "@codemirror/legacy-modes/mode/lua";
import { erlang } from "@codemirror/legacy-modes/mode/erlang";
import { oCaml } from "@codemirror/legacy-modes/mode/mllike";
import { pascal } from "@codemirror/legacy-modes/mode/pascal";
import { fortran } from "@codemirror/legacy-modes/mode/fortran";
import { d } from "@codemirror/legacy-modes/mode/d";
import { commonLisp } from "@codemirror/legacy-modes/mode/commonlisp";
import { cobol } from "@codemirror/legacy-modes/mode/cobol";
import { octave } from "@codemirror/legacy-modes/mode/octave";
import { sqlite } from "@codemirror/legacy-modes/mode/sql";
import { scheme } from "@codemirror/legacy-modes/mode/scheme";

const words = (s) => Object.fromEntries(s.split(" ").map((w) => [w, true]));

// PHP has no legacy mode: clike with PHP's keywords and $variables is close enough to mark them.
const php = clike({
  name: "php",
  keywords: words("abstract and array as break case catch class clone const continue declare default do echo else elseif empty enddeclare endfor endforeach endif endswitch endwhile extends final finally fn for foreach function global goto if implements include include_once instanceof insteadof interface isset list match namespace new or print private protected public readonly require require_once return static switch throw trait try unset use var while xor yield"),
  atoms: words("true false null TRUE FALSE NULL"),
  hooks: { $: (stream) => { stream.eatWhile(/[\w$]/); return "variableName.special"; } },
});

// Prolog, NASM, Nim and Ada have no legacy mode (gas is AT&T syntax and marks no instruction), and
// Tcl's marks quoted text only inside parentheses: a small stream mode each marks their keywords,
// quoted text, numbers and comments.
function simpleMode(name, lineComment, keywords, wordRe) {
  return {
    name,
    token(stream) {
      if (stream.eatSpace()) return null;
      if (stream.match(lineComment)) { stream.skipToEnd(); return "comment"; }
      const q = stream.peek();
      if (q === '"' || q === "'" || q === "`") {
        stream.next();
        let ch, escaped = false;
        while ((ch = stream.next()) != null) {
          if (ch === q && !escaped) break;
          escaped = !escaped && ch === "\\";
        }
        return "string";
      }
      if (stream.match(/^\d+(\.\d+)?/)) return "number";
      if (stream.match(wordRe)) return keywords[stream.current().toLowerCase()] ? "keyword" : null;
      stream.next();
      return null;
    },
  };
}
const prolog = simpleMode("prolog", "%",
  words("is mod rem not dynamic discontiguous initialization module use_module ensure_loaded halt true fail call catch throw findall forall format write writeln nl read"),
  /^[a-z_A-Z][\w]*/);
const nasm = simpleMode("nasm", ";",
  words("section segment global extern bits default db dw dd dq resb resw resd resq equ times mov lea add sub inc dec mul imul div idiv and or xor not neg shl shr cmp test jmp je jne jz jnz jg jge jl jle ja jb call ret push pop syscall int nop"),
  /^[.\w]+/);
const nim = simpleMode("nim", "#",
  words("addr and as asm bind block break case cast concept const continue converter defer discard distinct div do elif else end enum except export finally for from func if import in include interface is isnot iterator let macro method mixin mod nil not notin object of or out proc ptr raise ref return shl shr static template try tuple type using var when while xor yield echo true false"),
  /^[a-zA-Z_]\w*/);
// Ada's apostrophe also starts attributes (Integer'Image), which this small mode reads as quoted
// text; the samples use none.
const ada = simpleMode("ada", "--",
  words("abort abs abstract accept access aliased all and array at begin body case constant declare delay delta digits do else elsif end entry exception exit for function generic goto if in interface is limited loop mod new not null of or others out overriding package pragma private procedure protected raise range record rem renames requeue return reverse select separate some subtype synchronized tagged task terminate then type until use when while with xor"),
  /^[a-zA-Z_]\w*/);
const tcl = simpleMode("tcl", "#",
  words("after append array break catch close concat continue dict else elseif eof error eval exec exit expr file for foreach format gets global if incr info join lappend lassign lindex linsert list llength lmap lrange lreplace lsearch lset lsort namespace open proc puts read regexp regsub rename return scan set split string switch tailcall try unset uplevel upvar variable while"),
  /^[a-zA-Z_:]\w*/);
// Scheme's mode calls its special forms and standard procedures "builtin": they are its keywords.
const schemeKeywords = {
  ...scheme,
  token: (stream, state) => {
    const t = scheme.token(stream, state);
    return t === "builtin" ? "keyword" : t;
  },
};

// Editor support by language name or alias: a first-class package where CodeMirror has one, a
// legacy stream mode otherwise.
const modes = {
  python: () => python(), py: () => python(),
  javascript: () => javascript(), js: () => javascript(), node: () => javascript(),
  typescript: () => javascript({ typescript: true }), ts: () => javascript({ typescript: true }),
  java: () => java(),
  cpp: () => cpp(), "c++": () => cpp(), "cpp-clang": () => cpp(),
  c: () => StreamLanguage.define(c), "c-clang": () => StreamLanguage.define(c),
  go: () => go(), golang: () => go(),
  ruby: () => StreamLanguage.define(ruby), rb: () => StreamLanguage.define(ruby),
  bash: () => StreamLanguage.define(shell), sh: () => StreamLanguage.define(shell),
  rust: () => StreamLanguage.define(rust), rs: () => StreamLanguage.define(rust),
  csharp: () => StreamLanguage.define(csharp), kotlin: () => StreamLanguage.define(kotlin),
  php: () => StreamLanguage.define(php), scala: () => StreamLanguage.define(scala),
  groovy: () => StreamLanguage.define(groovy), clojure: () => StreamLanguage.define(clojure),
  haskell: () => StreamLanguage.define(haskell), r: () => StreamLanguage.define(r),
  perl: () => StreamLanguage.define(perl), lua: () => StreamLanguage.define(lua),
  // Elixir has no legacy mode; its syntax (do/end, def, "strings", #{} interpolation) is Ruby's.
  elixir: () => StreamLanguage.define(ruby), erlang: () => StreamLanguage.define(erlang),
  ocaml: () => StreamLanguage.define(oCaml), pascal: () => StreamLanguage.define(pascal),
  fortran: () => StreamLanguage.define(fortran), d: () => StreamLanguage.define(d),
  commonlisp: () => StreamLanguage.define(commonLisp), prolog: () => StreamLanguage.define(prolog),
  cobol: () => StreamLanguage.define(cobol), assembly: () => StreamLanguage.define(nasm),
  objectivec: () => StreamLanguage.define(objectiveC), octave: () => StreamLanguage.define(octave),
  sql: () => StreamLanguage.define(sqlite),
  nim: () => StreamLanguage.define(nim), racket: () => StreamLanguage.define(schemeKeywords),
  tcl: () => StreamLanguage.define(tcl), ada: () => StreamLanguage.define(ada),
  scheme: () => StreamLanguage.define(schemeKeywords),
  // plaintext has none: its code is the output, there is nothing to mark.
};

// A first program per language: the first six ask for a name, to show that a run can be answered;
// the rest greet the world.
const samples = {
  python: 'name = input("Your name? ") or "stranger"\nprint(f"Hello, {name}!")\n',
  javascript: 'const rl = require("readline").createInterface({ input: process.stdin, output: process.stdout });\nrl.question("Your name? ", (name) => {\n  console.log(`Hello, ${name}!`);\n  rl.close();\n});\n',
  ruby: 'print "Your name? "\nname = gets.to_s.chomp\nputs "Hello, #{name}!" unless name.empty?\n',
  java: 'import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n        System.out.print("Your name? ");\n        System.out.flush();\n        String name = new Scanner(System.in).nextLine();\n        System.out.println("Hello, " + name + "!");\n    }\n}\n',
  go: 'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n\t"strings"\n)\n\nfunc main() {\n\tfmt.Print("Your name? ")\n\tname, _ := bufio.NewReader(os.Stdin).ReadString(\'\\n\')\n\tfmt.Printf("Hello, %s!\\n", strings.TrimSpace(name))\n}\n',
  cpp: '#include <iostream>\n#include <string>\n\nint main() {\n    std::string name;\n    std::cout << "Your name? " << std::flush;\n    std::getline(std::cin, name);\n    std::cout << "Hello, " << name << "!" << std::endl;\n    return 0;\n}\n',
  c: "#include <stdio.h>\n\nint main(void) {\n    printf(\"Hello, World!\\n\");\n    return 0;\n}\n",
  bash: "read -r -p \"Your name? \" name\nif [ -z \"$name\" ]; then name=\"stranger\"; fi\necho \"Hello, $name!\"\n",
  plaintext: "Hello, World!\n",
  typescript: "const greet = (name: string): string => `Hello, ${name}!`;\nconsole.log(greet(\"World\"));\n",
  rust: "fn main() {\n    let name = \"World\";\n    println!(\"Hello, {}!\", name);\n}\n",
  csharp: "using System;\n\npublic class Program\n{\n    public static void Main()\n    {\n        Console.WriteLine(\"Hello, World!\");\n    }\n}\n",
  php: "<?php\n$name = \"World\";\necho \"Hello, $name!\\n\";\n",
  kotlin: "fun main() {\n    val name = \"World\"\n    println(\"Hello, $name!\")\n}\n",
  scala: "object Main {\n  def main(args: Array[String]): Unit = {\n    val name = \"World\"\n    println(s\"Hello, $name!\")\n  }\n}\n",
  groovy: "def name = \"World\"\nprintln \"Hello, ${name}!\"\n",
  clojure: "(def name \"World\")\n(println (str \"Hello, \" name \"!\"))\n",
  haskell: "main :: IO ()\nmain = do\n  let name = \"World\"\n  putStrLn (\"Hello, \" ++ name ++ \"!\")\n",
  r: "name <- \"World\"\nif (nchar(name) > 0) cat(\"Hello, \", name, \"!\\n\", sep = \"\")\n",
  perl: "use strict;\nuse warnings;\n\nmy $name = \"World\";\nprint \"Hello, $name!\\n\";\n",
  lua: "local name = \"World\"\nprint(\"Hello, \" .. name .. \"!\")\n",
  elixir: "defmodule Main do\n  def hello(name), do: IO.puts(\"Hello, #{name}!\")\nend\n\nMain.hello(\"World\")\n",
  erlang: "main(_) ->\n    case \"World\" of\n        Name -> io:format(\"Hello, ~s!~n\", [Name])\n    end.\n",
  ocaml: "let () =\n  let name = \"World\" in\n  print_endline (\"Hello, \" ^ name ^ \"!\")\n",
  pascal: "program Hello;\nvar\n  name: string;\nbegin\n  name := 'World';\n  writeln('Hello, ', name, '!');\nend.\n",
  fortran: "program hello\n  implicit none\n  character(len=*), parameter :: name = \"World\"\n  print *, \"Hello, \" // name // \"!\"\nend program hello\n",
  d: "import std.stdio;\n\nvoid main()\n{\n    string name = \"World\";\n    writeln(\"Hello, \", name, \"!\");\n}\n",
  commonlisp: "(let ((name \"World\"))\n  (format t \"Hello, ~a!~%\" name))\n",
  prolog: ":- initialization(main).\n\nmain :- format(\"Hello, ~w!~n\", ['World']), halt.\n",
  cobol: "       IDENTIFICATION DIVISION.\n       PROGRAM-ID. HELLO.\n       PROCEDURE DIVISION.\n           DISPLAY \"Hello, World!\".\n           STOP RUN.\n",
  assembly: "global _start\n\nsection .data\nmsg: db \"Hello, World!\", 10\nlen: equ $ - msg\n\nsection .text\n_start:\n    mov rax, 1          ; write(1, msg, len)\n    mov rdi, 1\n    mov rsi, msg\n    mov rdx, len\n    syscall\n    mov rax, 60         ; exit(0)\n    xor rdi, rdi\n    syscall\n",
  objectivec: "#import <stdio.h>\n\nint main(void) {\n    @autoreleasepool {\n        printf(\"Hello, World!\\n\");\n    }\n    return 0;\n}\n",
  octave: "name = \"World\";\nif !isempty(name)\n  printf(\"Hello, %s!\\n\", name);\nend\n",
  sql: "SELECT 'Hello, ' || 'World' || '!' AS greeting;\n",
  nim: "let name = \"World\"\necho \"Hello, \", name, \"!\"\n",
  racket: "#lang racket\n\n(define name \"World\")\n(printf \"Hello, ~a!\\n\" name)\n",
  tcl: "set name \"World\"\nputs \"Hello, $name!\"\n",
  ada: "with Ada.Text_IO; use Ada.Text_IO;\n\nprocedure Main is\n   Name : constant String := \"World\";\nbegin\n   Put_Line (\"Hello, \" & Name & \"!\");\nend Main;\n",
  scheme: "(define name \"World\")\n(display (string-append \"Hello, \" name \"!\"))\n(newline)\n",
  "c-clang": "#include <stdio.h>\n\nint main(void) {\n    printf(\"Hello, World!\\n\");\n    return 0;\n}\n",
};
samples["cpp-clang"] = samples.cpp;

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
