// Every detector layout on a real onnxruntime session, with outputs the test knows, on a non-square frame.
import { expect } from 'chai';
import * as path from 'node:path';
import { writeFileSync } from 'node:fs';
import { Detector } from '../src/core/inference/detector';
import { gridCells } from '../src/core/inference/formats';
import { loadModel } from '../src/core/model/model';
import { fixedOutputDetector, writeModel } from './support/onnx-builder';
import { frameWith, tempDir } from './support/fixtures';

// A 200x100 frame letterboxed into 64x64: scale 0.32, 64x32 pixels of image with 16 rows of padding above.
const FRAME = frameWith(200, 100, []).raw;
const SCALE = 0.32;
const PAD_Y = 16;
/** The model-input box (x1, y1, x2, y2) that is the original box (x, y, w, h) after letterboxing. */
const toInput = (x: number, y: number, w: number, h: number) => [x * SCALE, y * SCALE + PAD_Y, (x + w) * SCALE, (y + h) * SCALE + PAD_Y];

describe('detector layouts', () => {
  const tmp = tempDir();
  after(tmp.cleanup);
  const file = (name: string) => path.join(tmp.dir, name);

  async function detectorFor(model: Buffer, options = {}, modelOptions = {}) {
    const loaded = await loadModel(writeModel(file(`m${Math.random().toString(36).slice(2)}.onnx`), model), modelOptions);
    return new Detector(loaded, options);
  }

  it('Ultralytics YOLOv8 [1,4+C,N]: class from the best score, boxes back in original pixels, names from metadata', async () => {
    const n = 8;
    const data = new Float32Array(6 * n);
    const put = (i: number, values: number[]) => values.forEach((v, row) => (data[row * n + i] = v));
    const [x1, y1, x2, y2] = toInput(50, 25, 50, 50);
    put(0, [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, 0.2, 0.9]);
    put(1, [10, 30, 4, 4, 0.1, 0.05]); // below the confidence threshold
    const d = await detectorFor(
      fixedOutputDetector({ inputShape: [1, 3, 64, 64], outputs: [{ name: 'output0', dims: [1, 6, n], data }], metadata: { task: 'detect', names: "{0: 'tablet', 1: 'capsule'}", imgsz: '[64, 64]' } }),
    );
    expect(d.format).to.equal('yolov8');
    const { detections } = await d.detect(FRAME);
    expect(detections).to.have.length(1);
    expect(detections[0]).to.deep.include({ id: 0, class: 'capsule', classId: 1, confidence: 0.9 });
    expect(detections[0].box).to.deep.equal({ x: 50, y: 25, width: 50, height: 50 });
  });

  it('end-to-end [1,K,6] with NMS in the graph: boxes taken as they are, no second NMS', async () => {
    const a = toInput(10, 10, 40, 40);
    const b = toInput(12, 12, 40, 40); // overlaps a heavily; an end-to-end model already decided to keep both
    const data = [...a, 0.8, 0, ...b, 0.7, 0, 0, 0, 0, 0, 0, 0];
    const d = await detectorFor(fixedOutputDetector({ inputShape: [1, 3, 64, 64], outputs: [{ name: 'output0', dims: [1, 3, 6], data }] }));
    expect(d.format).to.equal('yolo-end2end');
    const { detections } = await d.detect(FRAME);
    expect(detections.map((x) => x.confidence)).to.deep.equal([0.8, 0.7]);
    expect(detections[1].box).to.deep.equal({ x: 12, y: 12, width: 40, height: 40 });
  });

  it('YOLOv5 [1,N,5+C]: score is objectness times class score; class-aware NMS drops the duplicate', async () => {
    const n = 300;
    const data = new Float32Array(n * 7);
    const [x1, y1, x2, y2] = toInput(100, 20, 60, 60);
    const row = (i: number, v: number[]) => data.set(v, i * 7);
    row(0, [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, 0.9, 0.1, 0.8]); // 0.72 class 1
    row(1, [(x1 + x2) / 2 + 0.5, (y1 + y2) / 2, x2 - x1, y2 - y1, 0.8, 0.1, 0.8]); // 0.64, same unit: suppressed
    row(2, [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, 0.5, 0.9, 0.1]); // 0.45 class 0, same place: kept (other class)
    row(3, [5, 20, 4, 4, 0.3, 0.5, 0.5]); // 0.15: below 0.25
    const d = await detectorFor(fixedOutputDetector({ inputShape: [1, 3, 64, 64], outputs: [{ name: 'output', dims: [1, n, 7], data }] }));
    expect(d.format).to.equal('yolov5');
    const { detections } = await d.detect(FRAME);
    expect(detections.map((x) => [x.classId, x.confidence])).to.deep.equal([
      [1, 0.72],
      [0, 0.45],
    ]);
    expect(detections[0].box).to.deep.equal({ x: 100, y: 20, width: 60, height: 60 });
  });

  it('raw YOLOX [1,cells,5+C] is recognised by its grid, never decoded as YOLOv5, and grid-decoded right', async () => {
    const cells = gridCells(64, 64); // 64 + 16 + 4
    const data = new Float32Array(cells * 6);
    // Cell (gx 3, gy 4) of stride 8: centre (3 + 0.5) * 8 = 28, (4 + 0.5) * 8 = 36; size exp(ln 2) * 8 = 16.
    const i = 4 * 8 + 3;
    data.set([0.5, 0.5, Math.log(2), Math.log(2), 0.9, 0.9], i * 6);
    const d = await detectorFor(fixedOutputDetector({ inputShape: [1, 3, 64, 64], outputs: [{ name: 'output', dims: [1, cells, 6], data }] }));
    expect(d.format).to.equal('yolox');
    expect(d.preprocess).to.include({ bgr: true, normalization: 'raw', align: 'top-left' });
    const square = frameWith(64, 64, []).raw;
    const { detections } = await d.detect(square);
    expect(detections).to.have.length(1);
    expect(detections[0].box).to.deep.equal({ x: 20, y: 28, width: 16, height: 16 });
    expect(detections[0].confidence).to.be.closeTo(0.81, 1e-4);
  });

  it('RF-DETR dets (normalised cxcywh) + labels (logits): sigmoid scores, stretch resize by default', async () => {
    const q = 3;
    const dets = [0.5, 0.5, 0.2, 0.4, 0.1, 0.1, 0.05, 0.05, 0.9, 0.9, 0.1, 0.1];
    const logits = [-5, 3, -5, -5, -5, -5, -1, -6, -6];
    const d = await detectorFor(
      fixedOutputDetector({
        inputShape: [1, 3, 64, 64],
        outputs: [
          { name: 'dets', dims: [1, q, 4], data: dets },
          { name: 'labels', dims: [1, q, 3], data: logits },
        ],
      }),
    );
    expect(d.format).to.equal('rf-detr');
    expect(d.preprocess).to.include({ resize: 'stretch', normalization: 'imagenet' });
    const { detections } = await d.detect(FRAME);
    expect(detections).to.have.length(2);
    expect(detections[0].classId).to.equal(1);
    expect(detections[0].confidence).to.be.closeTo(1 / (1 + Math.exp(-3)), 1e-4);
    // Stretch: normalised coordinates map straight onto the 200x100 frame.
    expect(detections[0].box).to.deep.equal({ x: 80, y: 30, width: 40, height: 40 });
    expect(detections[1].confidence).to.be.closeTo(1 / (1 + Math.exp(1)), 1e-4);
  });

  it('RT-DETR / DEIM deploy export: fed its input size on orig_target_sizes, boxes undone from the letterbox', async () => {
    const box = toInput(20, 30, 40, 20);
    const d = await detectorFor(
      fixedOutputDetector({
        inputShape: ['batch', 3, 64, 64],
        extraInputs: [{ name: 'orig_target_sizes', type: 'int64', shape: ['batch', 2] }],
        outputs: [
          { name: 'labels', dims: [2], data: BigInt64Array.from([0n, 2n]), type: 'int64' },
          { name: 'boxes', dims: [2, 4], data: [...box, 0, 0, 1, 1] },
          { name: 'scores', dims: [2], data: [0.66, 0.1] },
        ],
      }),
    );
    expect(d.format).to.equal('detr-deploy');
    const { detections } = await d.detect(FRAME);
    expect(detections).to.have.length(1);
    expect(detections[0]).to.deep.include({ classId: 0, confidence: 0.66 });
    expect(detections[0].box).to.deep.equal({ x: 20, y: 30, width: 40, height: 20 });
  });

  it('SSD-style detection_boxes (ymin, xmin, ymax, xmax, normalised) + scores + classes', async () => {
    const d = await detectorFor(
      fixedOutputDetector({
        inputShape: [1, 3, 64, 64],
        outputs: [
          { name: 'detection_boxes', dims: [1, 2, 4], data: [0.2, 0.1, 0.6, 0.5, 0, 0, 0.1, 0.1] },
          { name: 'detection_scores', dims: [1, 2], data: [0.95, 0.05] },
          { name: 'detection_classes', dims: [1, 2], data: [3, 1] },
        ],
      }),
    );
    expect(d.format).to.equal('ssd');
    const { detections } = await d.detect(FRAME);
    expect(detections).to.have.length(1);
    expect(detections[0]).to.deep.include({ classId: 3, confidence: 0.95 });
    expect(detections[0].box).to.deep.equal({ x: 20, y: 20, width: 80, height: 40 });
  });

  it('an unreadable layout is an error that names the shapes and the setting, never garbage boxes', async () => {
    const model = fixedOutputDetector({ inputShape: [1, 3, 64, 64], outputs: [{ name: 'head', dims: [605, 95], data: new Float32Array(605 * 95) }] });
    const loaded = await loadModel(writeModel(file('bad.onnx'), model));
    expect(() => new Detector(loaded)).to.throw(/unrecognised detector output layout: outputs head \[605,95\].*"Output format"/);
    const forced = await loadModel(file('bad.onnx'), { format: 'yolov8' });
    expect(() => new Detector(forced)).to.throw(/do not fit the "yolov8" layout/);
  });

  it('class filter by name or id, max detections, and the zero-score warning once', async () => {
    const n = 8;
    const data = new Float32Array(6 * n);
    for (let i = 0; i < 4; i++) [8 + i * 12, 40, 8, 8, i % 2 ? 0.9 : 0, i % 2 ? 0 : 0.8].forEach((v, row) => (data[row * n + i] = v));
    const model = fixedOutputDetector({ inputShape: [1, 3, 64, 64], outputs: [{ name: 'output0', dims: [1, 6, n], data }], metadata: { task: 'detect', names: "['good', 'chipped']" } });
    expect((await (await detectorFor(model, { classes: ['chipped'] })).detect(FRAME)).detections.map((x) => x.class)).to.deep.equal(['chipped', 'chipped']);
    expect((await (await detectorFor(model, { classes: ['0'] })).detect(FRAME)).detections.map((x) => x.class)).to.deep.equal(['good', 'good']);
    expect((await (await detectorFor(model, { maxDetections: 3 })).detect(FRAME)).detections).to.have.length(3);
    try {
      await detectorFor(model, { classes: ['cracked'] });
      expect.fail('an unknown class in the filter must be refused');
    } catch (err) {
      expect((err as Error).message).to.match(/"cracked" is not one of the model's classes \(good, chipped\)/);
    }

    const warnings: string[] = [];
    const silent = fixedOutputDetector({ inputShape: [1, 3, 64, 64], outputs: [{ name: 'output0', dims: [1, 6, n], data: new Float32Array(6 * n) }] });
    const d = await detectorFor(silent, { warn: (t: string) => warnings.push(t) });
    expect((await d.detect(FRAME)).detections).to.deep.equal([]);
    await d.detect(FRAME);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/never scores/);
  });

  it('names: generic without metadata, from a labels file, and a mismatch is a warning', async () => {
    const n = 8;
    const data = new Float32Array(7 * n);
    [20, 40, 8, 8, 0, 0, 0.9].forEach((v, row) => (data[row * n] = v));
    const model = fixedOutputDetector({ inputShape: [1, 3, 64, 64], outputs: [{ name: 'output0', dims: [1, 7, n], data }] });
    expect((await (await detectorFor(model)).detect(FRAME)).detections[0].class).to.equal('class2');
    writeFileSync(file('labels.txt'), 'round\noval\ncapsule\n');
    expect((await (await detectorFor(model, {}, { labels: file('labels.txt') })).detect(FRAME)).detections[0].class).to.equal('capsule');
    const warnings: string[] = [];
    await detectorFor(model, { warn: (t: string) => warnings.push(t) }, { classNames: ['a', 'b'] });
    expect(warnings[0]).to.match(/scores 3 classes but 2 class names/);
  });
});
