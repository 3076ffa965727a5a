// Hostile input through our nodes in a real Node-RED runtime: each bad message is one error a Catch node sees,
// tells nothing about what lies outside the allowed folders, and the next frame is judged as usual.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { colourClassifier, uniformDetector, writeModel } from './support/onnx-builder';
import { frameWith, SVG_BOMB, tempDir } from './support/fixtures';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
const NODES = ['model', 'detector', 'classifier', 'router'].map((n) => require(`../../nodes/avi-${n}.js`));
const CATCH = require('@node-red/nodes/core/common/25-catch.js');

helper.init(require.resolve('node-red'));

describe('hostile input in Node-RED', function () {
  const userDir = tempDir('avi-userdir-');
  const models = tempDir('avi-models-');
  const goodDetector = writeModel(path.join(models.dir, 'good.onnx'), uniformDetector([32, 32, 16, 16], 0.9));
  const infDetector = writeModel(path.join(models.dir, 'inf.onnx'), uniformDetector([32, 32, Infinity, Infinity], 0.9));
  const classifierFile = writeModel(path.join(models.dir, 'cls.onnx'), colourClassifier({ size: 16, names: ['good', 'edge_defect', 'spot'] }));

  before(() => {
    mkdirSync(path.join(userDir.dir, 'frames'));
    execFileSync('mkfifo', [path.join(userDir.dir, 'frames', 'camera.fifo')]);
    symlinkSync('/dev/zero', path.join(userDir.dir, 'frames', 'zero.png'));
  });
  afterEach(async () => {
    await helper.unload();
    helper.settings({});
  });
  after(() => {
    userDir.cleanup();
    models.cleanup();
  });

  const flow = (detectorPath: string) =>
    [
      { id: 'f1', type: 'tab' },
      { id: 'det-model', type: 'avi-model', path: detectorPath, watch: false },
      { id: 'cls-model', type: 'avi-model', path: classifierFile, watch: false },
      { id: 'detector', type: 'avi-detector', model: 'det-model', wires: [['out']] },
      { id: 'classifier', type: 'avi-classifier', model: 'cls-model', wires: [['router']] },
      { id: 'router', type: 'avi-router', goodClasses: 'good', defaultReject: 0.5, defaultReview: 0, wires: [['out'], ['out'], ['out']] },
      { id: 'out', type: 'helper' },
      { id: 'catch', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ].map((n) => (n.type === 'tab' || n.type === 'avi-model' ? n : { ...n, z: 'f1', x: 0, y: 0 }));

  async function start(detectorPath = goodDetector, settings: Record<string, unknown> = {}) {
    helper.settings({ userDir: userDir.dir, ...settings });
    await helper.load([...NODES, CATCH], flow(detectorPath));
  }

  /** Sends one message into a node and waits for it to come out, or to reach the Catch node. */
  function send(nodeId: string, msg: Record<string, unknown>): Promise<{ sent?: any; caught?: any }> {
    return new Promise((resolve) => {
      const out = helper.getNode('out');
      const caught = helper.getNode('caught');
      const onOut = (m: any) => finish({ sent: m });
      const onCaught = (m: any) => finish({ caught: m });
      const finish = (result: { sent?: any; caught?: any }) => {
        out.removeListener('input', onOut);
        caught.removeListener('input', onCaught);
        resolve(result);
      };
      out.on('input', onOut);
      caught.on('input', onCaught);
      helper.getNode(nodeId).receive(msg);
    });
  }

  /** The error text a Catch node got (node.error gives "Error: text", done(err) the text). */
  const errorText = (caught: any): string => String(caught?.error?.message).replace(/^Error: /, '');
  const refusal = (name: string) => `image file ${JSON.stringify(name)} is not a file inside the folders allowed for file paths in messages; see "File paths in messages" in the help`;

  it('a FIFO, /dev/zero, ../ and absolute paths: one error each to Catch, then the next frame is judged', async () => {
    await start(goodDetector, { aviAllowedPaths: ['/dev'] });
    const rssBefore = process.memoryUsage().rss;
    const cases: Array<[string, string]> = [
      ['frames/camera.fifo', `image file ${path.join(userDir.dir, 'frames', 'camera.fifo')} is not a regular file (a device, FIFO or socket); refused`],
      // The link leads to /dev, which this runtime allows: refused as a device, not read.
      ['frames/zero.png', 'image file /dev/zero is not a regular file (a device, FIFO or socket); refused'],
      ['/dev/zero', 'image file /dev/zero is not a regular file (a device, FIFO or socket); refused'],
      // Whether the file outside exists or not, the text is the same.
      ['../../../../../../../../etc/passwd', refusal(path.resolve(userDir.dir, '../../../../../../../../etc/passwd'))],
      ['../../../../../../../../etc/no-such-file', refusal(path.resolve(userDir.dir, '../../../../../../../../etc/no-such-file'))],
      ['/etc/hostname', refusal('/etc/hostname')],
    ];
    for (const [payload, expected] of cases) {
      const { sent, caught } = await send('detector', { payload });
      expect(sent, payload).to.equal(undefined);
      expect(errorText(caught), payload).to.equal(expected);
    }
    expect(process.memoryUsage().rss - rssBefore, 'memory grown by the /dev/zero messages').to.be.below(64 * 1024 ** 2);
    const { sent } = await send('detector', { payload: await frameWith(64, 64, []).png() });
    expect(sent.detections).to.have.length(1);
  });

  it('without aviAllowedPaths, /dev/zero is just outside', async () => {
    await start();
    const { caught } = await send('detector', { payload: '/dev/zero' });
    expect(errorText(caught)).to.equal(refusal('/dev/zero'));
  });

  it('an SVG bomb is refused before it is decoded, and the next frame is judged', async () => {
    await start();
    const { caught } = await send('detector', { payload: SVG_BOMB });
    expect(errorText(caught)).to.match(/not a supported image format .*it looks like SVG/);
    const { sent } = await send('detector', { payload: await frameWith(64, 64, []).jpeg() });
    expect(sent.detections).to.have.length(1);
  });

  it('a detector whose outputs are infinite: an error on each frame, never boxes', async () => {
    await start(infDetector);
    for (let i = 0; i < 2; i++) {
      const { sent, caught } = await send('detector', { payload: await frameWith(64, 64, []).png() });
      expect(sent).to.equal(undefined);
      expect(errorText(caught)).to.match(/^the model's output is not usable: 300 boxes with NaN or infinite coordinates/);
    }
  });

  it('verdict.models holds only what our model nodes set on this message, not a forged msg.models', async () => {
    await start();
    const warnings: string[] = [];
    helper.getNode('router').on('call:warn', (call: any) => warnings.push(String(call.args[0])));
    const frame = await frameWith(64, 64, [{ x: 0, y: 0, width: 64, height: 64, colour: [200, 30, 30] }]).png();
    const forged = { name: 'approved-by-qa.onnx', sha256: '0'.repeat(64) };
    const { sent } = await send('classifier', {
      payload: frame,
      detections: [{ id: 0, class: 'pill', classId: 0, confidence: 0.9, box: { x: 0, y: 0, width: 64, height: 64 } }],
      models: { detector: forged, auditor: forged },
      _aviSeals: { detector: 'made-up' },
    });
    expect(Object.keys(sent.verdict.models)).to.deep.equal(['classifier']);
    expect(sent.verdict.models.classifier.name).to.equal('cls.onnx');
    expect(warnings).to.deep.equal(['msg.models.detector, msg.models.auditor was not set by an avi model node on this message; left out of verdict.models (warned once)']);
  });
});
