// Redeploys of the demo inspection chain (a core node -> detector -> crop -> classifier -> class replace -> router) while frames
// flow, in a Node-RED 4 runtime embedded in this process, every message accounted for by a MessageLedger: where
// each frame ended (out, caught, lost by Node-RED) and any message one of our nodes did not end. Prints one JSON
// line, a RedeployReport; test/redeploys.test.ts runs it and checks it. Node-RED's runtime is one per process.
//   npm run build && node dist/bench/redeploys.js [--redeploys 30] [--interval 50] [--gap 500] [--workers 0]
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { startEmbeddedNodeRed, type DeployType } from '../test/support/embedded-node-red';
import { REPO_ROOT } from '../test/support/fixtures';
import { MessageLedger, type LedgerSummary } from '../test/support/message-ledger';

export interface RedeployOptions {
  redeploys: number;
  /** A frame is handed to the detector this often. */
  intervalMs: number;
  /** Frames flow this long between one deploy and the next. */
  gapMs: number;
  /** Workers of each avi-model (0: the engine's default). */
  workers: number;
}

export interface RedeployReport extends LedgerSummary {
  options: RedeployOptions;
  /** Frames the feeder did not hand over: the entry node was not running (between a full deploy's stop and start). */
  notSent: number;
  deploys: Record<DeployType, number>;
  seconds: number;
}

const TAB = 'rd-tab';
/** Frames handed over at once before each deploy: more than the workers take (2 jobs each), so some wait. */
const DEPLOY_BURST = 12;
/** What each "modified nodes" deploy changes, in turn: one node, or a node together with the next ones. */
const CHANGES = [['rd-detector'], ['rd-crop'], ['rd-classifier'], ['rd-router'], ['rd-detector', 'rd-crop'], ['rd-classifier', 'rd-replace', 'rd-router'], ['rd-replace']];

function chainFlow(workers: number): Array<Record<string, any>> {
  const demo = JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', 'demo-pill-line.json'), 'utf8')) as Array<Record<string, any>>;
  const like = (type: string): Record<string, any> => ({ ...demo.find((n) => n.type === type)!, z: TAB, x: 0, y: 0 });
  const model = (type: string) => demo.find((n) => n.type === 'avi-model' && n.id === like(type).model)!;
  return [
    { id: TAB, type: 'tab', label: 'redeploys' },
    // Where frames come in, as from a camera or MQTT node: a core node that "modified nodes" deploys never restart.
    { id: 'rd-camera', type: 'change', z: TAB, rules: [{ t: 'set', p: 'topic', pt: 'msg', to: 'camera', tot: 'str' }], wires: [['rd-detector']] },
    { ...model('avi-detector'), id: 'rd-det-model', path: path.join(REPO_ROOT, 'models', 'pill-detector.onnx'), watch: false, workers },
    { ...model('avi-classifier'), id: 'rd-cls-model', path: path.join(REPO_ROOT, 'models', 'pill-defects.onnx'), watch: false, workers },
    { ...like('avi-detector'), id: 'rd-detector', model: 'rd-det-model', wires: [['rd-crop']] },
    { ...like('avi-crop'), id: 'rd-crop', wires: [['rd-classifier']] },
    { ...like('avi-classifier'), id: 'rd-classifier', model: 'rd-cls-model', wires: [['rd-replace']] },
    { ...like('avi-class-replace'), id: 'rd-replace', wires: [['rd-router']] },
    { ...like('avi-router'), id: 'rd-router', wires: [['rd-out'], ['rd-out'], ['rd-out']] },
    { id: 'rd-out', type: 'debug', z: TAB, active: false, tosidebar: false, console: false, complete: 'false', wires: [] },
    { id: 'rd-catch', type: 'catch', z: TAB, scope: null, uncaught: false, wires: [['rd-caught']] },
    { id: 'rd-caught', type: 'debug', z: TAB, active: false, tosidebar: false, console: false, complete: 'false', wires: [] },
  ];
}

/** The same flow with `ids` renamed: Node-RED restarts a node whose settings changed in any way. */
function changed(flow: Array<Record<string, any>>, ids: string[], round: number): Array<Record<string, any>> {
  return flow.map((n) => (ids.includes(n.id) ? { ...n, name: `${String(n.name ?? n.type).replace(/ #\d+$/, '')} #${round}` } : n));
}

export async function runRedeploys(options: RedeployOptions): Promise<RedeployReport> {
  const started = performance.now();
  const dir = path.join(REPO_ROOT, 'example-images');
  const images = readdirSync(dir)
    .filter((f) => /^line-\d+\.jpg$/.test(f))
    .map((f) => readFileSync(path.join(dir, f)));
  let flow = chainFlow(options.workers);
  const runtime = await startEmbeddedNodeRed(flow);
  const ledger = new MessageLedger(runtime.RED, { ours: (type) => type.startsWith('avi-'), sinks: ['rd-out'] });
  let next = 0;
  let notSent = 0;
  const send = () => {
    const camera = runtime.RED.nodes.getNode('rd-camera');
    if (!camera) return void notSent++;
    const frame = next++;
    ledger.sent(frame);
    camera.receive({ payload: images[frame % images.length], frame });
  };
  const feed = setInterval(send, options.intervalMs);
  const deploys: Record<DeployType, number> = { full: 0, nodes: 0, flows: 0 };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    await sleep(options.gapMs);
    for (let round = 1; round <= options.redeploys; round++) {
      const type: DeployType = round % 2 ? 'full' : 'nodes';
      if (type === 'nodes') flow = changed(flow, CHANGES[(round / 2) % CHANGES.length], round);
      // A burst just before the deploy, so that frames wait in the queues however fast this machine judges them.
      for (let k = 0; k < DEPLOY_BURST; k++) send();
      await runtime.deploy(flow, type);
      deploys[type]++;
      await sleep(options.gapMs);
    }
  } finally {
    clearInterval(feed);
  }
  // Every frame sent has an ending within a few seconds, or never will.
  const until = Date.now() + 20_000;
  while (Date.now() < until && Array.from({ length: next }, (_, f) => ledger.ending(f)).some((e) => e === 'no ending yet')) await sleep(100);
  const summary = ledger.summary();
  await runtime.stop();
  return { options, ...summary, notSent, deploys, seconds: Math.round((performance.now() - started) / 100) / 10 };
}

if (require.main === module) {
  const { values } = parseArgs({ options: { redeploys: { type: 'string', default: '30' }, interval: { type: 'string', default: '50' }, gap: { type: 'string', default: '500' }, workers: { type: 'string', default: '0' } } });
  const options: RedeployOptions = { redeploys: Number(values.redeploys), intervalMs: Number(values.interval), gapMs: Number(values.gap), workers: Number(values.workers) };
  runRedeploys(options).then(
    (report) => {
      console.log(JSON.stringify(report));
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
