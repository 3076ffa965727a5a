// Relative file paths (models, labels, images) are looked up in the Node-RED user directory, then in this
// package, never against Node-RED's working directory: an imported example finds its frames in any Node-RED.
import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { resolveFilePath } from '../src/nodes/common';
import { fixedOutputDetector, writeModel } from './support/onnx-builder';
import { frameWith, REPO_ROOT, tempDir } from './support/fixtures';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
const NODES = ['model', 'detector', 'visualizer'].map((n) => require(`../../nodes/avi-${n}.js`));

helper.init(require.resolve('node-red'));

const EXAMPLE_FRAME = 'example-images/line-0001.jpg';

describe('relative file paths', function () {
  const userDir = tempDir('avi-userdir-');
  const elsewhere = tempDir('avi-cwd-');
  const ownFrame = path.join(userDir.dir, 'frames', 'unit.png');

  before(async () => {
    mkdirSync(path.dirname(ownFrame), { recursive: true });
    writeFileSync(ownFrame, await frameWith(96, 64, []).png());
  });
  after(() => {
    userDir.cleanup();
    elsewhere.cleanup();
  });

  describe('resolveFilePath', () => {
    it('finds a file in the user directory first', () => {
      expect(resolveFilePath('frames/unit.png', userDir.dir)).to.equal(ownFrame);
    });

    it('falls back to the package for its bundled examples and models', () => {
      expect(resolveFilePath(EXAMPLE_FRAME, userDir.dir)).to.equal(path.join(REPO_ROOT, EXAMPLE_FRAME));
      expect(resolveFilePath(EXAMPLE_FRAME, undefined)).to.equal(path.join(REPO_ROOT, EXAMPLE_FRAME));
    });

    it('prefers the user directory when both have the file', () => {
      const shadowed = path.join(userDir.dir, 'package.json');
      writeFileSync(shadowed, '{}');
      expect(resolveFilePath('package.json', userDir.dir)).to.equal(shadowed);
      expect(resolveFilePath('package.json', undefined)).to.equal(path.join(REPO_ROOT, 'package.json'));
    });

    it('leaves absolute paths alone and names the user-directory path when nothing has the file', () => {
      expect(resolveFilePath(ownFrame, '/somewhere/else')).to.equal(ownFrame);
      expect(resolveFilePath('frames/missing.png', userDir.dir)).to.equal(path.join(userDir.dir, 'frames', 'missing.png'));
    });
  });

  describe('in nodes, with Node-RED running in another working directory', () => {
    const models = tempDir();
    // One "pill" box at the centre of whatever frame comes in (a 64x64 input, stretched).
    const detectorFile = writeModel(
      path.join(models.dir, 'one-box.onnx'),
      fixedOutputDetector({ inputShape: [1, 3, 64, 64], outputs: [{ name: 'output0', dims: [1, 5, 8], data: oneBox(8) }], metadata: { names: "{0: 'pill'}" } }),
    );
    let cwd: string;

    beforeEach(() => {
      cwd = process.cwd();
      process.chdir(elsewhere.dir);
      helper.settings({ userDir: userDir.dir });
    });
    afterEach(async () => {
      process.chdir(cwd);
      await helper.unload();
      helper.settings({ userDir: undefined });
    });
    after(models.cleanup);

    const flow = [
      { id: 'f1', type: 'tab' },
      { id: 'model', type: 'avi-model', path: detectorFile, watch: false },
      { id: 'detector', type: 'avi-detector', z: 'f1', model: 'model', confidence: 0.5, wires: [['out']] },
      { id: 'visualizer', type: 'avi-visualizer', z: 'f1', preview: false, wires: [['out']] },
      { id: 'out', type: 'helper', z: 'f1' },
      { id: 'catch', type: 'catch', z: 'f1', scope: null, uncaught: false, wires: [['out']] },
    ].map((n) => (n.z ? { ...n, x: 0, y: 0 } : n)); // flow nodes have a position; without one they read as config nodes

    async function send(nodeId: string, payload: string): Promise<any> {
      await helper.load([...NODES, require('@node-red/nodes/core/common/25-catch.js')], flow);
      const out = helper.getNode('out');
      const arrived = new Promise((resolve) => out.once('input', resolve));
      helper.getNode(nodeId).receive({ payload });
      return arrived;
    }

    it('avi-detector reads a bundled example frame by its relative path', async () => {
      const msg = await send('detector', EXAMPLE_FRAME);
      expect(msg.error, msg.error?.message).to.equal(undefined);
      expect(msg.image).to.include({ width: 640, height: 480, path: path.join(REPO_ROOT, EXAMPLE_FRAME) });
      expect(msg.detections.map((d: any) => d.class)).to.deep.equal(['pill']);
    });

    it('avi-detector reads a frame from the user directory by its relative path', async () => {
      const msg = await send('detector', 'frames/unit.png');
      expect(msg.error, msg.error?.message).to.equal(undefined);
      expect(msg.image).to.include({ width: 96, height: 64, path: ownFrame });
    });

    it('avi-visualizer reads a relative path the same way', async () => {
      const msg = await send('visualizer', EXAMPLE_FRAME);
      expect(msg.error, msg.error?.message).to.equal(undefined);
      expect(msg.image).to.include({ width: 640, height: 480, path: path.join(REPO_ROOT, EXAMPLE_FRAME) });
      expect(Buffer.isBuffer(msg.payload)).to.equal(true);
    });

    it('a relative path found nowhere is an error naming where it was looked for', async () => {
      const msg = await send('detector', 'frames/missing.png');
      expect(msg.error.message).to.include(`image file not found: ${path.join(userDir.dir, 'frames', 'missing.png')}`);
    });
  });
});

/** YOLOv8 output [1, 5, n] with one confident box in the middle of a 64x64 input; the rest empty. */
function oneBox(n: number): Float32Array {
  const data = new Float32Array(5 * n);
  [32, 32, 16, 16, 0.9].forEach((v, row) => (data[row * n] = v));
  return data;
}
