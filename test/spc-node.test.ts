// avi-spc in a real Node-RED runtime, including a stop and start with a file-backed context store.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChartPoint, SpcAlert, SpcEvent, SpcResolved } from '../src/core/spc/spc';
import type { Detection } from '../src/core/types';

// node-red-node-test-helper ships no type declarations.
const helper = require('node-red-node-test-helper');
const spcNode = require('../../nodes/avi-spc.js');
const routerNode = require('../../nodes/avi-router.js');

helper.init(require.resolve('node-red'));

const ROOT = path.resolve(__dirname, '..', '..');

interface Received {
  points: ChartPoint[];
  events: SpcEvent[];
  topics: string[];
  errors: string[];
}

function spcFlow(config: Record<string, unknown>): any[] {
  return [
    { id: 'spc', type: 'avi-spc', ...config, wires: [['points'], ['alerts']] },
    { id: 'points', type: 'helper' },
    { id: 'alerts', type: 'helper' },
  ];
}

/** Collects what the flow sends on both outputs and the errors the node reports on messages. */
function listen(): Received {
  const got: Received = { points: [], events: [], topics: [], errors: [] };
  helper.getNode('points').on('input', (msg: any) => {
    got.points.push(msg.payload);
    got.topics.push(msg.topic);
  });
  helper.getNode('alerts').on('input', (msg: any) => got.events.push(msg.payload));
  // Errors reported on a message (for a Catch node), not the ones logged at start.
  helper.getNode('spc').on('call:error', (call: any) => {
    if (call.args[1]) got.errors.push(String(call.args[0]?.message ?? call.args[0]));
  });
  return got;
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let waited = 0; waited < 3000; waited += 5) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('avi-spc in Node-RED', function () {
  afterEach(async () => {
    await helper.unload();
    helper.settings({});
  });

  it('charts with only subgroupSize and baselineSubgroups set, and says p, UCL and n in its status', async () => {
    await helper.load(spcNode, spcFlow({ subgroupSize: 500, baselineSubgroups: 4 }));
    const got = listen();
    const spc = helper.getNode('spc');
    const defectives = [5, 4, 6, 5, 5, 40];
    defectives.forEach((d, i) => {
      for (let part = 0; part < 5; part++) spc.receive({ topic: 'press-1', payload: { inspected: 100, defective: part === 0 ? d : 0 }, timestamp: i * 60_000 + part });
    });
    await waitFor(() => got.points.length === 6 && got.events.length === 1, '6 points and an alert');
    expect(got.points.map((p) => p.n)).to.deep.equal([500, 500, 500, 500, 500, 500]);
    expect(got.points[3]).to.include({ phase: 'baseline', centre: 0.01, ucl: 13 / 500, lcl: 0 });
    expect(got.points[5]).to.include({ key: 'press-1', class: null, phase: 'monitoring', defective: 40, rate: 0.08, centre: 0.01 });
    expect(got.points[5].violations).to.deep.include({ rule: 'we1', direction: 'up' });
    expect(got.topics[5]).to.equal('press-1');
    const alert = got.events[0] as SpcAlert;
    expect(alert).to.include({ type: 'alert', key: 'press-1', rule: 'we1', severity: 'critical', since: 5 * 60_000 + 4 });
    expect(spc.status.lastCall.args[0]).to.deep.equal({ fill: 'red', shape: 'ring', text: 'press-1 · p 8% · UCL 2.6% · n 500 · open alerts: 1' });
  });

  it('counts the units of avi-router verdicts, per class where asked', async () => {
    await helper.load(
      [spcNode, routerNode],
      [
        { id: 'router', type: 'avi-router', goodClasses: 'good', wires: [['spc'], ['spc'], ['spc']] },
        ...spcFlow({ subgroupSize: 100, targetRate: 2, classes: [{ name: 'edge_defect', targetRate: 1, hint: 'check punch faces and compression tooling' }] }),
      ],
    );
    const got = listen();
    const frame = (bad: number): Detection[] =>
      Array.from({ length: 20 }, (_, i) => ({ id: i, class: i < bad ? 'edge_defect' : 'good', classId: i < bad ? 1 : 0, confidence: 0.9, box: { x: i * 10, y: 0, width: 8, height: 8 } }));
    const router = helper.getNode('router');
    [0, 1, 0, 0, 1, 6, 5, 4, 6, 5].forEach((bad) => router.receive({ topic: 'press-2', detections: frame(bad) }));
    await waitFor(() => got.points.length === 4, 'two subgroups on two charts');
    expect(got.points.map((p) => [p.class, p.n, p.defective])).to.deep.equal([[null, 100, 2], ['edge_defect', 100, 2], [null, 100, 26], ['edge_defect', 100, 26]]);
    expect(got.topics).to.deep.equal(['press-2', 'press-2/edge_defect', 'press-2', 'press-2/edge_defect']);
    await waitFor(() => got.events.length === 2, 'an alert on each chart');
    expect(got.events.map((e) => (e as SpcAlert).text)).to.satisfy((texts: string[]) => texts.every((t) => t.endsWith('check punch faces and compression tooling')));
  });

  it('rejects bad input with a clear error on that message and leaves the chart as it was', async () => {
    await helper.load(spcNode, spcFlow({ subgroupSize: 500, targetRate: 1 }));
    const got = listen();
    const spc = helper.getNode('spc');
    spc.receive({ topic: 'L', payload: { inspected: 300, defective: 3 } });
    const bad = [
      { topic: 'L', payload: { inspected: 100, defective: -2 } },
      { topic: 'L', payload: { inspected: 100, defective: 120 } },
      { payload: { inspected: 100, defective: 1 } },
      { topic: 'L', payload: { inspected: 'many', defective: 1 } },
      { topic: 'L', payload: { inspected: 100, defective: 1 }, timestamp: 'noon' },
    ];
    bad.forEach((msg) => spc.receive(msg));
    await waitFor(() => got.errors.length === bad.length, 'an error per bad message');
    expect(got.errors).to.deep.equal([
      'msg.payload.defective must be a whole number >= 0, got -2',
      'msg.payload.defective (120) is greater than msg.payload.inspected (100)',
      "stream key msg.topic is missing or not text (got undefined): set it to the line or press this message comes from, or change the node's stream key",
      'msg.payload.inspected must be a number, got "many"',
      'msg.timestamp must be ms since the epoch (a number), got "noon"',
    ]);
    spc.receive({ topic: 'L', payload: { inspected: 200, defective: 2 } });
    await waitFor(() => got.points.length === 1, 'the subgroup the good messages make');
    expect(got.points[0]).to.include({ n: 500, defective: 5 });
  });

  it('reports a reset on output 2 and starts the key over', async () => {
    await helper.load(spcNode, spcFlow({ subgroupSize: 500, baselineSubgroups: 2 }));
    const got = listen();
    const spc = helper.getNode('spc');
    for (const d of [5, 5, 40]) spc.receive({ topic: 'press-9', payload: { inspected: 500, defective: d } });
    await waitFor(() => got.events.length === 1, 'the alert');
    spc.receive({ topic: 'press-9', reset: true });
    await waitFor(() => got.events.length === 2, 'the reset report');
    expect(got.events[1]).to.include({ type: 'reset', key: 'press-9', text: 'reset press-9: subgroups, baselines, statistics and 1 open excursion cleared.' });
    expect(spc.status.lastCall.args[0]).to.deep.equal({ fill: 'blue', shape: 'ring', text: 'reset: press-9' });
    spc.receive({ topic: 'press-9', payload: { inspected: 500, defective: 40 } });
    await waitFor(() => got.points.length === 4, 'a new baseline point');
    expect(got.points[3]).to.include({ index: 1, phase: 'baseline', centre: null });
  });

  it('refuses bad settings with a clear error on each message', async () => {
    await helper.load(spcNode, spcFlow({ subgroupSize: 'ten', baselineSubgroups: 5 }));
    const got = listen();
    helper.getNode('spc').receive({ topic: 'L', payload: { inspected: 10, defective: 0 } });
    await waitFor(() => got.errors.length === 1, 'the error');
    expect(got.errors[0]).to.equal('bad settings: subgroup size must be a number, got "ten"');
    expect(got.points).to.deep.equal([]);
  });

  it('makes time-window subgroups from msg.timestamp', async () => {
    await helper.load(spcNode, spcFlow({ subgroupBy: 'time', subgroupSeconds: 60, targetRate: 1 }));
    const got = listen();
    const spc = helper.getNode('spc');
    [0, 20, 40, 65, 130].forEach((s) => spc.receive({ topic: 'L', payload: { inspected: 100, defective: 1 }, timestamp: 1_000_000 + s * 1000 }));
    await waitFor(() => got.points.length === 2, 'two windows');
    expect(got.points.map((p) => [p.n, p.start, p.time])).to.deep.equal([[300, 1_000_000, 1_060_000], [100, 1_060_000, 1_120_000]]);
  });

  describe('stopped and started with a file-backed context store', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'avi-spc-context-'));
      helper.settings({ contextStorage: { default: { module: 'localfilesystem', config: { dir, flushInterval: 30 } } } });
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    // helper.load starts the flows on a memory store; do what Node-RED's start does instead:
    // open the configured context stores, then start the flows.
    async function start(flow: any[]): Promise<void> {
      await helper.load(spcNode, flow);
      await helper._redNodes.stopFlows();
      await helper._redNodes.loadContextsPlugin();
      await helper._redNodes.startFlows();
    }
    // Node-RED's stop: stop the flows, then close the stores, which writes what is pending to disk.
    // helper.unload() would then clean the context of every node not in an empty flow, deleting the
    // files, so it gets a fresh memory context to clean.
    async function stop(): Promise<void> {
      await helper._redNodes.stopFlows();
      await helper._redNodes.closeContextsPlugin();
      helper._context.init(helper.settings());
      await helper.unload();
    }
    function savedFiles(): string[] {
      const files: string[] = [];
      const walk = (d: string) => fs.readdirSync(d, { withFileTypes: true }).forEach((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : files.push(path.join(d, e.name))));
      walk(dir);
      return files;
    }

    it('keeps the baseline and the open excursion', async () => {
      const flow = spcFlow({ subgroupSize: 500, baselineSubgroups: 5 });
      await start(flow);
      let got = listen();
      let spc = helper.getNode('spc');
      for (const d of [4, 6, 5, 3, 7, 40, 38]) spc.receive({ topic: 'press-5', payload: { inspected: 500, defective: d } });
      await waitFor(() => got.points.length === 7, '7 points');
      expect(got.events.map((e) => e.type)).to.deep.equal(['alert']);
      const centre = got.points[6].centre;
      const alertSince = (got.events[0] as SpcAlert).since;
      expect(centre).to.equal(0.01);
      await stop();

      const files = savedFiles();
      expect(files).to.have.length(1);
      const saved = JSON.parse(fs.readFileSync(files[0], 'utf8')).spc;
      expect(saved.streams['press-5'].charts['*']).to.include({ centre: 0.01, centreSource: 'baseline' });
      expect(saved.streams['press-5'].charts['*'].excursion).to.include({ rule: 'we1', subgroups: 2 });

      await start(flow);
      got = listen();
      spc = helper.getNode('spc');
      await waitFor(() => spc.status.called, 'the restored status');
      expect(spc.status.lastCall.args[0]).to.deep.equal({ fill: 'red', shape: 'ring', text: 'restored keys: 1 · open alerts: 1' });
      spc.receive({ topic: 'press-5', payload: { inspected: 500, defective: 42 } });
      await waitFor(() => got.points.length === 1, 'the next point');
      expect(got.points[0]).to.include({ index: 8, centre, phase: 'monitoring' });
      expect(got.points[0].violations).to.deep.include({ rule: 'we1', direction: 'up' });
      for (let i = 0; i < 30; i++) spc.receive({ topic: 'press-5', payload: { inspected: 500, defective: 5 } });
      await waitFor(() => got.points.length === 31, '30 more points');
      // The same excursion goes on across the restart: no second alert, one resolved message at its end.
      expect(got.events.map((e) => e.type)).to.deep.equal(['resolved']);
      const resolved = got.events[0] as SpcResolved;
      expect(resolved).to.include({ rule: 'we1', since: alertSince });
      expect(resolved.subgroups).to.be.within(3 + 8, 3 + 30);
      expect(resolved.defective).to.equal(40 + 38 + 42 + 5 * (resolved.subgroups - 3));
      await stop();
    });

    it('starts new charts, with a warning, when the saved ones were made under other settings', async () => {
      await start(spcFlow({ subgroupSize: 500, baselineSubgroups: 2 }));
      let got = listen();
      for (const d of [5, 5, 5]) helper.getNode('spc').receive({ topic: 'L', payload: { inspected: 500, defective: d } });
      await waitFor(() => got.points.length === 3, '3 points');
      await stop();
      await start(spcFlow({ subgroupSize: 400, baselineSubgroups: 2 }));
      got = listen();
      const spc = helper.getNode('spc');
      await waitFor(() => spc.warn.called, 'the warning');
      expect(spc.warn.lastCall.args[0]).to.match(/^saved charts were made under other subgroup, baseline, target, limits or class settings/);
      spc.receive({ topic: 'L', payload: { inspected: 400, defective: 4 } });
      await waitFor(() => got.points.length === 1, 'a point');
      expect(got.points[0]).to.include({ index: 1, phase: 'baseline', centre: null });
      await stop();
    });
  });

  it('ships an example flow: router -> avi-spc -> chart points, and CAPA alerts to MQTT', async () => {
    const flow: any[] = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', 'spc-capa-alerts.json'), 'utf8'));
    const byId = new Map(flow.map((n) => [n.id, n]));
    const spc = flow.find((n) => n.type === 'avi-spc');
    const router = flow.find((n) => n.type === 'avi-router');
    expect(router.wires.every((port: string[]) => port.includes(spc.id)), 'every router output feeds avi-spc').to.equal(true);
    const mqtt = byId.get(spc.wires[1][0]);
    expect(mqtt.type).to.equal('mqtt out');
    expect(byId.get(mqtt.broker)).to.include({ type: 'mqtt-broker', broker: 'localhost', port: '1883' });
    expect(spc.wires[0].length).to.be.above(0);
    // Its avi-spc settings are valid: the node charts with them.
    const { id, type, x, y, z, wires, ...config } = spc;
    await helper.load(spcNode, spcFlow(config));
    const got = listen();
    for (let i = 0; i < 30; i++) helper.getNode('spc').receive({ topic: 'press-1', payload: { inspected: 500, defective: 5 } });
    await waitFor(() => got.points.length > 0, 'a point');
    expect(got.errors).to.deep.equal([]);
  });
});
