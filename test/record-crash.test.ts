// The record under stress, in real Node-RED processes: SIGKILL during a burst of writes leaves a store that
// opens, a chain that verifies and no partial record; two gateways writing to one PostgreSQL at once each
// keep an intact chain of their own.
import { expect } from 'chai';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { openStore, verifyStore } from '../src/core/records/store';
import { REPO_ROOT, tempDir } from './support/fixtures';
import { postgresMissing, startPostgres, type Postgres } from './support/postgres';
import { startNodeRed } from './support/node-red-process';
import { avi } from './support/review-flow';

/** A flow that sends `count` recorded verdicts as fast as Node-RED takes them, each with the same real frame. */
/** POST /go, again until the flow's http-in node has started and answers. */
/** Waits until the gateway's flow answers, so that bursts started together run together. */
async function ready(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await fetch(`${url}/ready`).catch(() => undefined))?.ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url}/ready never answered`);
}

async function go(url: string): Promise<void> {
  await ready(url);
  const response = await fetch(`${url}/go`, { method: 'POST' });
  if (!response.ok) throw new Error(`${url}/go answered ${response.status}`);
}

function burstFlow(count: number, store: Record<string, unknown>): unknown[] {
  return [
    { id: 'tab', type: 'tab', label: 'burst' },
    { id: 'store', type: 'avi-audit-store', folder: 'avi-records', file: 'records.sqlite', retentionDays: 365, imageMaxGB: 20, spoolMax: 10000, ...store },
    // POST /go starts the burst, so that two gateways can be started at the same moment.
    { id: 'go', type: 'http in', z: 'tab', url: '/go', method: 'post', upload: false, wires: [['read', 'ok']] },
    { id: 'ok', type: 'http response', z: 'tab', statusCode: '200', headers: {}, wires: [] },
    { id: 'ready', type: 'http in', z: 'tab', url: '/ready', method: 'get', upload: false, wires: [['ok']] },
    { id: 'read', type: 'file in', z: 'tab', filename: path.join(REPO_ROOT, 'example-images', 'line-0001.jpg'), filenameType: 'str', format: '', chunk: false, sendError: false, encoding: 'none', allProps: false, wires: [['burst']] },
    {
      id: 'burst', type: 'function', z: 'tab', outputs: 1, wires: [['record']],
      func: `const frame = msg.payload;
let i = 0;
function more() {
  for (let k = 0; k < 50 && i < ${count}; k++, i++) {
    const result = i % 7 === 0 ? 'FAIL' : 'PASS';
    node.send({ partId: 'K' + i, image: { width: 640, height: 480, channels: 3, data: Buffer.alloc(0), encoded: frame, format: 'jpeg' },
      detections: [{ id: 0, class: result === 'FAIL' ? 'crack' : 'good', classId: 0, confidence: 0.9, box: { x: 10, y: 10, width: 40, height: 40 } }],
      verdict: { result, units: [{ detectionId: 0, class: result === 'FAIL' ? 'crack' : 'good', confidence: 0.9, result }], counts: { total: 1, pass: result === 'PASS' ? 1 : 0, fail: result === 'FAIL' ? 1 : 0, review: 0, byClass: {} }, reasons: [], timestamp: new Date().toISOString() } });
  }
  if (i < ${count}) setTimeout(more, 5);
}
more();
return null;`,
    },
    { id: 'record', type: 'avi-record', z: 'tab', store: 'store', line: 'L1', maxInFlight: 100000, wires: [[], [], []] },
  ];
}

describe('the record under stress (real Node-RED processes)', function () {
  this.timeout(240_000);
  const tmp = tempDir('avi-crash-');
  after(() => tmp.cleanup());

  it('kill -9 of Node-RED during a burst of writes: the store opens, the chain verifies, no partial record', async () => {
    const userDir = path.join(tmp.dir, 'sqlite');
    const file = path.join(userDir, 'avi-records', 'records.sqlite');
    const red = await startNodeRed(userDir, burstFlow(20000, { storeType: 'sqlite', chain: 'gw-crash' }));
    let stored = 0;
    try {
      await go(red.url);
      for (let waited = 0; stored < 500 && waited < 120_000; waited += 50) {
        await new Promise((r) => setTimeout(r, 50));
        try {
          const db = new Database(file, { readonly: true, fileMustExist: true });
          stored = (db.prepare('SELECT count(*) AS n FROM avi_records').get() as { n: number }).n;
          db.close();
        } catch {
          // not created yet
        }
      }
      expect(stored, red.output()).to.be.at.least(500);
    } finally {
      await red.kill9();
    }
    const db = new Database(file);
    expect(db.pragma('integrity_check', { simple: true })).to.equal('ok');
    const after = (db.prepare('SELECT count(*) AS n FROM avi_records').get() as { n: number }).n;
    db.close();
    expect(after).to.be.at.least(stored).and.below(20000);
    const verify = avi(['audit', 'verify', file]);
    expect(verify.status, verify.out).to.equal(0);
    expect(verify.out).to.contain(`chain gw-crash: ${after} records, #1..#${after}, intact`);
  });

  describe('two gateways on one PostgreSQL', function () {
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

    it('write at once, each to its own chain, and both chains verify', async () => {
      const url = await pg.createDatabase('plant');
      const count = 1500;
      const gateways = await Promise.all(
        ['gw-a', 'gw-b'].map((chain) => startNodeRed(path.join(tmp.dir, chain), burstFlow(count, { storeType: 'postgres', chain }), { store: { url } })),
      );
      const store = await openStore(url);
      try {
        // Both flows up first: a gateway still starting would otherwise write after the other had finished.
        await Promise.all(gateways.map((g) => ready(g.url)));
        await Promise.all(gateways.map((g) => go(g.url)));
        let total = 0;
        for (let waited = 0; total < 2 * count && waited < 120_000; waited += 200) {
          await new Promise((r) => setTimeout(r, 200));
          total = (await store.records({})).length;
        }
        const reports = await verifyStore(store);
        expect(reports.map((r) => `${r.chain}:${r.records}:${r.breaks.length}`)).to.deep.equal([`gw-a:${count}:0`, `gw-b:${count}:0`]);
        // The two wrote at the same time: their rows interleave in the table.
        const rowIds: Record<string, number[]> = { 'gw-a': [], 'gw-b': [] };
        for (const chain of ['gw-a', 'gw-b']) await store.eachRow(chain, (row) => rowIds[chain].push(row.rowId));
        expect(Math.min(...rowIds['gw-b'])).to.be.below(Math.max(...rowIds['gw-a']));
        expect(Math.min(...rowIds['gw-a'])).to.be.below(Math.max(...rowIds['gw-b']));
      } finally {
        await store.close();
        await Promise.all(gateways.map((g) => g.stop()));
      }
      const verify = avi(['audit', 'verify', url]);
      expect(verify.status, verify.out).to.equal(0);
      expect(verify.out).to.contain(`chain gw-a: ${count} records`).and.contain(`chain gw-b: ${count} records`);
    });
  });
});
