// Gregor's storage engine embedded in a Node.js program: one partition log
// under ./data/example-0, a few records appended and read back.
// Outside this repository, import from 'gregor'. Run it with `npm run example`.
import { openLog, encodeRecordBatch, decodeRecordBatches, EARLIEST_TIMESTAMP } from '../dist/index.js';

const log = await openLog('./data/example-0', { 'segment.bytes': 16 * 1024 * 1024 });
console.log(`opened ./data/example-0: offsets [${log.logStartOffset}, ${log.logEndOffset})`);

const batch = encodeRecordBatch([
  { key: 'user-1', value: JSON.stringify({ event: 'login' }), headers: [{ key: 'source', value: 'web' }] },
  { key: 'user-2', value: JSON.stringify({ event: 'purchase', amount: 42 }) },
]);
const { baseOffset, lastOffset } = await log.append(batch, { durable: true });
console.log(`appended offsets ${baseOffset}..${lastOffset} (fsynced)`);

const earliest = await log.offsetForTimestamp(EARLIEST_TIMESTAMP);
for (const { records } of decodeRecordBatches(await log.read(Math.max(earliest.offset, baseOffset - 4), 64 * 1024))) {
  for (const r of records) console.log(`  offset ${r.offset} key=${r.key} value=${r.value}`);
}
await log.close();
