// The deterministic workload shared by the crash test and its child process:
// batch `i` of round `round` always has the same bytes, so the test can
// regenerate what the child says was acknowledged and compare byte for byte.
import { encodeRecordBatch } from '../../dist/index.js';

function lcg(seed) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
}

/** RecordBatch bytes for (round, i): 1–20 records of 10–3000 bytes, fixed timestamps. */
export function workloadBatch(round, i) {
  const next = lcg(round * 1_000_003 + i);
  const count = 1 + (next() % 20);
  const records = [];
  for (let j = 0; j < count; j++) {
    const length = 10 + (next() % 3000);
    const value = Buffer.alloc(length, `${round}:${i}:${j}|`);
    records.push({ key: `key-${i % 97}`, value, headers: j % 3 === 0 ? [{ key: 'round', value: String(round) }] : [], timestamp: 1_700_000_000_000 + round * 100_000 + i });
  }
  return encodeRecordBatch(records, { timestamp: 1_700_000_000_000 });
}
