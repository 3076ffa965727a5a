// avi-record in a real Node-RED runtime: every verdict recorded with its frame, messages on by result in
// order, and a store that goes down: records spool (status says so), are written when it is back, and a
// full spool is an error on the message.
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { sha256Hex } from '../src/core/records/canonical';
import { openStore, verifyStore } from '../src/core/records/store';
import type { Detection } from '../src/core/types';
import { frameWith, tempDir } from './support/fixtures';
import { postgresMissing, startPostgres, type Postgres } from './support/postgres';

const helper = require('node-red-node-test-helper');
const nodes = ['avi-router', 'avi-record', 'avi-audit-store'].map((n) => require(`../../nodes/${n}.js`));
helper.init(require.resolve('node-red'));

const PORTS = ['pass', 'reject', 'review'];

function det(id: number, cls: string, confidence: number, box = { x: 10 + 30 * id, y: 10, width: 24, height: 24 }): Detection {
  return { id, class: cls, classId: 0, confidence, box, detectorClass: 'pill', detectorConfidence: 0.97, classification: { class: cls, classId: 0, confidence, scores: {} } };
}

async function jpegFrame(seed: number) {
  const f = frameWith(128, 64, [{ x: 10 + seed, y: 10, width: 24, height: 24, colour: [200, 40 + seed, 40] }]);
  const encoded = await f.jpeg();
  return { width: 128, height: 64, channels: 3, data: f.raw.data, encoded, format: 'jpeg' };
}

interface Flow {
  received: Array<[string, any]>;
  record: any;
  next(n: number, ms?: number): Promise<Array<[string, any]>>;
}

async function loadFlow(storeConfig: Record<string, unknown>, credentials: Record<string, unknown> = {}): Promise<Flow> {
  const flow = [
    { id: 'store', type: 'avi-audit-store', folder: storeConfig.folder, chain: 'test-gw', ...storeConfig },
    { id: 'router', type: 'avi-router', goodClasses: 'good', rules: [{ class: 'crack', reject: 0.6, review: 0.3, severity: 'critical' }], wires: [['record'], ['record'], ['record']] },
    { id: 'record', type: 'avi-record', store: 'store', line: 'L1', cell: 'C2', wires: [['pass'], ['reject'], ['review']] },
    ...PORTS.map((id) => ({ id, type: 'helper' })),
  ];
  await helper.load(nodes, flow, { store: credentials });
  const received: Array<[string, any]> = [];
  for (const port of PORTS) helper.getNode(port).on('input', (msg: any) => received.push([port, msg]));
  return {
    received,
    record: helper.getNode('record'),
    async next(n, ms = 10_000) {
      for (let waited = 0; received.length < n && waited < ms; waited += 10) await new Promise((r) => setTimeout(r, 10));
      return received.splice(0);
    },
  };
}

function statuses(node: any): string[] {
  return node.status.args.map((a: any[]) => `${a[0].fill}:${a[0].text}`);
}

describe('avi-record in Node-RED', function () {
  this.timeout(60_000);
  const tmp = tempDir('avi-record-');
  after(() => tmp.cleanup());
  afterEach(async () => {
    await helper.unload();
  });

  it('records every verdict with its frame, units, models and rules, and sends each message on by result, in order', async () => {
    const folder = path.join(tmp.dir, 'sqlite-1');
    const flow = await loadFlow({ folder });
    const router = helper.getNode('router');
    const frames = await Promise.all([0, 1, 2, 3, 4, 5].map(jpegFrame));
    const models = { detector: { name: 'det', path: 'd.onnx', sha256: 'a'.repeat(64), format: 'yolov8', inputWidth: 320, inputHeight: 320, executionProvider: 'cpu' } };
    const conditions: Array<[string, number]> = [['good', 0.9], ['crack', 0.9], ['crack', 0.4], ['good', 0.95], ['crack', 0.8], ['good', 0.99]];
    conditions.forEach(([cls, conf], i) => router.receive({ image: frames[i], detections: [det(0, 'good', 0.9), det(1, cls, conf)], models, partId: `P${i}`, batch: 'B7', recipe: { name: 'blister-10', version: 3 } }));
    const got = await flow.next(6);
    expect(got.map(([port, msg]) => `${port}:${msg.partId}`)).to.deep.equal(['pass:P0', 'reject:P1', 'review:P2', 'pass:P3', 'reject:P4', 'pass:P5']);
    expect(got.map(([, msg]) => msg.record.seq)).to.deep.equal([1, 2, 3, 4, 5, 6]);
    const first = got[1][1];
    expect(first.record.status).to.equal('stored');
    const frameFile = path.join(folder, 'images', first.record.body.frame.file);
    expect(path.basename(frameFile)).to.equal(`${sha256Hex(frames[1].encoded)}.jpg`);
    expect(readFileSync(frameFile).equals(frames[1].encoded)).to.equal(true);

    const store = await openStore(path.join(folder, 'records.sqlite'), { readonly: true });
    try {
      const [report] = await verifyStore(store);
      expect(report).to.include({ chain: 'test-gw', records: 6 });
      expect(report.breaks).to.deep.equal([]);
      const rec = (await store.find(first.record.id))!;
      expect(rec.hash).to.equal(first.record.hash);
      const body = rec.body as any;
      expect(body).to.include({ line: 'L1', cell: 'C2', partId: 'P1', batch: 'B7', result: 'FAIL' });
      expect(body.recipe).to.deep.equal({ name: 'blister-10', version: 3 });
      expect(body.frame).to.include({ sha256: sha256Hex(frames[1].encoded), width: 128, height: 64, format: 'jpeg' });
      expect(body.units[1]).to.deep.include({ detectionId: 1, box: { x: 40, y: 10, width: 24, height: 24 }, detector: { class: 'pill', confidence: 0.97 }, classifier: { class: 'crack', confidence: 0.9 }, result: 'FAIL' });
      expect(body.units[1].reason).to.equal('crack 0.90 >= reject 0.60 (critical)');
      // Only what the model nodes sealed on the message reaches the verdict; it is recorded as the verdict has it.
      expect(body.models).to.deep.equal(first.verdict.models ?? {});
      expect(body.rules.classRules[0]).to.include({ class: 'crack', reject: 0.6 });
      expect(body.rulesHash).to.equal(first.verdict.rulesHash);
    } finally {
      await store.close();
    }
  });

  it('a message without a verdict is an error on that message; the next one is recorded', async () => {
    const flow = await loadFlow({ folder: path.join(tmp.dir, 'sqlite-2') });
    const record = flow.record;
    const errored = new Promise<any>((resolve) => record.once('call:error', (call: any) => resolve(call)));
    record.receive({ payload: 'no verdict here' });
    const call = await errored;
    expect(String(call.args[0]?.message ?? call.args[0])).to.match(/no msg\.verdict: avi-record records what avi-router decided/);
    helper.getNode('router').receive({ image: await jpegFrame(1), detections: [det(0, 'good', 0.9)] });
    const [[port, msg]] = await flow.next(1);
    expect(port).to.equal('pass');
    expect(msg.record.seq).to.equal(1);
  });

  describe('with PostgreSQL going down', function () {
    let pg: Postgres;
    before(async function () {
      const missing = postgresMissing();
      if (missing) {
        console.log(`      skipped: ${missing}`);
        this.skip();
      }
      pg = await startPostgres();
    });
    after(async () => pg?.stop());

    it('spools records while the store is down (status says so), writes them in order when it is back, and a full spool is an error on the message', async () => {
      const url = await pg.createDatabase('spool');
      const folder = path.join(tmp.dir, 'pg-1');
      const flow = await loadFlow({ folder, storeType: 'postgres', spoolMax: 5 }, { url });
      const router = helper.getNode('router');
      router.receive({ image: await jpegFrame(0), detections: [det(0, 'good', 0.9)], partId: 'up-1' });
      const [[, up]] = await flow.next(1);
      expect(up.record).to.include({ status: 'stored', seq: 1 });

      await pg.pause();
      for (let i = 0; i < 5; i++) router.receive({ image: await jpegFrame(i + 1), detections: [det(0, 'good', 0.9)], partId: `down-${i}` });
      const down = await flow.next(5, 20_000);
      expect(down.map(([, m]) => `${m.partId}:${m.record.status}`)).to.deep.equal(['down-0:spooled', 'down-1:spooled', 'down-2:spooled', 'down-3:spooled', 'down-4:spooled']);
      expect(existsSync(path.join(folder, 'spool.jsonl'))).to.equal(true);
      expect(statuses(flow.record).some((s) => /^yellow:avi-record\.status\.spooling/.test(s))).to.equal(true);

      // The sixth does not fit: an error on its message, not a silent loss.
      const errored = new Promise<any>((resolve) => flow.record.once('call:error', (call: any) => resolve(call)));
      router.receive({ image: await jpegFrame(9), detections: [det(0, 'good', 0.9)], partId: 'down-5' });
      const call = await errored;
      expect(String(call.args[0]?.message ?? call.args[0])).to.match(/record spool full: 5 records already wait/);
      expect(call.args[1].partId).to.equal('down-5');

      await pg.resume();
      const store = await openStore(url);
      try {
        let records: any[] = [];
        const spoolFile = path.join(folder, 'spool.jsonl');
        // Stored first, then taken off the spool: wait for both.
        for (let waited = 0; (records.length < 6 || readFileSync(spoolFile, 'utf8') !== '') && waited < 20_000; waited += 200) {
          await new Promise((r) => setTimeout(r, 200));
          records = await store.records({});
        }
        expect(records.map((r) => r.body.partId)).to.deep.equal(['up-1', 'down-0', 'down-1', 'down-2', 'down-3', 'down-4']);
        const [report] = await verifyStore(store);
        expect(report.breaks).to.deep.equal([]);
      } finally {
        await store.close();
      }
      expect(readFileSync(path.join(folder, 'spool.jsonl'), 'utf8')).to.equal('');
    });
  });
});
