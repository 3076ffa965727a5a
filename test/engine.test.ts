// The inference engine in a real Node-RED runtime: order, bounded queues, worker faults, shared sessions,
// hot reload, per-frame timings, shared frames, and Node-RED's thread left free while models run.
import { expect } from 'chai';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { InferenceEngine, sharedEngine } from '../src/core/engine/engine';
import { busyDetector, colourClassifier, fixedOutputDetector, writeModel } from './support/onnx-builder';
import { frameWith, tempDir } from './support/fixtures';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
const NODES = ['model', 'detector', 'crop', 'classifier'].map((n) => require(`../../nodes/avi-${n}.js`));
const CATCH = require('@node-red/nodes/core/common/25-catch.js');

helper.init(require.resolve('node-red'));

const UNIT = { x: 40, y: 40, width: 60, height: 60 };

/** A YOLOv8-layout detector (input 64x64) that reports one unit of class `name` at UNIT on a 320x160 frame. */
function oneUnitDetector(name: string): Buffer {
  const n = 8;
  const data = new Float32Array(5 * n);
  // 320x160 letterboxed to 64x64: scale 0.2, 16 rows of padding above.
  [(UNIT.x + UNIT.width / 2) * 0.2, (UNIT.y + UNIT.height / 2) * 0.2 + 16, UNIT.width * 0.2, UNIT.height * 0.2, 0.9].forEach((v, row) => (data[row * n] = v));
  return fixedOutputDetector({ inputShape: [1, 3, 64, 64], outputs: [{ name: 'output0', dims: [1, 5, n], data }], metadata: { task: 'detect', names: `{0: '${name}'}` } });
}

const on = (n: object) => ({ z: 'f1', x: 0, y: 0, ...n });

/** A blank frame of width x height in shared memory, as a worker job takes it. */
const sharedFrame = (width: number, height = width, fill = 0) => ({ frame: { width, height, data: new Uint8Array(new SharedArrayBuffer(width * height * 3)).fill(fill) } });
const DETECT = { confidence: 0.25, iou: 0.45, maxDetections: 10, classes: [], resize: 'auto' as const };

interface Arrival {
  port: string;
  msg: any;
}

describe('inference engine', function () {
  const tmp = tempDir();
  const detectorFile = writeModel(path.join(tmp.dir, 'detector.onnx'), oneUnitDetector('tablet'));
  const classifierFile = writeModel(path.join(tmp.dir, 'classifier.onnx'), colourClassifier({ size: 32, names: ['defect', 'good', 'other'] }));
  const engine = sharedEngine();
  let frame: Buffer;
  let arrivals: Arrival[];

  before(async () => {
    frame = await frameWith(320, 160, [{ ...UNIT, colour: [40, 200, 60] }]).jpeg();
  });
  afterEach(async () => {
    engine.delayFor = undefined;
    await helper.unload();
  });
  after(tmp.cleanup);

  /** Loads a flow and records what reaches each helper node (by id) and the Catch node ('error'). */
  async function start(nodes: object[]) {
    arrivals = [];
    const flow = [{ id: 'f1', type: 'tab' }, ...nodes, on({ id: 'catch', type: 'catch', scope: null, uncaught: false, wires: [['caught']] }), on({ id: 'caught', type: 'helper' })];
    await helper.load([...NODES, CATCH], flow);
    listen(flow);
  }
  function listen(flow: object[]) {
    for (const n of flow as Array<{ id?: string; type?: string }>) {
      if (n.type !== 'helper') continue;
      const port = n.id === 'caught' ? 'error' : n.id!;
      helper.getNode(n.id).on('input', (msg: any) => arrivals.push({ port, msg }));
    }
  }
  async function until(condition: () => boolean, what: string, ms = 20000) {
    const started = Date.now();
    while (!condition()) {
      if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const model = (id: string, file: string, extra: object = {}) => ({ id, type: 'avi-model', path: file, watch: false, ...extra });
  /** The node's status once it says the model is ready (the session is loaded in the workers). */
  async function ready(id: string) {
    const node = helper.getNode(id);
    await until(() => node.status.callCount > 0 && /ready/.test(String(node.status.lastCall.args[0].text)), `${id} ready`);
  }

  it('sends verdicts in arrival order when a later frame finishes first (and as soon as ready when asked)', async () => {
    await start([
      model('m', detectorFile),
      on({ id: 'in-order', type: 'avi-detector', model: 'm', wires: [['ordered']] }),
      on({ id: 'when-ready', type: 'avi-detector', model: 'm', order: 'ready', wires: [['unordered']] }),
      on({ id: 'ordered', type: 'helper' }),
      on({ id: 'unordered', type: 'helper' }),
    ]);
    await Promise.all([ready('in-order'), ready('when-ready')]);
    // The worker holds the first frame for a while, so the second one finishes first.
    engine.delayFor = (tag) => (tag?.startsWith('first') ? 400 : 0);
    for (const id of ['in-order', 'when-ready']) {
      helper.getNode(id).receive({ _msgid: `first-${id}`, payload: frame, n: 1 });
      helper.getNode(id).receive({ _msgid: `second-${id}`, payload: frame, n: 2 });
    }
    await until(() => arrivals.length === 4, 'four frames');
    const order = (port: string) => arrivals.filter((a) => a.port === port).map((a) => a.msg.n);
    expect(order('unordered')).to.deep.equal([2, 1]); // the second frame really did finish first
    expect(order('ordered')).to.deep.equal([1, 2]);
  });

  it('errors exactly the frames a killed worker held, judges the rest, and replaces the worker', async () => {
    await start([model('m', detectorFile), on({ id: 'detector', type: 'avi-detector', model: 'm', wires: [['out']] }), on({ id: 'out', type: 'helper' })]);
    await ready('detector');
    const workers = engine.size;
    engine.delayFor = (tag) => (tag ? 500 : 0);
    const sent = Array.from({ length: 6 }, (_, i) => `frame-${i}`);
    for (const id of sent) helper.getNode('detector').receive({ _msgid: id, payload: frame });
    await until(() => engine.stats().workers[0]?.jobs.length > 0, 'a frame in worker 0');
    const held = engine.stats().workers[0].jobs as string[];
    await engine.terminateWorker(0);
    await until(() => arrivals.length === sent.length, 'every frame to finish');
    const failed = arrivals.filter((a) => a.port === 'error');
    expect(failed.map((a) => a.msg._msgid).sort()).to.deep.equal([...held].sort());
    for (const f of failed) expect(f.msg.error.message).to.match(/inference worker stopped while this frame was in it/);
    expect(arrivals.filter((a) => a.port === 'out').map((a) => a.msg._msgid).sort()).to.deep.equal(sent.filter((id) => !held.includes(id)).sort());
    // Node-RED is still up, the pool is whole again, and the next frames are judged.
    engine.delayFor = undefined;
    arrivals = [];
    for (let i = 0; i < 4; i++) helper.getNode('detector').receive({ payload: frame });
    await until(() => arrivals.length === 4, 'frames after the crash');
    expect(arrivals.map((a) => a.port)).to.deep.equal(['out', 'out', 'out', 'out']);
    expect(engine.size).to.equal(workers);
  });

  it('errors a message that finds the queue full, counts it on the status, and judges the rest', async () => {
    await start([model('m', detectorFile), on({ id: 'detector', type: 'avi-detector', model: 'm', wires: [['out']] }), on({ id: 'out', type: 'helper' })]);
    await ready('detector');
    engine.delayFor = (tag) => (tag ? 300 : 0);
    const total = engine.capacity + 16 + 3; // in the workers, waiting in the node (16), and three too many
    const detector = helper.getNode('detector');
    for (let i = 0; i < total; i++) detector.receive({ payload: frame });
    await until(() => arrivals.length === total, 'every message to end');
    const failed = arrivals.filter((a) => a.port === 'error');
    expect(failed).to.have.length(3);
    for (const f of failed) expect(f.msg.error.message).to.match(/queue full/);
    expect(arrivals.filter((a) => a.port === 'out')).to.have.length(total - 3);
    await until(() => /3 over queue/.test(String(detector.status.lastCall.args[0].text)), 'the status to count them', 3000);
  });

  it('ends a message handed to a closing node at once, and sends the one in work before its close resolves', async () => {
    await start([model('m', detectorFile), on({ id: 'detector', type: 'avi-detector', model: 'm', wires: [['out']] }), on({ id: 'out', type: 'helper' })]);
    await ready('detector');
    engine.delayFor = (tag) => (tag ? 500 : 0);
    const detector = helper.getNode('detector');
    detector.receive({ payload: frame, n: 'in work' });
    await until(() => engine.stats().workers.some((w) => w.jobs.length > 0), 'the frame in a worker');
    // As a redeploy does: Node-RED keeps a node's input handler until its close has finished, and still delivers
    // to it the messages it had routed there.
    let closed = false;
    const closing = detector.close(false).then(() => (closed = true));
    detector.receive({ payload: frame, n: 'late' });
    await until(() => arrivals.length === 1, 'the late frame to end');
    expect(arrivals[0].port).to.equal('error');
    expect(arrivals[0].msg.n).to.equal('late');
    expect(arrivals[0].msg.error.message).to.match(/node closed before this message was processed/);
    expect(closed).to.equal(false);
    await closing;
    await until(() => arrivals.length === 2, 'the frame in work');
    expect(arrivals[1]).to.deep.include({ port: 'out' });
    expect(arrivals[1].msg.n).to.equal('in work');
  });

  it('keeps one session per model file across 50 redeploys', async function () {
    this.timeout(120000);
    const flow = [
      { id: 'f1', type: 'tab' },
      model('det', detectorFile),
      model('cls', classifierFile),
      on({ id: 'detector', type: 'avi-detector', model: 'det', wires: [['crop']] }),
      on({ id: 'crop', type: 'avi-crop', wires: [['classifier']] }),
      on({ id: 'classifier', type: 'avi-classifier', model: 'cls', wires: [['out']] }),
      on({ id: 'out', type: 'helper' }),
    ];
    arrivals = [];
    await helper.load([...NODES, CATCH], flow);
    const created = () => {
      const sessions = Object.values(engine.stats().sessions).filter((s) => s.file === detectorFile || s.file === classifierFile);
      return sessions.map((s) => s.sessionsCreated);
    };
    let first: number[] = [];
    for (let deploy = 0; deploy < 50; deploy++) {
      if (deploy > 0) {
        // A full deploy, as the editor's Deploy button does (helper.setFlows gives the restart only 300 ms).
        const before = helper.getNode('detector');
        await helper._redNodes.setFlows(flow, {}, 'full');
        await until(() => helper.getNode('detector') && helper.getNode('detector') !== before, `deploy ${deploy}`);
      }
      listen(flow);
      helper.getNode('detector').receive({ payload: frame, deploy });
      await until(() => arrivals.some((a) => a.msg.deploy === deploy), `the frame of deploy ${deploy}`);
      if (deploy === 0) first = created();
    }
    expect(arrivals.map((a) => a.port).every((p) => p === 'out')).to.equal(true);
    // One shared session per model file (in each worker), made by the first deploy and reused by the 49 after it.
    expect(first).to.have.length(2);
    expect(created()).to.deep.equal(first);
  });

  it('swaps to a reloaded model between frames: no frame lost, none judged by a mix of the two, a broken file ignored', async function () {
    this.timeout(60000);
    const file = writeModel(path.join(tmp.dir, 'reloaded.onnx'), oneUnitDetector('tablet'));
    await start([model('m', file, { watch: true }), on({ id: 'detector', type: 'avi-detector', model: 'm', wires: [['out']] }), on({ id: 'out', type: 'helper' })]);
    await ready('detector');
    const warnings: string[] = [];
    helper.getNode('m').on('call:warn', (call: any) => warnings.push(String(call.args[0])));
    const detector = helper.getNode('detector');
    let sent = 0;
    let step = 0;
    const capsules = () => arrivals.filter((a) => a.msg.detections?.[0]?.class === 'capsule').length;
    const capsule = oneUnitDetector('capsule');
    // A steady stream, three frames in flight. The file is first overwritten by half a model (a copy caught
    // mid-write): the old model goes on judging. Then the whole new model: ten frames after it has taken over.
    while (capsules() < 10) {
      if (sent - arrivals.length < 3) detector.receive({ payload: frame, n: sent++ });
      if (step === 0 && arrivals.length >= 10) {
        writeFileSync(file, capsule.subarray(0, capsule.length >> 1));
        step = 1;
      } else if (step === 1 && warnings.some((w) => /did not load/.test(w))) {
        writeFileSync(file, capsule);
        step = 2;
      }
      await new Promise((r) => setTimeout(r, 5));
      if (sent > 8000) throw new Error(`the reloaded model never judged a frame (step ${step}; warnings: ${warnings.join('; ')})`);
    }
    await until(() => arrivals.length === sent, 'the frames in flight');
    expect(arrivals.filter((a) => a.port === 'error')).to.deep.equal([]);
    expect(arrivals.map((a) => a.msg.n)).to.deep.equal([...Array(sent).keys()]);
    // Each frame names the model that judged it; the class it got is that model's; old, then new, never back.
    const shas = arrivals.map((a) => a.msg.models.detector.sha256);
    const classes = arrivals.map((a) => a.msg.detections[0].class);
    const firstNew = classes.indexOf('capsule');
    expect(classes.slice(0, firstNew).every((c) => c === 'tablet')).to.equal(true);
    expect(classes.slice(firstNew).every((c) => c === 'capsule')).to.equal(true);
    expect(new Set(shas.slice(0, firstNew)).size).to.equal(1);
    expect(new Set(shas.slice(firstNew)).size).to.equal(1);
    expect(shas[0]).to.not.equal(shas[firstNew]);
  });

  it('gives each model node its queue wait, preprocessing, inference and postprocessing in msg.timings', async () => {
    await start([
      model('det', detectorFile),
      model('cls', classifierFile),
      on({ id: 'detector', type: 'avi-detector', model: 'det', wires: [['crop']] }),
      on({ id: 'crop', type: 'avi-crop', wires: [['classifier']] }),
      on({ id: 'classifier', type: 'avi-classifier', model: 'cls', wires: [['out']] }),
      on({ id: 'out', type: 'helper' }),
    ]);
    helper.getNode('detector').receive({ payload: frame });
    await until(() => arrivals.length === 1, 'the frame');
    const { msg } = arrivals[0];
    expect(msg.detections[0].classification.class).to.equal('good');
    for (const role of ['detector', 'classifier']) {
      expect(Object.keys(msg.timings[role]).sort()).to.deep.equal(['inferenceMs', 'postprocessMs', 'preprocessMs', 'queueWaitMs']);
      for (const value of Object.values(msg.timings[role])) expect(value).to.be.a('number').and.at.least(0);
    }
  });

  it('decodes a frame once into shared memory, and hands the same frame to every wire without copying it', async () => {
    await start([model('m', detectorFile), on({ id: 'detector', type: 'avi-detector', model: 'm', wires: [['a', 'b']] }), on({ id: 'a', type: 'helper' }), on({ id: 'b', type: 'helper' })]);
    helper.getNode('detector').receive({ payload: frame });
    await until(() => arrivals.length === 2, 'both wires');
    const [a, b] = arrivals.map((x) => x.msg);
    expect(a).to.not.equal(b); // Node-RED cloned the message for the second wire...
    expect(a.detections).to.not.equal(b.detections);
    expect(a.image).to.equal(b.image); // ...but not the frame
    expect(a.image.data.buffer).to.be.instanceOf(SharedArrayBuffer);
    expect([a.image.width, a.image.height, a.image.channels, a.image.format]).to.deep.equal([320, 160, 3, 'jpeg']);
    expect(Buffer.compare(a.image.encoded, frame)).to.equal(0);
  });
});

describe('inference engine: Node-RED thread and sessions', function () {
  const tmp = tempDir();
  after(tmp.cleanup);

  it('frees a session no one holds once its grace period is over, and keeps it while someone does', async () => {
    const engine = new InferenceEngine({ defaultWorkers: 1, graceMs: 50 });
    try {
      const file = writeModel(path.join(tmp.dir, 'held.onnx'), oneUnitDetector('tablet'));
      const first = await engine.acquire(file, {});
      const second = await engine.acquire(file, {});
      expect(second.key).to.equal(first.key);
      first.release();
      await new Promise((r) => setTimeout(r, 200));
      expect(Object.keys(engine.stats().sessions)).to.deep.equal([second.key]);
      expect(engine.stats().workers[0].models).to.deep.equal([second.key]);
      second.release();
      await new Promise((r) => setTimeout(r, 200));
      expect(engine.stats().sessions).to.deep.equal({});
      expect(engine.stats().workers[0].models).to.deep.equal([]);
    } finally {
      await engine.shutdown();
    }
  });

  it('loads in every worker, a replacement too, the bytes it hashed, even after the file was rewritten', async () => {
    const engine = new InferenceEngine({ defaultWorkers: 2 });
    try {
      const file = writeModel(path.join(tmp.dir, 'rewritten.onnx'), oneUnitDetector('tablet'));
      const lease = await engine.acquire(file, {});
      const source = sharedFrame(320, 160);
      const detector = DETECT;
      const hashed = lease.key.split(':')[0];
      // Another model written over the file (a copy in progress, an operator's mistake); then both workers die.
      writeModel(file, oneUnitDetector('capsule'));
      await engine.terminateWorker(0);
      await engine.terminateWorker(0);
      for (let i = 0; i < 4; i++) {
        const result = await lease.run({ op: 'detect', source, detector });
        expect(result.model!.sha256, 'the SHA-256 of the model that judged the frame').to.equal(hashed);
        expect(result.detections!.map((d) => d.class)).to.deep.equal(['tablet']);
      }
      expect(engine.stats().workers).to.have.length(2);
    } finally {
      await engine.shutdown();
    }
  });

  it('ends a worker only between onnxruntime calls: stopped mid-load or mid-run, the process stays up', async function () {
    // A worker thread terminated inside InferenceSession.create or session.run aborts the whole process
    // (onnxruntime#13086): this test would not come back.
    this.timeout(120000);
    const file = writeModel(
      path.join(tmp.dir, 'slow.onnx'),
      busyDetector({ size: 128, steps: 100, outputs: [{ name: 'output0', dims: [1, 5, 8], data: new Float32Array(40) }], metadata: { task: 'detect' } }),
    );
    const source = sharedFrame(128);
    const detector = DETECT;
    for (let i = 0; i < 4; i++) {
      const engine = new InferenceEngine({ defaultWorkers: 2 });
      const lease = await engine.acquire(file, { threads: 1 });
      const runs = [1, 2, 3, 4].map(() => lease.run({ op: 'detect', source, detector }));
      await new Promise((r) => setTimeout(r, 20));
      await engine.terminateWorker(0);
      const outcomes = await Promise.allSettled(runs);
      for (const o of outcomes) if (o.status === 'rejected') expect(String(o.reason)).to.match(/worker stopped while this frame was in it/);
      // The second worker may still be creating its session when the pool shuts down.
      await Promise.all([engine.shutdown(), engine.acquire(file, { threads: 2 }).catch(() => undefined)]);
    }
  });

  it('errors a frame whose model run does not return in time, sets its worker aside and carries on with a new one', async function () {
    this.timeout(120000);
    const slow = writeModel(
      path.join(tmp.dir, 'stuck.onnx'),
      busyDetector({ size: 256, steps: 2000, outputs: [{ name: 'output0', dims: [1, 5, 8], data: new Float32Array(40) }], metadata: { task: 'detect' } }),
    );
    const fast = writeModel(path.join(tmp.dir, 'quick.onnx'), oneUnitDetector('tablet'));
    const engine = new InferenceEngine({ defaultWorkers: 1, jobTimeoutMs: 300 });
    try {
      const [stuck, quick] = [await engine.acquire(slow, { threads: 1 }), await engine.acquire(fast, {})];
      const frame = (size: number) => sharedFrame(size);
      const detector = DETECT;
      const [first] = engine.stats().workers;
      const late = await stuck.run({ op: 'detect', source: frame(256), detector }).then(
        () => 'judged',
        (err: Error) => err.message,
      );
      expect(late).to.match(/took more than 0\.3 s in its inference worker/);
      const next = await quick.run({ op: 'detect', source: frame(64), detector });
      expect(next.detections).to.have.length(1);
      expect(engine.stats().workers.map((w) => w.threadId)).to.not.include(first.threadId);
    } finally {
      await engine.shutdown();
    }
  });

  it('runs its workers below Node-RED\'s thread, so that Node-RED gets a core back at once (Linux)', async function () {
    if (process.platform !== 'linux') this.skip();
    const niceOf = (stat: string) => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    const nice = (task: string) => niceOf(readFileSync(`/proc/self/task/${task}/stat`, 'utf8'));
    const engine = new InferenceEngine({ defaultWorkers: 2 });
    try {
      const lease = await engine.acquire(writeModel(path.join(tmp.dir, 'nice.onnx'), oneUnitDetector('tablet')), {});
      await lease.run({ op: 'detect', source: sharedFrame(64), detector: DETECT });
      const main = nice(String(process.pid));
      const below = readdirSync('/proc/self/task').filter((task) => nice(task) === Math.min(19, main + 5));
      // Each worker's own thread at least (onnxruntime's threads that a worker starts inherit it).
      expect(below.length).to.be.at.least(2);
      expect(nice(String(process.pid))).to.equal(main);
      lease.release();
    } finally {
      await engine.shutdown();
    }
  });

  it('keeps ticking while a model runs', async function () {
    this.timeout(120000);
    const file = writeModel(
      path.join(tmp.dir, 'busy.onnx'),
      busyDetector({ size: 256, steps: 200, outputs: [{ name: 'output0', dims: [1, 5, 8], data: new Float32Array(40) }], metadata: { task: 'detect' } }),
    );
    const engine = sharedEngine();
    const lease = await engine.acquire(file, { threads: 1 });
    const source = sharedFrame(256, 256, 128);
    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(performance.timeOrigin + performance.now()), 5);
    try {
      // Runs until the model has run for 300 ms in all; a blocked event loop would tick only between runs.
      const windows: Array<[number, number]> = [];
      let ran = 0;
      while (ran < 300) {
        const { timings } = await lease.run({ op: 'detect', source, detector: DETECT });
        const from = timings.startedAt + timings.preprocessMs;
        windows.push([from, from + timings.inferenceMs]);
        ran += timings.inferenceMs;
      }
      const during = ticks.filter((t) => windows.some(([from, to]) => t > from && t < to)).length;
      expect(during).to.be.at.least(3);
    } finally {
      clearInterval(timer);
      lease.release();
    }
  });
});
