// Dataset readers on small sets written by the test in a temporary folder.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { alignClasses, datasetSha256, readDataset, readLabels, type ClassificationDataset, type DetectionDataset } from '../src/core/evaluation/datasets';

let tmp: string;

async function image(file: string, width: number, height: number): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  await sharp({ create: { width, height, channels: 3, background: { r: 90, g: 120, b: 150 } } }).jpeg().toFile(file);
}

function write(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

function cocoJson(images: Array<{ id: number; file: string; boxes: Array<[number, number[]]> }>): string {
  return JSON.stringify({
    categories: [
      { id: 0, name: 'pills', supercategory: 'none' },
      { id: 1, name: 'capsules', supercategory: 'pills' },
      { id: 2, name: 'tablets', supercategory: 'pills' },
    ],
    images: images.map((i) => ({ id: i.id, file_name: i.file, width: 64, height: 48 })),
    annotations: images.flatMap((i) =>
      i.boxes.map(([category, bbox], k) => ({ id: i.id * 100 + k, image_id: i.id, category_id: category, bbox, iscrowd: 0 })),
    ),
  });
}

before(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'avi-datasets-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('datasets: YOLO', () => {
  it('reads data.yaml with a names map, the val split by default, labels beside images', async () => {
    const root = path.join(tmp, 'yolo');
    write(path.join(root, 'data.yaml'), 'path: .\ntrain: images/train\nval: images/val\nnames:\n  0: crack\n  1: pit\n');
    await image(path.join(root, 'images/train/t.jpg'), 50, 50);
    await image(path.join(root, 'images/val/a.jpg'), 200, 100);
    await image(path.join(root, 'images/val/b.jpg'), 200, 100);
    // centre (0.5, 0.5), size 0.2 x 0.4 of 200 x 100 -> x 80, y 30, 40 x 40
    write(path.join(root, 'labels/val/a.txt'), '0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.1 0.1\n');
    const ds = (await readDataset(root)) as DetectionDataset;
    expect(ds).to.include({ task: 'detect', format: 'yolo', named: true });
    expect(ds.classNames).to.deep.equal(['crack', 'pit']);
    expect(ds.splits).to.deep.equal(['val']);
    expect(ds.images.map((i) => path.basename(i.path))).to.deep.equal(['a.jpg', 'b.jpg']);
    expect(ds.images[0]).to.include({ width: 200, height: 100 });
    expect(ds.images[0].truth[0]).to.deep.equal({ classId: 0, box: { x: 80, y: 30, width: 40, height: 40 } });
    expect(ds.images[1].truth).to.deep.equal([]); // no label file: an image with nothing on it
    expect(ds.notes.join(' ')).to.match(/1 image\(s\) without a label file/);

    const train = (await readDataset(path.join(root, 'data.yaml'), { splits: ['train'] })) as DetectionDataset;
    expect(train.images.map((i) => path.basename(i.path))).to.deep.equal(['t.jpg']);
  });

  it("reads Roboflow's data.yaml with ../train/images entries and a names list", async () => {
    const root = path.join(tmp, 'roboflow-yolo');
    write(path.join(root, 'data.yaml'), "train: ../train/images\nval: ../valid/images\ntest: ../test/images\nnc: 2\nnames: ['bad', 'good']\n");
    await image(path.join(root, 'train/images/t.jpg'), 32, 32);
    await image(path.join(root, 'valid/images/v.jpg'), 32, 32);
    await image(path.join(root, 'test/images/s.jpg'), 32, 32);
    write(path.join(root, 'valid/labels/v.txt'), '1 0.5 0.5 0.5 0.5\n');
    const ds = (await readDataset(root)) as DetectionDataset;
    // val and test by default, train left out
    expect(ds.splits).to.deep.equal(['val', 'test']);
    expect(ds.images.map((i) => path.basename(i.path))).to.deep.equal(['v.jpg', 's.jpg']);
    expect(ds.images[0].truth[0].classId).to.equal(1);
    // "valid" names the same split as "val"
    expect(((await readDataset(root, { splits: ['valid'] })) as DetectionDataset).images).to.have.length(1);
  });

  it('reads a bare images/ + labels/ folder with generic names, or names given', async () => {
    const root = path.join(tmp, 'bare');
    await image(path.join(root, 'images/val/a.png'), 40, 20);
    // a polygon is boxed by its extent: x 0.25..0.75, y 0.5..1 -> x 10, y 10, 20 x 10
    write(path.join(root, 'labels/val/a.txt'), '2 0.25 0.5 0.75 0.5 0.75 1 0.25 1\n');
    const ds = (await readDataset(root)) as DetectionDataset;
    expect(ds.named).to.equal(false);
    expect(ds.classNames).to.deep.equal(['class0', 'class1', 'class2']);
    expect(ds.images[0].truth[0]).to.deep.equal({ classId: 2, box: { x: 10, y: 10, width: 20, height: 10 } });
    const named = await readDataset(root, { classNames: ['a', 'b', 'c'] });
    expect(named.classNames).to.deep.equal(['a', 'b', 'c']);
    expect(named.named).to.equal(true);
    await readDataset(root, { classNames: ['a'] }).then(
      () => expect.fail('should refuse'),
      (err: Error) => expect(err.message).to.match(/class id 2 .* only 1 class names/),
    );
  });

  it('names the file and line of a bad label', async () => {
    const root = path.join(tmp, 'bad-label');
    await image(path.join(root, 'images/a.jpg'), 10, 10);
    write(path.join(root, 'labels/a.txt'), '0 0.5 0.5 0.2 0.2\n0 12 40 8 8\n');
    await readDataset(root).then(
      () => expect.fail('should refuse'),
      (err: Error) => expect(err.message).to.match(/a\.txt:2: coordinates must be normalised/),
    );
  });
});

describe('datasets: COCO', () => {
  async function roboflowCoco(root: string): Promise<void> {
    for (const split of ['train', 'valid', 'test']) {
      await image(path.join(root, split, `${split}1.jpg`), 64, 48);
      write(
        path.join(root, split, '_annotations.coco.json'),
        cocoJson([{ id: 0, file: `${split}1.jpg`, boxes: [[1, [4, 5, 10, 12]], [2, [20, 20, 8, 6]]] }]),
      );
    }
  }

  it('reads a Roboflow export: valid + test by default, the unused supercategory left out', async () => {
    const root = path.join(tmp, 'coco');
    await roboflowCoco(root);
    const ds = (await readDataset(root)) as DetectionDataset;
    expect(ds).to.include({ task: 'detect', format: 'coco' });
    expect(ds.splits).to.deep.equal(['test', 'valid']);
    expect(ds.classNames).to.deep.equal(['capsules', 'tablets']);
    expect(ds.notes.join(' ')).to.match(/supercategory without annotations left out: pills/);
    const valid = ds.images.find((i) => i.split === 'valid')!;
    // bbox [x, y, w, h] in pixels; category 1 -> class 0, category 2 -> class 1
    expect(valid.truth).to.deep.equal([
      { classId: 0, box: { x: 4, y: 5, width: 10, height: 12 } },
      { classId: 1, box: { x: 20, y: 20, width: 8, height: 6 } },
    ]);
    const all = await readDataset(root, { splits: ['all'] });
    expect(all.images).to.have.length(3);
    await readDataset(root, { splits: ['holdout'] }).then(
      () => expect.fail('should refuse'),
      (err: Error) => expect(err.message).to.match(/no split holdout; it has: test, train, valid/),
    );
  });

  it('reads one COCO JSON file given directly, crowd boxes marked', async () => {
    const dir = path.join(tmp, 'coco-file');
    await image(path.join(dir, 'images', 'x.jpg'), 64, 48);
    const json = JSON.parse(cocoJson([{ id: 7, file: 'x.jpg', boxes: [[1, [0, 0, 5, 5]]] }]));
    json.annotations.push({ id: 99, image_id: 7, category_id: 2, bbox: [10, 10, 30, 30], iscrowd: 1 });
    write(path.join(dir, 'instances_val.json'), JSON.stringify(json));
    const ds = (await readDataset(path.join(dir, 'instances_val.json'))) as DetectionDataset;
    expect(ds.images).to.have.length(1);
    expect(ds.images[0].truth[1]).to.deep.include({ classId: 1, crowd: true });
  });
});

describe('datasets: class folders', () => {
  it('reads DIR/<split>/<class>/ and prefers val, with ids from the sorted folder names', async () => {
    const root = path.join(tmp, 'folders');
    await image(path.join(root, 'train/good/g1.jpg'), 16, 16);
    await image(path.join(root, 'train/bad/b1.jpg'), 16, 16);
    await image(path.join(root, 'train/scratched/s1.jpg'), 16, 16);
    await image(path.join(root, 'val/good/g2.jpg'), 16, 16);
    await image(path.join(root, 'val/good/g3.png'), 16, 16);
    await image(path.join(root, 'val/bad/b2.jpg'), 16, 16);
    write(path.join(root, 'val/bad/notes.txt'), 'not an image');
    const ds = (await readDataset(root)) as ClassificationDataset;
    expect(ds).to.include({ task: 'classify', format: 'folders' });
    // a class seen only in train keeps its id
    expect(ds.classNames).to.deep.equal(['bad', 'good', 'scratched']);
    expect(ds.splits).to.deep.equal(['val']);
    expect(ds.images.map((i) => [path.basename(i.path), i.classId])).to.deep.equal([
      ['b2.jpg', 0],
      ['g2.jpg', 1],
      ['g3.png', 1],
    ]);
  });

  it('reads a flat DIR/<class>/ folder', async () => {
    const root = path.join(tmp, 'flat');
    await image(path.join(root, 'ok/1.jpg'), 8, 8);
    await image(path.join(root, 'ng/2.jpg'), 8, 8);
    const ds = await readDataset(root);
    expect(ds.task).to.equal('classify');
    expect(ds.classNames).to.deep.equal(['ng', 'ok']);
    expect(ds.images).to.have.length(2);
  });

  it('says what it looked for when a folder is none of the layouts', async () => {
    const root = path.join(tmp, 'empty');
    mkdirSync(root, { recursive: true });
    await readDataset(root).then(
      () => expect.fail('should refuse'),
      (err: Error) => expect(err.message).to.match(/no data\.yaml, _annotations\.coco\.json/),
    );
  });
});

describe('datasets: labels files', () => {
  it('reads plain lines, a data.yaml (under any name), COCO categories and a JSON map', () => {
    write(path.join(tmp, 'labels/names.txt'), 'crazing\n\ninclusion\r\npatches\n');
    write(path.join(tmp, 'labels/data.yaml'), 'names: {0: a, 2: c}\n');
    write(path.join(tmp, 'labels/coco.json'), cocoJson([]));
    write(path.join(tmp, 'labels/map.json'), '{"0": "ok", "1": "ng"}');
    write(path.join(tmp, 'labels/data.yaml.upstream'), 'path: dataset  # root\nval: images/val\nnames: [crazing, inclusion]\n');
    expect(readLabels(path.join(tmp, 'labels/names.txt'))).to.deep.equal(['crazing', 'inclusion', 'patches']);
    expect(readLabels(path.join(tmp, 'labels/data.yaml'))).to.deep.equal(['a', 'class1', 'c']);
    expect(readLabels(path.join(tmp, 'labels/coco.json'))).to.deep.equal(['capsules', 'tablets']);
    expect(readLabels(path.join(tmp, 'labels/map.json'))).to.deep.equal(['ok', 'ng']);
    // a data.yaml kept under another name is read as YAML, not as lines
    expect(readLabels(path.join(tmp, 'labels/data.yaml.upstream'))).to.deep.equal(['crazing', 'inclusion']);
    expect(() => readLabels(path.join(tmp, 'labels/missing.txt'))).to.throw(/labels file not found: .*missing\.txt/);
  });
});

describe('datasets: class alignment', () => {
  it('matches by name, case-insensitive, keeping model ids; dataset-only classes are added', () => {
    const a = alignClasses(['Pit', 'crack', 'stain'], ['crack', 'pit', 'dent']);
    expect(a.by).to.equal('name');
    expect(a.fromDataset).to.deep.equal([1, 0, 3]);
    expect(a.classNames).to.deep.equal(['crack', 'pit', 'dent', 'stain']);
    expect(a.datasetOnly).to.deep.equal(['stain']);
  });

  it('matches by id when either side has only generic names', () => {
    expect(alignClasses(['class0', 'class1'], ['crazing', 'inclusion'], false)).to.deep.include({ by: 'id', fromDataset: [0, 1] });
    expect(alignClasses(['capsules', 'tablets'], ['0', '1'])).to.deep.include({ by: 'id', fromDataset: [0, 1] });
  });

  it('refuses a pair whose names have nothing in common', () => {
    expect(() => alignClasses(['capsules', 'tablets'], ['person', 'bus'])).to.throw(/none of the dataset's classes/);
  });
});

describe('datasets: digest', () => {
  it('is the SHA-256 of a sha256sum-style manifest of the files read, sorted by path', async () => {
    const root = path.join(tmp, 'digest');
    await image(path.join(root, 'images/a.jpg'), 8, 8);
    write(path.join(root, 'labels/a.txt'), '0 0.5 0.5 0.5 0.5\n');
    const ds = await readDataset(root);
    const line = (rel: string) => `${createHash('sha256').update(readFileSync(path.join(root, rel))).digest('hex')}  ${rel}\n`;
    const expected = createHash('sha256').update(line('images/a.jpg') + line('labels/a.txt')).digest('hex');
    expect(await datasetSha256(ds)).to.equal(expected);
    write(path.join(root, 'labels/a.txt'), '0 0.5 0.5 0.4 0.5\n');
    expect(await datasetSha256(await readDataset(root))).to.not.equal(expected);
  });
});

/** An uncompressed 24-bit BMP (bottom-up rows padded to 4 bytes), as line-scan cameras write them. */
function bmp(width: number, height: number, rgb: [number, number, number]): Buffer {
  const stride = Math.ceil((width * 3) / 4) * 4;
  const buf = Buffer.alloc(54 + stride * height);
  buf.write('BM', 0, 'ascii');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(54, 10);
  buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(width, 18);
  buf.writeInt32LE(height, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(24, 28);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) buf.set([rgb[2], rgb[1], rgb[0]], 54 + y * stride + x * 3);
  }
  return buf;
}

describe('datasets: BMP images', () => {
  it('reads the size of BMP frames (which sharp cannot open) for YOLO labels and COCO without sizes', async () => {
    const root = path.join(tmp, 'bmp-yolo');
    write(path.join(root, 'data.yaml'), 'path: .\nval: images/val\nnames: [crack]\n');
    mkdirSync(path.join(root, 'images/val'), { recursive: true });
    writeFileSync(path.join(root, 'images/val/a.bmp'), bmp(30, 20, [200, 10, 10]));
    write(path.join(root, 'labels/val/a.txt'), '0 0.5 0.5 0.2 0.5\n');
    const ds = (await readDataset(root)) as DetectionDataset;
    expect(ds.images[0]).to.include({ width: 30, height: 20 });
    expect(ds.images[0].truth[0].box).to.deep.equal({ x: 12, y: 5, width: 6, height: 10 });

    const coco = path.join(tmp, 'bmp-coco', 'valid');
    mkdirSync(coco, { recursive: true });
    writeFileSync(path.join(coco, 'b.bmp'), bmp(31, 17, [10, 200, 10]));
    write(
      path.join(coco, '_annotations.coco.json'),
      JSON.stringify({ categories: [{ id: 1, name: 'crack' }], images: [{ id: 1, file_name: 'b.bmp' }], annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [1, 2, 3, 4] }] }),
    );
    const fromCoco = (await readDataset(path.dirname(coco))) as DetectionDataset;
    expect(fromCoco.images[0]).to.include({ width: 31, height: 17 });
  });
});
