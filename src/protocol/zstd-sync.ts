// Synchronous zstd for the synchronous record-batch helpers
// (encodeRecordBatch/decodeRecordBatches). @mongodb-js/zstd 1.2.2 only has
// Promise-returning functions (later versions, which add synchronous ones,
// download their binary at install time), so the call runs on one helper
// thread while the calling thread blocks on Atomics.wait; the answer comes
// back through a MessagePort read with receiveMessageOnPort. The helper thread
// starts on first use, is unref'd (it never keeps a process alive) and serves
// every later call. The broker never uses this path: it calls the
// asynchronous codec directly.
import { createRequire } from 'node:module';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

/** The module path of @mongodb-js/zstd's binding (compression.ts says why not its index.js). */
const ZSTD_BINDING = '@mongodb-js/zstd/bindings.js';

/** A call that takes longer than this is abandoned with an error (a hung helper must not hang its caller forever). */
const CALL_TIMEOUT_MS = 60_000;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const zstd = require(workerData.zstdPath);
const port = workerData.port;
parentPort.on('message', async ({ op, data, level, signal }) => {
  const input = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let reply;
  try {
    const output = op === 'compress' ? await zstd.compress(input, level) : await zstd.decompress(input);
    reply = { ok: true, output };
  } catch (error) {
    reply = { ok: false, message: String((error && error.message) || error) };
  }
  port.postMessage(reply);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
});
`;

interface Helper {
  worker: Worker;
  port: MessagePort;
}

let helper: Helper | undefined;

function start(): Helper {
  const zstdPath = createRequire(import.meta.url).resolve(ZSTD_BINDING);
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { zstdPath, port: port2 }, transferList: [port2] });
  worker.unref();
  port1.unref();
  worker.on('error', () => {
    helper = undefined;
  });
  worker.on('exit', () => {
    helper = undefined;
  });
  return { worker, port: port1 };
}

/** Runs @mongodb-js/zstd's compress (with `level`) or decompress synchronously. */
export function zstdSync(op: 'compress' | 'decompress', data: Buffer, level?: number): Buffer {
  helper ??= start();
  const signal = new Int32Array(new SharedArrayBuffer(4));
  // A copy of exactly the payload, moved to the helper: posting `data` itself
  // would clone the whole ArrayBuffer behind it (a pooled or segment buffer).
  const payload = new Uint8Array(data);
  helper.worker.postMessage({ op, data: payload, level, signal }, [payload.buffer]);
  if (Atomics.wait(signal, 0, 0, CALL_TIMEOUT_MS) === 'timed-out') {
    void helper.worker.terminate();
    helper = undefined;
    throw new Error(`zstd ${op} did not finish within ${CALL_TIMEOUT_MS} ms`);
  }
  const received = receiveMessageOnPort(helper.port);
  if (received === undefined) throw new Error(`zstd ${op}: the helper thread sent no answer`);
  const reply = received.message as { ok: true; output: Uint8Array } | { ok: false; message: string };
  if (!reply.ok) throw new Error(reply.message);
  return Buffer.from(reply.output.buffer, reply.output.byteOffset, reply.output.byteLength);
}
