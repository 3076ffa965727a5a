// The whole chain in a real Node-RED runtime: detector -> crop -> classifier -> class replace -> router -> visualizer.
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { colourClassifier, fixedOutputDetector, writeModel } from './support/onnx-builder';
import { frameWith, pngClaiming, tempDir } from './support/fixtures';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
const NODES = ['model', 'detector', 'crop', 'classifier', 'class-replace', 'router', 'visualizer'].map((n) => require(`../../nodes/avi-${n}.js`));

helper.init(require.resolve('node-red'));

const GREEN: [number, number, number] = [40, 200, 60];
const RED: [number, number, number] = [210, 50, 40];
// Two units on a 320x160 frame, at the places the detector model reports them.
const UNITS = [
  { x: 40, y: 40, width: 60, height: 60 },
  { x: 200, y: 50, width: 50, height: 50 },
];

/** A YOLOv8-layout detector (input 64x64) that reports a "tablet" at each of UNITS on a 320x160 frame. */
function unitDetector(): Buffer {
  const n = 16;
  const data = new Float32Array(5 * n);
  // 320x160 letterboxed to 64x64: scale 0.2, 16 rows of padding above.
  UNITS.forEach((u, i) => {
    const values = [(u.x + u.width / 2) * 0.2, (u.y + u.height / 2) * 0.2 + 16, u.width * 0.2, u.height * 0.2, 0.9];
    values.forEach((v, row) => (data[row * n + i] = v));
  });
  return fixedOutputDetector({ inputShape: [1, 3, 64, 64], outputs: [{ name: 'output0', dims: [1, 5, n], data }], metadata: { task: 'detect', names: "{0: 'tablet'}" } });
}

describe('inspection pipeline in Node-RED', function () {
  const tmp = tempDir();
  const detectorFile = writeModel(path.join(tmp.dir, 'detector.onnx'), unitDetector());
  // Colour stands in for condition: a red unit is an edge defect, a green one is good.
  const classifierFile = writeModel(path.join(tmp.dir, 'classifier.onnx'), colourClassifier({ size: 32, names: ['edge_defect', 'good', 'spot'] }));

  const flow = (detectorPath = detectorFile) => [
    { id: 'f1', type: 'tab' },
    { id: 'det-model', type: 'avi-model', path: detectorPath, watch: false },
    { id: 'cls-model', type: 'avi-model', path: classifierFile, watch: false },
    { id: 'detector', type: 'avi-detector', model: 'det-model', wires: [['crop']] },
    { id: 'crop', type: 'avi-crop', padding: '0', wires: [['classifier']] },
    { id: 'classifier', type: 'avi-classifier', model: 'cls-model', wires: [['replace']] },
    { id: 'replace', type: 'avi-class-replace', minConfidence: 0.5, unsure: 'fallback', fallbackClass: 'unknown', wires: [['router']] },
    {
      id: 'router',
      type: 'avi-router',
      goodClasses: 'good',
      goodMinConfidence: 0.5,
      rules: [{ class: 'edge_defect', reject: 0.5, review: 0.2, severity: 'critical' }],
      defaultReject: 0.5,
      defaultReview: 0,
      countMode: 'exact',
      countExact: 2,
      countMismatch: 'reject',
      emptyFrame: 'review',
      wires: [['visual-pass'], ['visual-reject'], ['visual-review']],
    },
    { id: 'visual-pass', type: 'avi-visualizer', preview: false, wires: [['out-pass']] },
    { id: 'visual-reject', type: 'avi-visualizer', preview: false, wires: [['out-reject']] },
    { id: 'visual-review', type: 'avi-visualizer', preview: false, wires: [['out-review']] },
    { id: 'out-pass', type: 'helper' },
    { id: 'out-reject', type: 'helper' },
    { id: 'out-review', type: 'helper' },
    { id: 'catch', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
    { id: 'complete', type: 'complete', scope: ['detector'], uncaught: false, wires: [['completed']] },
    { id: 'completed', type: 'helper' },
  ].map((n) => (n.type === 'tab' || n.type === 'avi-model' ? n : { ...n, z: 'f1', x: 0, y: 0 }));

  type Port = 'pass' | 'reject' | 'review' | 'error';
  let received: Array<{ port: Port; msg: any }>;
  let completed: any[];

  async function start(detectorPath?: string) {
    received = [];
    completed = [];
    const catchAndComplete = [require('@node-red/nodes/core/common/25-catch.js'), require('@node-red/nodes/core/common/24-complete.js')];
    await helper.load([...NODES, ...catchAndComplete], flow(detectorPath));
    helper.getNode('completed').on('input', (msg: any) => completed.push(msg));
    for (const port of ['pass', 'reject', 'review'] as const) helper.getNode(`out-${port}`).on('input', (msg: any) => received.push({ port, msg }));
    helper.getNode('caught').on('input', (msg: any) => received.push({ port: 'error', msg }));
  }

  /** Sends one message and waits for the next arrival at any end of the flow. */
  function send(msg: object): Promise<{ port: Port; msg: any }> {
    const before = received.length;
    helper.getNode('detector').receive(msg);
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const poll = setInterval(() => {
        if (received.length > before) {
          clearInterval(poll);
          resolve(received[before]);
        } else if (Date.now() - started > 20000) {
          clearInterval(poll);
          reject(new Error('nothing arrived within 20 s'));
        }
      }, 10);
    });
  }

  afterEach(async () => {
    await helper.unload();
  });
  after(tmp.cleanup);

  it('rejects a frame with a red unit on output 2 and draws it at the original size', async () => {
    await start();
    const image = await frameWith(320, 160, [
      { ...UNITS[0], colour: GREEN },
      { ...UNITS[1], colour: RED },
    ]).jpeg();
    const { port, msg } = await send({ payload: image, topic: 'line-1' });
    expect(port).to.equal('reject');
    expect(msg.verdict.result).to.equal('FAIL');
    expect(msg.verdict.units.map((u: any) => [u.class, u.result])).to.deep.equal([
      ['good', 'PASS'],
      ['edge_defect', 'FAIL'],
    ]);
    expect(msg.detections[1]).to.include({ class: 'edge_defect', detectorClass: 'tablet' });
    expect(msg.detections[1].box).to.deep.equal({ x: 200, y: 50, width: 50, height: 50 });
    expect(msg.verdict.models.detector.sha256).to.match(/^[0-9a-f]{64}$/);
    expect(msg.verdict.models.classifier.name).to.equal('classifier.onnx');
    const annotated = await sharp(msg.payload).metadata();
    expect([annotated.format, annotated.width, annotated.height]).to.deep.equal(['jpeg', 320, 160]);
    expect(msg.topic).to.equal('line-1');
  });

  it('passes a frame of good units on output 1', async () => {
    await start();
    const good = await frameWith(320, 160, UNITS.map((u) => ({ ...u, colour: GREEN }))).png();
    const passed = await send({ payload: good });
    expect(passed.port).to.equal('pass');
    expect(passed.msg.verdict).to.deep.include({ result: 'PASS' });
    expect(passed.msg.verdict.counts).to.include({ total: 2, pass: 2, fail: 0 });
  });

  it('sends a unit the classifier is unsure of to review on output 3', async () => {
    await start();
    // Grey is neither red nor green: the colour classifier spreads its scores, below the 0.5 minimum.
    const unsure = await frameWith(320, 160, [
      { ...UNITS[0], colour: GREEN },
      { ...UNITS[1], colour: [120, 120, 120] },
    ]).jpeg();
    const { port, msg } = await send({ payload: unsure });
    expect(port).to.equal('review');
    expect(msg.verdict.units[1]).to.include({ class: 'unknown', result: 'REVIEW' });
  });

  describe('bad input: a clear error on that message, a red status, and the next frame still judged', () => {
    const cases: Array<[string, () => object, RegExp]> = [
      ['undecodable bytes', () => ({ payload: Buffer.from('this is not an image at all') }), /cannot decode image/],
      ['an empty buffer', () => ({ payload: Buffer.alloc(0) }), /image buffer is empty/],
      ['a PNG whose header claims 30000 x 30000 pixels', () => ({ payload: pngClaiming(30000, 30000) }), /30000 x 30000 .*over the limit of 50 MP/],
      ['a path outside the allowed folders', () => ({ payload: '/no/such/frame.jpg' }), /image file "\/no\/such\/frame\.jpg" is not a file inside the folders allowed for file paths in messages/],
      ['a message without an image', () => ({ topic: 'line-1' }), /no image on the message/],
    ];
    for (const [what, msg, expected] of cases) {
      it(what, async () => {
        await start();
        const detector = helper.getNode('detector');
        const statuses: any[] = [];
        detector.on('call:status', (call: any) => statuses.push(call.args[0]));
        const failed = await send(msg());
        expect(failed.port).to.equal('error');
        expect(failed.msg.error.message).to.match(expected);
        expect(failed.msg.error.source.id).to.equal('detector');
        // done(err) with the text: a one-line error in the Debug sidebar, no stack
        expect(failed.msg.error).to.not.have.property('stack');
        expect(statuses.some((s) => s.fill === 'red')).to.equal(true);
        const good = await frameWith(320, 160, UNITS.map((u) => ({ ...u, colour: GREEN }))).jpeg();
        expect((await send({ payload: good })).port).to.equal('pass');
        // A Complete node counts the good frame only: the failed one ended with done(err).
        expect(completed.map((m) => Buffer.isBuffer(m.payload) || Array.isArray(m.payload))).to.deep.equal([true]);
      });
    }
  });

  describe('bad models', () => {
    it('a missing model file: an error on each message that names the file', async () => {
      await start(path.join(tmp.dir, 'missing.onnx'));
      const image = await frameWith(320, 160, []).jpeg();
      const { port, msg } = await send({ payload: image });
      expect(port).to.equal('error');
      expect(msg.error.message).to.match(/model file not found: .*missing\.onnx/);
    });

    it('a file that is not ONNX: an error that says so', async () => {
      const notOnnx = path.join(tmp.dir, 'not-a-model.onnx');
      writeFileSync(notOnnx, 'name,class\nthis is a CSV file\n');
      await start(notOnnx);
      const { port, msg } = await send({ payload: await frameWith(320, 160, []).jpeg() });
      expect(port).to.equal('error');
      expect(msg.error.message).to.match(/not an ONNX model/);
    });
  });
});
