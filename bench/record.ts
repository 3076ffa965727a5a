// The size and speed of the record: `node dist/bench/record.js [frames]` (npm run bench:record).
// 1. The demo pipeline (real demo models on the example frames) with avi-record after the router, against the
//    same pipeline without it: frames/s with and without the record, and the raw session.run time of the
//    detector for scale. 2. avi-record alone, fed the demo's verdict messages as fast as it takes them:
//    records/s. 3. Bytes on disk per frame: the record (SQLite, WAL checkpointed) and the kept JPEG.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import * as ort from 'onnxruntime-node';

const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));
const ROOT = path.resolve(__dirname, '..', '..');
const TYPES = ['avi-model', 'avi-detector', 'avi-crop', 'avi-classifier', 'avi-class-replace', 'avi-router', 'avi-audit-store', 'avi-record'];
const nodes = TYPES.map((t) => require(path.join(ROOT, 'nodes', `${t}.js`)));
const FRAMES = readdirSync(path.join(ROOT, 'example-images')).filter((f) => f.endsWith('.jpg')).map((f) => readFileSync(path.join(ROOT, 'example-images', f)));

function folderBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    const st = statSync(full);
    total += st.isDirectory() ? folderBytes(full) : st.size;
  }
  return total;
}

function pipeline(withRecord: boolean, folder: string): any[] {
  const end = withRecord ? 'record' : 'out';
  return [
    { id: 'det-model', type: 'avi-model', path: path.join(ROOT, 'models', 'pill-detector.onnx') },
    { id: 'cls-model', type: 'avi-model', path: path.join(ROOT, 'models', 'pill-defects.onnx') },
    { id: 'detector', type: 'avi-detector', model: 'det-model', confidence: 0.25, wires: [['crop']] },
    { id: 'crop', type: 'avi-crop', wires: [['classifier']] },
    { id: 'classifier', type: 'avi-classifier', model: 'cls-model', wires: [['replace']] },
    { id: 'replace', type: 'avi-class-replace', minConfidence: 0.5, wires: [['router']] },
    { id: 'router', type: 'avi-router', goodClasses: 'good', wires: [[end], [end], [end]] },
    { id: 'store', type: 'avi-audit-store', folder, chain: 'bench' },
    { id: 'record', type: 'avi-record', store: 'store', line: 'L1', wires: [['out'], ['out'], ['out']] },
    { id: 'out', type: 'helper' },
  ];
}

async function run(flow: any[], entry: string, messages: () => any[], window = 12): Promise<{ seconds: number; received: any[]; mainBusy: number }> {
  await helper.load(nodes, flow);
  const received: any[] = [];
  helper.getNode('out').on('input', (m: any) => received.push(m));
  // Warm-up: models load and the store opens before the clock starts.
  helper.getNode(entry).receive(messages()[0]);
  while (received.length < 1) await new Promise((r) => setTimeout(r, 5));
  received.length = 0;
  const batch = messages();
  const elu = performance.eventLoopUtilization();
  const started = performance.now();
  // At most `window` messages in flight: the model nodes queue 16 at most, avi-record 1000.
  for (let i = 0; i < batch.length; i++) {
    while (i - received.length >= window) await new Promise((r) => setTimeout(r, 1));
    helper.getNode(entry).receive(batch[i]);
  }
  while (received.length < batch.length) await new Promise((r) => setTimeout(r, 1));
  const seconds = (performance.now() - started) / 1000;
  // How busy Node-RED's thread was: everything on it, the test harness's sending included.
  const mainBusy = performance.eventLoopUtilization(elu).utilization;
  await helper.unload();
  return { seconds, received, mainBusy };
}

async function rawDetectorMs(): Promise<number> {
  const session = await ort.InferenceSession.create(path.join(ROOT, 'models', 'pill-detector.onnx'));
  const [name] = session.inputNames;
  const input = new ort.Tensor('float32', new Float32Array(3 * 320 * 320).fill(0.5), [1, 3, 320, 320]);
  for (let i = 0; i < 5; i++) await session.run({ [name]: input });
  const t0 = performance.now();
  for (let i = 0; i < 30; i++) await session.run({ [name]: input });
  return (performance.now() - t0) / 30;
}

async function main(): Promise<void> {
  const frames = Number(process.argv[2] ?? 120);
  const dir = mkdtempSync(path.join(tmpdir(), 'avi-bench-record-'));
  try {
    const demo = () => Array.from({ length: frames }, (_, i) => ({ payload: FRAMES[i % FRAMES.length], partId: `P${i}` }));
    // Alternated, best of two each: the machine is shared and its load changes under a run.
    const without1 = await run(pipeline(false, path.join(dir, 'unused')), 'detector', demo);
    const with1 = await run(pipeline(true, path.join(dir, 'pipeline1')), 'detector', demo);
    const without2 = await run(pipeline(false, path.join(dir, 'unused')), 'detector', demo);
    const withRecord = await run(pipeline(true, path.join(dir, 'pipeline')), 'detector', demo);
    const without = without1.seconds < without2.seconds ? without1 : without2;
    if (with1.seconds < withRecord.seconds) withRecord.seconds = with1.seconds;
    const raw = await rawDetectorMs();

    // avi-record alone, on the demo's own verdict messages.
    const verdicts = withRecord.received.map(({ verdict, detections, image, models, partId }) => ({ verdict, detections, image, models, partId }));
    const records = frames * 10;
    const folder = path.join(dir, 'alone');
    const alone = await run(
      [{ id: 'store', type: 'avi-audit-store', folder, chain: 'bench' }, { id: 'record', type: 'avi-record', store: 'store', wires: [['out'], ['out'], ['out']] }, { id: 'out', type: 'helper' }],
      'record',
      () => Array.from({ length: records }, (_, i) => ({ ...verdicts[i % verdicts.length], partId: `R${i}` })),
      500,
    );
    const db = new Database(path.join(folder, 'records.sqlite'));
    db.pragma('wal_checkpoint(TRUNCATE)');
    const rows = (db.prepare('SELECT count(*) AS n, sum(length(body)) AS body FROM avi_records').get() as { n: number; body: number });
    db.close();
    const dbBytes = statSync(path.join(folder, 'records.sqlite')).size;
    const jpegBytes = FRAMES.reduce((s, f) => s + f.length, 0) / FRAMES.length;
    const units = verdicts.reduce((s, v) => s + v.verdict.units.length, 0) / verdicts.length;

    const line = (k: string, v: string) => console.log(`${k.padEnd(46)} ${v}`);
    console.log(`avi-record, ${frames} demo frames (640x480 JPEG, ${units.toFixed(1)} units a frame), ${new Date().toISOString()}`);
    line('raw session.run, pill-detector 320x320', `${raw.toFixed(2)} ms`);
    line('demo pipeline without avi-record', `${(frames / without.seconds).toFixed(1)} frames/s`);
    line('demo pipeline with avi-record (SQLite)', `${(frames / withRecord.seconds).toFixed(1)} frames/s (${((100 * without.seconds) / withRecord.seconds).toFixed(0)} % of the speed without)`);
    line('avi-record alone (demo verdicts, SQLite)', `${(records / alone.seconds).toFixed(0)} records/s over ${records} records`);
    line("  Node-RED's thread busy per record (at most)", `${((alone.mainBusy * alone.seconds * 1000) / records).toFixed(3)} ms (the rest runs in the record writer's worker)`);
    line('record on disk per frame (SQLite, checkpointed)', `${(dbBytes / rows.n).toFixed(0)} bytes (JSON body ${(rows.body / rows.n).toFixed(0)} bytes)`);
    line('frame kept per frame (JPEG as it came)', `${jpegBytes.toFixed(0)} bytes (the same frame twice is kept once)`);
    line('pipeline folder after the run', `${folderBytes(path.join(dir, 'pipeline'))} bytes for ${frames} frames, ${FRAMES.length} distinct`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
