// `avi detect` and `avi classify` as a user runs them: a real process, real files, JSON on stdout.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { colourClassifier, fixedOutputDetector, writeModel } from './support/onnx-builder';
import { frameWith, REPO_ROOT, tempDir } from './support/fixtures';
import { runGuarded } from './support/guard';

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
      [['detect', '--model', file('det.onnx'), '--conf', 'high', file('frame.png')], /^avi: --conf must be a number from 0 to 1, got "high"\n$/],
      [['detect', '--frobnicate'], /^avi: Unknown option '--frobnicate'.*\n$/],
      [['classify', '--model', file('det.onnx'), file('frame.png')], /^avi: det\.onnx is not a classifier.*\n$/],
    ] as Array<[string[], RegExp]>) {
      const { code, stderr } = await avi(...args);
      expect(code, args.join(' ')).to.not.equal(0);
      expect(stderr).to.match(expected);
    }
  });

  it('--conf -1 is a range error, not "ambiguous"', async () => {
    const { code, stderr } = await avi('detect', '--model', file('det.onnx'), '--conf', '-1', file('frame.png'));
    expect(code).to.equal(1);
    expect(stderr).to.equal('avi: --conf must be a number from 0 to 1, got "-1"\n');
  });

  it('refuses /dev/zero and FIFOs as model, image or labels, without reading them (killed above 512 MB)', async () => {
    execFileSync('mkfifo', [file('frames.fifo')]);
    for (const [args, expected] of [
      [['--model', '/dev/zero', file('frame.png')], 'avi: model file /dev/zero is not a regular file (a device, FIFO or socket); refused\n'],
      [['--model', file('det.onnx'), '/dev/zero'], 'avi: image file /dev/zero is not a regular file (a device, FIFO or socket); refused\n'],
      [['--model', file('det.onnx'), file('frames.fifo')], `avi: image file ${file('frames.fifo')} is not a regular file (a device, FIFO or socket); refused\n`],
      [['--model', file('det.onnx'), '--labels', '/dev/zero', file('frame.png')], 'avi: labels file /dev/zero is not a regular file (a device, FIFO or socket); refused\n'],
    ] as Array<[string[], string]>) {
      const result = await runGuarded(process.execPath, [AVI, 'detect', ...args], 512 * 1024 ** 2);
      expect(result.killed, `${args.join(' ')}: peak RSS ${result.peakRss}`).to.equal(false);
      expect(result.code, args.join(' ')).to.equal(1);
      expect(result.stderr).to.equal(expected);
    }
  });

  it('takes any number of images: 400 arguments (a 50 KB command line), a folder, a list file', async () => {
    // From about 30 KB of arguments, onnxruntime 1.30 overflowed the main thread's stack (a segmentation fault).
    const many = path.join(tmp.dir, 'many-frames-from-the-line-camera');
    mkdirSync(many);
    const names = Array.from({ length: 400 }, (_, i) => path.join(many, `frame-${String(i).padStart(5, '0')}-${'camera-2-station-4-'.repeat(4)}.png`));
    for (const name of names) symlinkSync(file('frame.png'), name);
    writeFileSync(file('list.txt'), `# frames to check\n${names.slice(0, 3).join('\n')}\n`);
    const byArgs = await avi('detect', '--model', file('det.onnx'), '--json', ...names);
    expect(byArgs.code, byArgs.stderr).to.equal(0);
    const results = JSON.parse(byArgs.stdout);
    expect(results.map((r: { image: string }) => r.image)).to.deep.equal(names);
    expect(results.every((r: { detections: unknown[] }) => r.detections.length === 1)).to.equal(true);
    const byFolder = await avi('detect', '--model', file('det.onnx'), '--json', many);
    expect(JSON.parse(byFolder.stdout).map((r: { image: string }) => r.image)).to.deep.equal(names);
    const byList = await avi('classify', '--model', file('cls.onnx'), '--json', '--list', file('list.txt'));
    expect(JSON.parse(byList.stdout).map((r: { image: string }) => r.image)).to.deep.equal(names.slice(0, 3));
  });
});
