// Smoke: one user, a few requests of each documented kind; fails on any error.
//   k6 run -e BASE_URL=http://127.0.0.1:3000 loadtest/k6/smoke.js
import { sleep } from 'k6';
import { execute, batch, thresholds } from './lib.js';

export const options = {
  vus: 1,
  iterations: 10,
  thresholds: thresholds(1000, 0.01),
};

export default function () {
  execute();
  if (__ITER % 5 === 0) {
    batch();
  }
  sleep(0.2);
}
