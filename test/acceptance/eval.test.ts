// `avi eval` on real third-party data (../shared/fixtures); skipped where the fixtures are absent.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { alignClasses, readDataset, type DetectionDataset } from '../../src/core/evaluation/datasets';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FIXTURES = path.resolve(ROOT, '..', 'shared', 'fixtures');
const AVI = path.join(ROOT, 'bin', 'avi.js');
const NEU = path.join(FIXTURES, 'datasets', 'neu-det-yolo');
const NEU_MODEL = path.join(FIXTURES, 'models', 'detect', 'yolov8n-neu-det-int8', 'best_int8.onnx');
const PILLS = path.join(FIXTURES, 'datasets', 'pills-roboflow-coco');
const COCO_MODEL = path.join(FIXTURES, 'models', 'detect', 'yolov8n-coco-int8', 'yolov8n_int8.onnx');

function avi(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [AVI, ...args], { timeout: 600_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('acceptance: avi eval on NEU-DET (YOLO, bare images/ + labels/)', function () {
  // 120 images through a 640x640 model on CPU: about a minute on a small machine.
  this.timeout(600_000);
  before(function () {
    if (!existsSync(NEU) || !existsSync(NEU_MODEL)) this.skip();
  });

  it('reads the bare folder: 120 images, 297 boxes, generic names matched to the model by id', async () => {
    const ds = (await readDataset(NEU)) as DetectionDataset;
    expect(ds.splits).to.deep.equal(['val']);
    expect(ds.images).to.have.length(120);
    expect(ds.images.reduce((n, i) => n + i.truth.length, 0)).to.equal(297);
    expect(ds.images.every((i) => i.width === 200 && i.height === 200)).to.equal(true);
    expect(ds.named).to.equal(false);
    const names = ['crazing', 'inclusion', 'patches', 'pitted_surface', 'rolled-in_scale', 'scratches'];
    expect(alignClasses(ds.classNames, names, ds.named)).to.deep.include({ by: 'id', fromDataset: [0, 1, 2, 3, 4, 5] });
  });

  it('scores the NEU-DET model at or above the fixture README floor, and as pycocotools does', async () => {
    const labels = path.join(NEU, 'data.yaml.upstream');
    const { code, stdout, stderr } = await avi(['eval', '--model', NEU_MODEL, '--dataset', NEU, '--labels', labels, '--json']);
    expect(stderr).to.equal('');
    expect(code).to.equal(0);
    const r = JSON.parse(stdout);
    expect(r.notes.join(' ')).to.match(/by name/);
    expect(r.counts.truth).to.equal(297);
    expect(r.perClass).to.have.length(6);
    // The fixture README: a plain letterbox pipeline scored precision 0.63, recall 0.74 at IoU 0.5, conf 0.25.
    expect(r.precision).to.be.at.least(0.63);
    expect(r.recall).to.be.at.least(0.74);
    // pycocotools 2.0.11 (COCOeval, maxDets 300) on this pipeline's predictions gave mAP50 0.7701 and
    // mAP50:95 0.4683; the tolerance absorbs onnxruntime builds and execution providers.
    expect(r.map50).to.be.closeTo(0.7701, 0.02);
    expect(r.map50_95).to.be.closeTo(0.4683, 0.02);
  });
});

describe('acceptance: avi eval on the Roboflow pills export (COCO JSON per split)', () => {
  before(function () {
    if (!existsSync(PILLS)) this.skip();
  });

  it('reads valid + test by default, every split on request, without the unused "pills" supercategory', async () => {
    const ds = (await readDataset(PILLS)) as DetectionDataset;
    expect(ds.format).to.equal('coco');
    expect(ds.splits).to.deep.equal(['test', 'valid']);
    expect(ds.images).to.have.length(14);
    expect(ds.classNames).to.deep.equal(['capsules', 'tablets']);
    const all = (await readDataset(PILLS, { splits: ['all'] })) as DetectionDataset;
    // README: 92 images (train 78, valid 7, test 7), 1,486 boxes
    expect(all.images).to.have.length(92);
    expect(all.images.filter((i) => i.split === 'train')).to.have.length(78);
    expect(all.images.reduce((n, i) => n + i.truth.length, 0)).to.equal(1486);
    expect(all.images.every((i) => i.width === 640 && i.height === 640)).to.equal(true);
  });

  it('refuses a COCO-80 model on it in one line instead of scoring zeros', async function () {
    if (!existsSync(COCO_MODEL)) this.skip();
    const { code, stderr } = await avi(['eval', '--model', COCO_MODEL, '--dataset', PILLS]);
    expect(code).to.equal(1);
    expect(stderr).to.match(/^avi: none of the dataset's classes \(capsules, tablets\) is a class of the model \(person, bicycle, /);
  });
});
