// Spike: from a low rate to PEAK requests/s (default 50) in 10 s, held 1 min, and back. The server
// should shed what it cannot run with 429 (queue full) rather than time out, and recover after:
// the error threshold is looser than for steady load, the latency one applies to what was run.
//   k6 run -e BASE_URL=http://127.0.0.1:3000 -e PEAK=50 loadtest/k6/spike.js
import { execute, thresholds } from './lib.js';

const peak = Number(__ENV.PEAK || 50);

export const options = {
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: 2,
      timeUnit: '1s',
      preAllocatedVUs: 50,
      maxVUs: 300,
      stages: [
        { target: 2, duration: '30s' },
        { target: peak, duration: '10s' },
        { target: peak, duration: '1m' },
        { target: 2, duration: '10s' },
        { target: 2, duration: '1m' },
      ],
    },
  },
  thresholds: thresholds(2000, 0.10),
};

export default function () {
  execute();
}
