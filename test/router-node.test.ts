// avi-router and avi-class-replace in a real Node-RED runtime.
import { expect } from 'chai';
import type { Detection, Verdict } from '../src/core/types';

// node-red-node-test-helper ships no type declarations.
const helper = require('node-red-node-test-helper');
const routerNode = require('../../nodes/avi-router.js');
const classReplaceNode = require('../../nodes/avi-class-replace.js');

helper.init(require.resolve('node-red'));

const PORTS = ['pass', 'reject', 'review'];

function det(id: number, cls: string, confidence: number, classification?: { class: string; confidence: number }): Detection {
  const d: Detection = { id, class: cls, classId: 0, confidence, box: { x: 0, y: 0, width: 8, height: 8 } };
  if (classification) d.classification = { ...classification, classId: 1, scores: {} };
  return d;
}

/** Loads the flow and returns a function that resolves with the next `n` messages as [port, msg]. */
async function loadFlow(routerConfig: Record<string, unknown>, withClassReplace = false) {
  const flow: any[] = [
    { id: 'router', type: 'avi-router', ...routerConfig, wires: [['pass'], ['reject'], ['review']] },
    ...PORTS.map((id) => ({ id, type: 'helper' })),
  ];
  if (withClassReplace) flow.push({ id: 'replace', type: 'avi-class-replace', minConfidence: 0.6, wires: [['router']] });
  await helper.load([routerNode, classReplaceNode], flow);
  const received: Array<[string, any]> = [];
  for (const port of PORTS) helper.getNode(port).on('input', (msg: any) => received.push([port, msg]));
  return async (n: number): Promise<Array<[string, any]>> => {
    for (let waited = 0; received.length < n && waited < 2000; waited += 5) await new Promise((r) => setTimeout(r, 5));
    // Give a stray second copy the chance to show up before the caller counts.
    await new Promise((r) => setTimeout(r, 20));
    return received.splice(0);
  };
}

function nextCall(node: any, method: 'error' | 'status'): Promise<any> {
  return new Promise((resolve) => node.once(`call:${method}`, (call: any) => resolve(call)));
}

describe('avi-router and avi-class-replace in Node-RED', function () {
  afterEach(async () => {
    await helper.unload();
  });

  it('sends each frame to exactly one output: 1 pass, 2 reject, 3 review', async () => {
    const next = await loadFlow({ goodClasses: 'pill', rules: [{ class: 'crack', reject: 0.5, review: 0.2, severity: 'critical' }] });
    const router = helper.getNode('router');
    router.receive({ detections: [det(0, 'pill', 0.9), det(1, 'pill', 0.8)] });
    router.receive({ detections: [det(0, 'pill', 0.9), det(1, 'crack', 0.93)] });
    router.receive({ detections: [det(0, 'pill', 0.9), det(1, 'crack', 0.3)] });
    const got = await next(3);
    expect(got.map(([port]) => port)).to.deep.equal(['pass', 'reject', 'review']);
    const failed: Verdict = got[1][1].verdict;
    expect(failed.result).to.equal('FAIL');
    expect(failed.units[1].reason).to.equal('crack 0.93 >= reject 0.50 (critical)');
    // payload is the verdict, so a Debug node shows it.
    expect(got[1][1].payload).to.deep.equal(failed);
  });

  it('fails a short blister pack and shows the last result and frame totals in the status', async () => {
    const next = await loadFlow({ goodClasses: 'good', countMode: 'exact', countExact: '10' });
    const router = helper.getNode('router');
    const status = nextCall(router, 'status');
    router.receive({ detections: Array.from({ length: 9 }, (_, i) => det(i, 'good', 0.97)) });
    const [[port, msg]] = await next(1);
    expect(port).to.equal('reject');
    expect(msg.verdict.reasons).to.deep.equal(['expected 10 units, found 9']);
    // The verdict and frame totals, then the node's rate and queue depth.
    expect((await status).args[0]).to.include({ fill: 'red', shape: 'ring' });
    expect((await status).args[0].text).to.match(/^FAIL · units: 9 · 0\/1\/0 · [\d.]+\/s · q 0$/);
  });

  it('reports bad input on that message with a red status, and routes the next message as usual', async () => {
    const next = await loadFlow({ goodClasses: 'good' });
    const router = helper.getNode('router');
    const error = nextCall(router, 'error');
    const red = nextCall(router, 'status');
    router.receive({ _msgid: 'bad', detections: [det(0, 'good', 0.9), { ...det(1, 'good', 0.9), confidence: 'n/a' }] });
    const call = await error;
    expect(String(call.args[0])).to.match(/detection 1 \(id 1, class "good"\): confidence must be a number from 0 to 1/);
    expect(call.args[1]._msgid).to.equal('bad');
    expect((await red).args[0]).to.include({ fill: 'red', shape: 'dot' });
    expect(await next(0)).to.deep.equal([]);

    const missing = nextCall(router, 'error');
    router.receive({ payload: 'frame.jpg' });
    expect(String((await missing).args[0])).to.match(/msg.detections is missing/);

    const green = nextCall(router, 'status');
    router.receive({ detections: [det(0, 'good', 0.9)] });
    const [[port]] = await next(1);
    expect(port).to.equal('pass');
    expect((await green).args[0]).to.include({ fill: 'green', shape: 'dot' });
    expect((await green).args[0].text).to.match(/^PASS · units: 1 · 1\/0\/0 · [\d.]+\/s · q 0$/);
  });

  it('reports bad settings on every message instead of routing with them', async () => {
    const next = await loadFlow({ goodClasses: 'good', rules: [{ class: 'crack', reject: 0.3, review: 0.6, severity: 'major' }] });
    const router = helper.getNode('router');
    const error = nextCall(router, 'error');
    router.receive({ detections: [det(0, 'good', 0.9)] });
    expect(String((await error).args[0])).to.match(/bad settings: rule for "crack": review threshold 0.6 is above reject threshold 0.3/);
    expect(await next(0)).to.deep.equal([]);
  });

  it('class-replace feeds the router: an unsure classification becomes "unknown" and goes to review', async () => {
    const next = await loadFlow({ goodClasses: 'good' }, true);
    const replace = helper.getNode('replace');
    const status = nextCall(replace, 'status');
    replace.receive({
      detections: [det(0, 'pill', 0.9, { class: 'good', confidence: 0.97 }), det(1, 'pill', 0.88, { class: 'chipped', confidence: 0.45 })],
    });
    const [[port, msg]] = await next(1);
    expect((await status).args[0]).to.include({ fill: 'green', shape: 'dot' });
    expect((await status).args[0].text).to.match(/^units: 2 · 1 fallback · [\d.]+\/s · q 0$/);
    expect(port).to.equal('review');
    expect(msg.detections[1]).to.include({ class: 'unknown', detectorClass: 'pill', detectorConfidence: 0.88 });
    expect(msg.verdict.reasons).to.deep.equal(['unit 1: unknown 0.45 >= review 0.00, no reject threshold (major)']);
    expect(msg.verdict.counts.byClass).to.deep.equal({ good: 1, unknown: 1 });
  });

  it('class-replace passes a frame with zero detections through as a normal frame', async () => {
    const next = await loadFlow({ goodClasses: 'good', emptyFrame: 'pass' }, true);
    helper.getNode('replace').receive({ detections: [] });
    const [[port, msg]] = await next(1);
    expect(port).to.equal('pass');
    expect(msg.detections).to.deep.equal([]);
    expect(msg.verdict.reasons).to.deep.equal(['no units in frame (empty frame: pass)']);
  });
});
