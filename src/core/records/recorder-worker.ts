// The worker thread that owns a Recorder: Node-RED's thread posts records here and never waits on disk or
// database (better-sqlite3 blocks the thread that calls it).
import { parentPort, workerData } from 'node:worker_threads';
import { Recorder, type RecorderOptions } from './recorder';

const recorder = new Recorder(workerData as RecorderOptions);
recorder.onState = (state) => parentPort!.postMessage({ event: 'state', state });
const ready = recorder.open();

const methods: Record<string, (...args: any[]) => unknown> = {
  record: (record, frame) => recorder.record(record, frame),
  recordNow: (record, resolveQueue) => recorder.recordNow(record, resolveQueue),
  state: () => recorder.state(),
  applyRetention: (nowMs) => recorder.applyRetention(nowMs),
  store: (method, ...args) => recorder.storeCall(method, ...args),
  close: () => recorder.close(),
};

parentPort!.on('message', async ({ id, method, args }: { id: number; method: string; args: unknown[] }) => {
  try {
    await ready;
    const result = await methods[method](...args);
    parentPort!.postMessage({ id, result });
  } catch (err) {
    parentPort!.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
