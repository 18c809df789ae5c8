// Steady load: a constant arrival rate (RATE per second, default 10) for DURATION (default 5m),
// with enough VUs to keep it; size RATE to the pools (poolSize per language) you run.
//   k6 run -e BASE_URL=http://127.0.0.1:3000 -e RATE=10 -e DURATION=5m loadtest/k6/load.js
import { execute, thresholds } from './lib.js';

export const options = {
  scenarios: {
    steady: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 10),
      timeUnit: '1s',
      duration: __ENV.DURATION || '5m',
      preAllocatedVUs: 20,
      maxVUs: 100,
    },
  },
  thresholds: thresholds(500, 0.01),
};

export default function () {
  execute();
}
