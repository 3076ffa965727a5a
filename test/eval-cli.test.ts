// `avi eval` end to end: the real CLI process, real onnxruntime sessions on small models made by code,
// datasets in all three layouts written by the test, and figures worked out by hand.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { colourClassifier, fixedOutputDetector, writeModel } from './support/onnx-builder';

const AVI = path.resolve(__dirname, '..', '..', 'bin', 'avi.js');

function avi(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [AVI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function solidImage(file: string, size: number, rgb: [number, number, number]): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  await sharp({ create: { width: size, height: size, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toFile(file);
}

function write(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

// One 96x96 frame, the model's input size, so boxes need no letterbox. Boxes as [x, y, width, height].
type Xywh = [number, number, number, number];
const cell = (row: number, col: number): Xywh => [4 + 32 * col, 4 + 32 * row, 24, 24];

// What the fixed-output detector predicts on any image: [class, confidence, box].
const PREDICTIONS: Array<[number, number, Xywh]> = [
  [0, 0.9, cell(0, 0)], // crack on a crack: TP
  [0, 0.8, cell(1, 1)], // crack on nothing: FP
  [0, 0.7, cell(0, 1)], // TP
  [0, 0.6, cell(0, 2)], // TP
  [0, 0.5, cell(1, 2)], // FP
  [1, 0.4, [4, 68, 18, 24]], // pit: IoU 18*24 / (25*24) = 0.72 with the pit truth box
  [2, 0.3, cell(2, 2)], // stain, a class with no truth
];
// Truth: four cracks (the one at row 1, col 0 is never found) and one pit 25 wide.
const TRUTH: Array<[number, Xywh]> = [
  [0, cell(0, 0)],
  [0, cell(0, 1)],
  [0, cell(0, 2)],
  [0, cell(1, 0)],
  [1, [4, 68, 25, 24]],
];

function detectorModel(): Buffer {
  const anchors = 8; // one more than predicted, scoring 0 everywhere
  const rows = 4 + 3;
  const data = new Float32Array(rows * anchors);
  PREDICTIONS.forEach(([cls, conf, [x, y, w, h]], a) => {
    data[0 * anchors + a] = x + w / 2;
    data[1 * anchors + a] = y + h / 2;
    data[2 * anchors + a] = w;
    data[3 * anchors + a] = h;
    data[(4 + cls) * anchors + a] = conf;
  });
  return fixedOutputDetector({
    inputShape: [1, 3, 96, 96],
    outputs: [{ name: 'output0', dims: [1, rows, anchors], data }],
    metadata: { task: 'detect', names: "{0: 'crack', 1: 'pit', 2: 'stain'}", imgsz: '[96, 96]' },
  });
}

describe('avi eval (CLI, end to end)', function () {
  this.timeout(60_000);
  let tmp: string;
  let detector: string;
  let classifier: string;

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'avi-eval-'));
    detector = writeModel(path.join(tmp, 'detector.onnx'), detectorModel());
    classifier = writeModel(path.join(tmp, 'colours.onnx'), colourClassifier({ size: 8, names: ['red', 'green', 'blue'] }));

    // YOLO: data.yaml naming the classes in another order than the model, so matching is by name.
    const yolo = path.join(tmp, 'yolo');
    write(path.join(yolo, 'data.yaml'), 'path: .\nval: images/val\nnames: [pit, crack]\n');
    await solidImage(path.join(yolo, 'images/val/frame.png'), 96, [128, 128, 128]);
    const yoloClass = { 0: 1, 1: 0 } as Record<number, number>;
    write(
      path.join(yolo, 'labels/val/frame.txt'),
      TRUTH.map(([c, [x, y, w, h]]) => `${yoloClass[c]} ${(x + w / 2) / 96} ${(y + h / 2) / 96} ${w / 96} ${h / 96}`).join('\n'),
    );

    // COCO, Roboflow style: valid/_annotations.coco.json with an unused supercategory 0.
    const coco = path.join(tmp, 'coco');
    await solidImage(path.join(coco, 'valid/frame.png'), 96, [128, 128, 128]);
    write(
      path.join(coco, 'valid/_annotations.coco.json'),
      JSON.stringify({
        categories: [
          { id: 0, name: 'defects', supercategory: 'none' },
          { id: 1, name: 'crack', supercategory: 'defects' },
          { id: 2, name: 'pit', supercategory: 'defects' },
        ],
        images: [{ id: 1, file_name: 'frame.png', width: 96, height: 96 }],
        annotations: TRUTH.map(([c, bbox], i) => ({ id: i + 1, image_id: 1, category_id: c + 1, bbox, area: bbox[2] * bbox[3], iscrowd: 0 })),
      }),
    );

    // Class folders: val/<class>/, with one blue image filed as red and one green filed as blue.
    const folders = path.join(tmp, 'folders');
    const colours = { red: [230, 20, 20], green: [20, 230, 20], blue: [20, 20, 230] } as Record<string, [number, number, number]>;
    const filed: Array<[string, string]> = [
      ['red', 'red'], ['red', 'red'], ['red', 'blue'],
      ['green', 'green'], ['green', 'green'],
      ['blue', 'blue'], ['blue', 'green'],
    ];
    for (const [i, [folder, colour]] of filed.entries()) await solidImage(path.join(folders, 'val', folder, `${i}.png`), 8, colours[colour]);
    // A train split that must not be read by default.
    await solidImage(path.join(folders, 'train', 'red', 'x.png'), 8, colours.green);
  });

  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('scores a detector on a YOLO layout as worked out by hand', async () => {
    const { code, stdout, stderr } = await avi(['eval', '--model', detector, '--dataset', path.join(tmp, 'yolo'), '--json']);
    expect(stderr).to.equal('');
    expect(code).to.equal(0);
    const r = JSON.parse(stdout);
    const crack = r.perClass.find((c: { class: string }) => c.class === 'crack');
    const pit = r.perClass.find((c: { class: string }) => c.class === 'pit');
    const stain = r.perClass.find((c: { class: string }) => c.class === 'stain');
    // crack ranking .9 TP, .8 FP, .7 TP, .6 TP, .5 FP against 4 truth boxes: AP = (26*1 + 50*.75)/101 = 63.5/101
    // at every IoU threshold (the boxes are exact).
    expect(crack.ap50).to.be.closeTo(63.5 / 101, 1e-9);
    expect(crack.ap50_95).to.be.closeTo(63.5 / 101, 1e-9);
    // pit: one prediction at IoU 0.72 -> AP50 1, AP50:95 5/10.
    expect(pit.ap50).to.equal(1);
    expect(pit.ap50_95).to.be.closeTo(0.5, 1e-9);
    expect(stain).to.include({ truth: 0, ap50: null });
    // means over crack and pit: mAP50 (63.5/101 + 1)/2, mAP50:95 (63.5/101 + .5)/2
    expect(r.map50).to.be.closeTo((63.5 / 101 + 1) / 2, 1e-9);
    expect(r.map50_95).to.be.closeTo((63.5 / 101 + 0.5) / 2, 1e-9);
    // at conf 0.25: crack 3 TP 2 FP -> P .6, R .75, F1 2*.6*.75/1.35 = 2/3; pit P 1, R 1, F1 1
    expect(crack).to.include({ tp: 3, fp: 2, fn: 1 });
    expect(r.precision).to.be.closeTo(0.8, 1e-9);
    expect(r.recall).to.be.closeTo(0.875, 1e-9);
    expect(r.f1).to.be.closeTo(5 / 6, 1e-9);
    expect(r.model.sha256).to.equal(sha256(detector));
    expect(r.notes.join(' ')).to.match(/by name/).and.to.match(/without truth boxes.*stain/);
  });

  it('reads P/R/F1 at --conf from the same ranking', async () => {
    const { stdout } = await avi(['eval', '--model', detector, '--dataset', path.join(tmp, 'yolo'), '--conf', '0.65', '--json']);
    const r = JSON.parse(stdout);
    // crack .9 TP, .8 FP, .7 TP -> P 2/3, R 1/2; pit's .4 is below: P 0, R 0 -> means 1/3 and 1/4; mAP unchanged
    expect(r.precision).to.be.closeTo(1 / 3, 1e-9);
    expect(r.recall).to.be.closeTo(0.25, 1e-9);
    expect(r.map50).to.be.closeTo((63.5 / 101 + 1) / 2, 1e-9);
  });

  it('counts every class as one with --single-class', async () => {
    const { code, stdout } = await avi(['eval', '--model', detector, '--dataset', path.join(tmp, 'coco'), '--single-class', '--json']);
    expect(code).to.equal(0);
    const r = JSON.parse(stdout);
    expect(r.perClass.map((c: { class: string }) => c.class)).to.deep.equal(['object']);
    // one ranking over 5 truth boxes: .9 TP, .8 FP, .7 TP, .6 TP, .5 FP, .4 TP (the pit), .3 FP (the stain).
    // Interpolated precision 1 up to recall .2, .75 up to .6, 4/6 up to .8: AP = (21 + 40*.75 + 20*4/6)/101
    expect(r.map50).to.be.closeTo((21 + 30 + 40 / 3) / 101, 1e-9);
    expect(r.counts).to.include({ truth: 5, predictions: 7, tp: 4, fp: 3, fn: 1 });
    expect(r.notes.join(' ')).to.match(/single class/);
    const { code: refused, stderr } = await avi(['eval', '--model', classifier, '--dataset', path.join(tmp, 'folders'), '--single-class']);
    expect(refused).to.not.equal(0);
    expect(stderr).to.match(/--single-class is for detectors/);
  });

  it('gives the same figures from the same boxes in COCO JSON', async () => {
    const yolo = JSON.parse((await avi(['eval', '--model', detector, '--dataset', path.join(tmp, 'yolo'), '--json'])).stdout);
    const { code, stdout } = await avi(['eval', '--model', detector, '--dataset', path.join(tmp, 'coco'), '--json']);
    expect(code).to.equal(0);
    const coco = JSON.parse(stdout);
    expect(coco.dataset.format).to.equal('coco');
    for (const key of ['map50', 'map50_95', 'precision', 'recall', 'f1']) expect(coco[key], key).to.be.closeTo(yolo[key], 1e-9);
    expect(coco.confusion).to.deep.equal(yolo.confusion);
  });

  it('writes a self-contained HTML report with hashes, thresholds, curves and the matrix', async () => {
    const report = path.join(tmp, 'report.html');
    const labels = path.join(tmp, 'labels.txt');
    write(labels, 'crack\npit\n<b>stain</b>\n');
    const { code, stdout } = await avi(['eval', '--model', detector, '--dataset', path.join(tmp, 'yolo'), '--labels', labels, '--report', report]);
    expect(code).to.equal(0);
    expect(stdout).to.match(/^crack\s+4\s+5\s+3\s+2\s+1\s+0\.600\s+0\.750\s+0\.667\s+0\.629\s+0\.629$/m);
    const html = readFileSync(report, 'utf8');
    expect(html).to.match(/^<!DOCTYPE html>/);
    expect(html).to.contain(sha256(detector));
    expect(html).to.match(/Dataset SHA-256<\/th><td>[0-9a-f]{64}</);
    expect(html).to.contain('0.25');
    // two PR curves (crack, pit) and the confusion matrix
    expect(html.match(/<svg /g)).to.have.length(3);
    expect(html).to.contain('&lt;b&gt;stain&lt;/b&gt;');
    expect(html).to.not.contain('<b>stain');
    // nothing fetched: no links, sources or URLs
    expect(html).to.not.match(/\b(src|href)=|https?:|url\(/);
  });

  it('scores a classifier on class folders: accuracy, per-class P/R and the confusion matrix by hand', async () => {
    const { code, stdout } = await avi(['eval', '--model', classifier, '--dataset', path.join(tmp, 'folders'), '--json']);
    expect(code).to.equal(0);
    const r = JSON.parse(stdout);
    expect(r.dataset.splits).to.deep.equal(['val']);
    // In the model's class order red, green, blue; rows truth (folder), columns predicted (colour):
    // red folder: red, red, blue; green folder: green, green; blue folder: blue, green
    expect(r.confusion.labels).to.deep.equal(['red', 'green', 'blue']);
    expect(r.confusion.matrix).to.deep.equal([
      [2, 0, 1],
      [0, 2, 0],
      [0, 1, 1],
    ]);
    // accuracy 5/7; precision red 2/2, green 2/3, blue 1/2; recall red 2/3, green 2/2, blue 1/2
    expect(r.accuracy).to.be.closeTo(5 / 7, 1e-9);
    expect(r.perClass.map((c: { precision: number }) => c.precision)).to.deep.equal([1, 2 / 3, 0.5]);
    expect(r.perClass.map((c: { recall: number }) => c.recall)).to.deep.equal([2 / 3, 1, 0.5]);
  });

  it('says in one line when the model and the dataset do not go together', async () => {
    const { code, stderr } = await avi(['eval', '--model', classifier, '--dataset', path.join(tmp, 'yolo')]);
    expect(code).to.equal(1);
    expect(stderr).to.match(/^avi: colours\.onnx is a classifier, but .* is a detection set \(YOLO boxes\)\n$/);
    const missing = await avi(['eval', '--dataset', path.join(tmp, 'yolo')]);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.match(/^avi: --model is required/);
    const badConf = await avi(['eval', '--model', detector, '--dataset', path.join(tmp, 'yolo'), '--conf', '25']);
    expect(badConf.stderr).to.match(/--conf must be a number from 0 to 1/);
    const badProfile = await avi(['eval', '--model', classifier, '--dataset', path.join(tmp, 'folders'), '--colour-profile', 'srgb']);
    expect(badProfile.stderr).to.match(/--colour-profile must be ignore or apply, got "srgb"/);
  });

  it('decodes as the training pipeline did, or with --colour-profile apply as the profile says', async () => {
    // The folders' PNGs carry no profile: both give the same figures, and the report says which was used.
    const [ignored, applied] = await Promise.all(['ignore', 'apply'].map((p) => avi(['eval', '--model', classifier, '--dataset', path.join(tmp, 'folders'), '--colour-profile', p, '--json'])));
    expect([ignored.code, applied.code]).to.deep.equal([0, 0]);
    const [a, b] = [JSON.parse(ignored.stdout), JSON.parse(applied.stdout)];
    expect(b.accuracy).to.equal(a.accuracy);
    expect([a, b].map((r) => r.settings.find((s: { name: string }) => s.name === 'colour-profile').value)).to.deep.equal(['ignore', 'apply']);
  });
});
