// `avi detect` and `avi classify` as a user runs them: a real process, real files, JSON on stdout.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { colourClassifier, fixedOutputDetector, writeModel } from './support/onnx-builder';
import { frameWith, REPO_ROOT, tempDir } from './support/fixtures';

const run = promisify(execFile);
const AVI = path.join(REPO_ROOT, 'bin', 'avi.js');

async function avi(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [AVI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('avi command line', function () {
  const tmp = tempDir();
  after(tmp.cleanup);
  const file = (name: string) => path.join(tmp.dir, name);

  before(async () => {
    // A YOLOv8-layout detector reporting one "capsule" at (20, 10, 40, 20) on a 128x64 frame (scale 0.5, 16 rows of padding).
    const n = 8;
    const data = new Float32Array(6 * n);
    [20, 26, 20, 10, 0.1, 0.87].forEach((v, row) => (data[row * n] = v));
    writeModel(file('det.onnx'), fixedOutputDetector({ inputShape: [1, 3, 64, 64], outputs: [{ name: 'output0', dims: [1, 6, n], data }] }));
    writeFileSync(file('labels.txt'), 'tablet\ncapsule\n');
    writeModel(file('cls.onnx'), colourClassifier({ size: 16, names: ['red', 'green', 'blue'] }));
    writeFileSync(file('frame.png'), await frameWith(128, 64, []).png());
    writeFileSync(file('green.jpg'), await frameWith(40, 40, [{ x: 0, y: 0, width: 40, height: 40, colour: [20, 220, 30] }]).jpeg());
  });

  it('detect --json prints one array with boxes in original pixels and names from the labels file', async () => {
    const { code, stdout } = await avi('detect', '--model', file('det.onnx'), '--labels', file('labels.txt'), '--json', file('frame.png'));
    expect(code).to.equal(0);
    expect(JSON.parse(stdout)).to.deep.equal([
      { image: file('frame.png'), width: 128, height: 64, detections: [{ class: 'capsule', classId: 1, confidence: 0.87, box: { x: 20, y: 10, width: 40, height: 20 } }] },
    ]);
  });

  it('detect --conf above every score prints no detections', async () => {
    const { code, stdout } = await avi('detect', '--model', file('det.onnx'), '--conf', '0.9', '--json', file('frame.png'));
    expect(code).to.equal(0);
    expect(JSON.parse(stdout)[0].detections).to.deep.equal([]);
  });

  it('classify --json prints class, confidence and scores per image', async () => {
    const { code, stdout } = await avi('classify', '--model', file('cls.onnx'), '--json', file('green.jpg'));
    expect(code).to.equal(0);
    const [result] = JSON.parse(stdout);
    expect(result).to.include({ image: file('green.jpg'), width: 40, height: 40, class: 'green' });
    expect(result.confidence).to.be.above(0.99);
    expect(Object.keys(result.scores)).to.have.members(['red', 'green', 'blue']);
  });

  it('fails with a non-zero status and one line for a missing model, a bad image, a bad flag', async () => {
    for (const [args, expected] of [
      [['detect', '--model', file('none.onnx'), file('frame.png')], /^avi: model file not found: .*none\.onnx\n$/],
      [['detect', '--model', file('det.onnx'), file('labels.txt')], /^avi: cannot decode image .*labels\.txt: .*\n$/],
      [['detect', '--model', file('det.onnx'), '--conf', 'high', file('frame.png')], /^avi: --conf must be a number, got "high"\n$/],
      [['detect', '--frobnicate'], /^avi: Unknown option '--frobnicate'.*\n$/],
      [['classify', '--model', file('det.onnx'), file('frame.png')], /^avi: det\.onnx is not a classifier.*\n$/],
    ] as Array<[string[], RegExp]>) {
      const { code, stderr } = await avi(...args);
      expect(code, args.join(' ')).to.not.equal(0);
      expect(stderr).to.match(expected);
    }
  });
});
