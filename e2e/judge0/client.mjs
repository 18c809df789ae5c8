// A Judge0 CE client written only from Judge0's API documentation (judge0/judge0 v1.13.1
// docs/api): the calls a judge or an online IDE makes, against the base URL in JUDGE0_URL and
// nothing else of ours. It prints what it saw as one JSON object; e2e/judge0_test.go checks it.
// Node 18+ (fetch); no package.
const base = process.env.JUDGE0_URL;
const b64 = (s) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s) => (s == null ? null : Buffer.from(s, "base64").toString("utf8"));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function call(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, json };
}

// "Get a Submission" until it leaves In Queue (1) and Processing (2).
async function poll(token, query) {
  for (let i = 0; i < 600; i++) {
    const r = await call("GET", `/submissions/${token}?${query}`);
    if (r.status !== 200) return r;
    if (r.json.status.id > 2) return r;
    await sleep(100);
  }
  throw new Error(`submission ${token} never finished`);
}

const out = {};
out.about = (await call("GET", "/about")).json;
out.languages = (await call("GET", "/languages")).json;
out.statuses = (await call("GET", "/statuses")).json;
out.configInfo = (await call("GET", "/config_info")).json;

// Pick Python by name from the listing, as a client that does not hard-code ids does.
const python = out.languages.find((l) => l.name.startsWith("Python"));

// Create a Submission with base64_encoded=true, wait=false; then poll it.
const source = 'name = input()\nprint(f"hello, {name}")\n';
const created = await call("POST", "/submissions?base64_encoded=true&wait=false", {
  source_code: b64(source), language_id: python.id, stdin: b64("Judge0"), expected_output: b64("hello, Judge0"),
});
out.created = created;
const got = await poll(created.json.token, "base64_encoded=true&fields=*");
out.polled = got.json;
out.polledStdout = unb64(got.json.stdout);

// Create a Submission with wait=true (plain text).
out.waited = (await call("POST", "/submissions?wait=true", {
  source_code: "print(6 * 7)", language_id: 71,
})).json;

// Create a Submission Batch, then Get a Submission Batch until every one is done.
const batch = await call("POST", "/submissions/batch?base64_encoded=true", {
  submissions: [
    { language_id: 71, source_code: b64('print("hello from Python")') },
    { language_id: 123456789, source_code: b64('print("hello from Python")') },
    { language_id: 71, source_code: b64("import sys\nsys.exit(3)") },
  ],
});
out.batchCreated = batch;
const tokens = batch.json.filter((x) => x.token).map((x) => x.token).join(",");
let shown;
for (let i = 0; i < 600; i++) {
  shown = await call("GET", `/submissions/batch?tokens=${tokens}&base64_encoded=true&fields=*`);
  if (shown.json.submissions.every((s) => s.status_id > 2)) break;
  await sleep(100);
}
out.batchShown = shown.json.submissions.map((s) => ({
  token: s.token, status_id: s.status_id, exit_code: s.exit_code, stdout: unb64(s.stdout),
  // The timestamps as a client parses them (the Python SDK: %Y-%m-%dT%H:%M:%S.%fZ).
  created: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(s.created_at),
  finished: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(s.finished_at),
}));

// Errors as the documentation shows them.
out.noLanguage = await call("POST", "/submissions", { source_code: "print(1)" });
out.unknownToken = await call("GET", "/submissions/00000000-0000-0000-0000-000000000000");
out.badFields = await call("GET", `/submissions/${created.json.token}?fields=stdout,nope`);

console.log(JSON.stringify(out));
