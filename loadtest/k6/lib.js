// Shared by the CodeExec k6 scripts: the request bodies (bodies.json, the shapes the README
// documents for POST /api/v1/execute and /api/v1/batch) and the checks on an answer.
import http from 'k6/http';
import { check } from 'k6';

// BASE_URL is the server, e.g. k6 run -e BASE_URL=http://127.0.0.1:3000 smoke.js
export const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:3000';

// open() runs once per VU in the init context; the bodies are the test's data, not code.
const bodies = JSON.parse(open('./bodies.json'));

const params = { headers: { 'Content-Type': 'application/json' }, tags: { route: '/api/v1/execute' } };

// execute posts one documented /api/v1/execute body (chosen by iteration) and checks the answer.
// A 429 (queue full, rate limit) is the server protecting itself: it counts as a failed request
// in http_req_failed, which the thresholds bound.
export function execute() {
  const body = bodies.execute[__ITER % bodies.execute.length];
  const res = http.post(`${BASE_URL}/api/v1/execute`, JSON.stringify(body), params);
  check(res, {
    'status 200': (r) => r.status === 200,
    'program ran ok': (r) => r.status === 200 && r.json('status') === 'ok',
  });
  return res;
}

// batch posts the documented /api/v1/batch body and checks every verdict.
export function batch() {
  const res = http.post(`${BASE_URL}/api/v1/batch`, JSON.stringify(bodies.batch),
    { headers: params.headers, tags: { route: '/api/v1/batch' } });
  check(res, {
    'batch 200': (r) => r.status === 200,
    'all accepted': (r) => r.status === 200 &&
      r.json('results').every((x) => x.succeeded && x.result.verdict === 'accepted'),
  });
  return res;
}

// thresholds shared by the scripts: p95 latency and error rate (override with -e P95_MS=...).
export function thresholds(p95ms, maxErrorRate) {
  return {
    http_req_failed: [`rate<${__ENV.MAX_ERROR_RATE || maxErrorRate}`],
    'http_req_duration{route:/api/v1/execute}': [`p(95)<${__ENV.P95_MS || p95ms}`],
    checks: [`rate>${1 - (__ENV.MAX_ERROR_RATE || maxErrorRate)}`],
  };
}
