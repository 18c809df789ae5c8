// A Piston client over the ws package: it speaks Piston's /api/v2/connect to the server at
// $SERVER and prints what each session saw as JSON (e2e/live_test.go checks it).
import WebSocket from "ws";

const url = process.env.SERVER.replace(/^http/, "ws") + "/api/v2/connect";
const init = (language, content) => ({ type: "init", language, version: "*", files: [{ content }] });

// session opens a connection, sends first(ws) on open, calls onMessage(ws, msg, state) for each
// message, and resolves with the messages, the output and the close code and reason.
function session(first, onMessage = () => {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const state = { messages: [], stdout: "", stderr: "" };
    ws.on("open", () => first(ws));
    ws.on("message", (raw) => {
      const msg = JSON.parse(raw.toString());
      state.messages.push(msg);
      if (msg.type === "data") state[msg.stream] += msg.data;
      onMessage(ws, msg, state);
    });
    ws.on("close", (code, reason) => resolve({ ...state, code, reason: reason.toString() }));
    ws.on("error", (err) => resolve({ ...state, code: -1, reason: String(err) }));
  });
}

const send = (ws, v) => ws.send(typeof v === "string" ? v : JSON.stringify(v));
const dialogues = JSON.parse(process.env.DIALOGUES);
const out = { dialogues: {}, codes: {} };

for (const d of dialogues) {
  let answered = false;
  out.dialogues[d.lang] = await session(
    (ws) => send(ws, init(d.lang, d.code)),
    (ws, msg, st) => {
      if (!answered && st.stdout === "Your name? ") {
        answered = true;
        send(ws, { type: "data", stream: "stdin", data: "Ada\n" });
      }
    },
  );
}

let interrupted = false;
out.signal = await session(
  (ws) => send(ws, init("python", "import time\ni = 0\nwhile True:\n    print(i, flush=True)\n    i += 1\n    time.sleep(0.05)\n")),
  (ws, msg, st) => {
    if (!interrupted && st.stdout.includes("2\n")) {
      interrupted = true;
      send(ws, { type: "signal", signal: "SIGINT" });
    }
  },
);

// Every close code of Piston's protocol.
const started = (then) => (ws, msg) => { if (msg.type === "stage" && msg.stage === "run") then(ws); };
out.codes.alreadyInitialized = await session((ws) => { send(ws, init("python", "input()")); send(ws, init("python", "input()")); });
out.codes.initTimeout = await session(() => {});
out.codes.badJSON = await session((ws) => send(ws, "{"));
out.codes.badInit = await session((ws) => send(ws, init("brainfuck", "+++.")));
out.codes.unknownType = await session((ws) => send(ws, { type: "kill" }));
out.codes.dataFirst = await session((ws) => send(ws, { type: "data", stream: "stdin", data: "x" }));
out.codes.signalFirst = await session((ws) => send(ws, { type: "signal", signal: "SIGKILL" }));
out.codes.notStdin = await session((ws) => send(ws, init("python", "input()")), started((ws) => send(ws, { type: "data", stream: "stdout", data: "x" })));
out.codes.invalidSignal = await session((ws) => send(ws, init("python", "input()")), started((ws) => send(ws, { type: "signal", signal: "SIGFOO" })));
out.codes.completed = await session((ws) => send(ws, init("python", "print('done')")));

console.log(JSON.stringify(out));
