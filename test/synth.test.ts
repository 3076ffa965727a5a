// The synthetic pill line: determinism, labels that match the pixels' units, and the layouts written.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { parse as parseYaml } from 'yaml';
import { synthCommand } from '../src/cli/synth';
import { UsageError } from '../src/cli/main';
import { cropBox, DEFAULT_CROP_OPTIONS } from '../src/core/image/crop';
import { COCO_FILE, readDataset } from '../src/core/evaluation/datasets';
import { CONDITIONS, synthesizeFrame, writeDataset, type DatasetSummary } from '../src/core/synth/synth';

let tmp: string;
const FRAMES = 12;
let dirA: string;
let summaryA: DatasetSummary;

/** Every file under dir by relative path, with its SHA-256. */
function hashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (sub: string) => {
    for (const name of readdirSync(path.join(dir, sub))) {
      const rel = path.join(sub, name);
      if (statSync(path.join(dir, rel)).isDirectory()) walk(rel);
      else out[rel] = createHash('sha256').update(readFileSync(path.join(dir, rel))).digest('hex');
    }
  };
  walk('');
  return out;
}

function readCoco(split: string) {
  return JSON.parse(readFileSync(path.join(dirA, 'detect', 'images', split, COCO_FILE), 'utf8'));
}

describe('synthetic pill line', () => {
  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'avi-synth-'));
    dirA = path.join(tmp, 'a');
    summaryA = await writeDataset({ out: dirA, frames: FRAMES, seed: 5 });
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  describe('synthesizeFrame', () => {
    it('gives the same bytes and units for the same seed and frame, other bytes for another seed or frame', async () => {
      const a = await synthesizeFrame({ seed: 42, index: 3 });
      const b = await synthesizeFrame({ seed: 42, index: 3 });
      expect(a.jpeg.equals(b.jpeg)).to.equal(true);
      expect(a.units).to.deep.equal(b.units);
      const otherSeed = await synthesizeFrame({ seed: 43, index: 3 });
      const otherFrame = await synthesizeFrame({ seed: 42, index: 4 });
      expect(otherSeed.jpeg.equals(a.jpeg)).to.equal(false);
      expect(otherFrame.jpeg.equals(a.jpeg)).to.equal(false);
    });

    it('draws a JPEG of the asked size with up to 20 units of the asked length, boxed inside it', async () => {
      for (let index = 0; index < 4; index++) {
        const frame = await synthesizeFrame({ seed: 7, index, width: 416, height: 320, minLength: 30, maxLength: 60 });
        const meta = await sharp(frame.jpeg).metadata();
        expect([meta.format, meta.width, meta.height]).to.deep.equal(['jpeg', 416, 320]);
        expect(frame.units.length).to.be.within(1, 20);
        for (const { box, truncated, condition } of frame.units) {
          expect(box.x).to.be.at.least(0);
          expect(box.y).to.be.at.least(0);
          expect(box.x + box.width).to.be.at.most(416);
          expect(box.y + box.height).to.be.at.most(320);
          const touchesEdge = box.x === 0 || box.y === 0 || box.x + box.width === 416 || box.y + box.height === 320;
          if (!truncated && condition !== 'broken') expect(Math.max(box.width, box.height)).to.be.within(28, 62);
          if (truncated) expect(touchesEdge, 'a unit cut by the frame touches its edge').to.equal(true);
        }
      }
    });

    it('draws a unit where its box says: the box differs from the plain background around it', async () => {
      const frame = await synthesizeFrame({ seed: 9, index: 0, minUnits: 1, maxUnits: 1 });
      expect(frame.units).to.have.length(1);
      const { box } = frame.units[0];
      const { data, info } = await sharp(frame.jpeg).greyscale().raw().toBuffer({ resolveWithObject: true });
      const at = (x: number, y: number) => data[y * info.width + x];
      // The unit's centre stands out from the belt at a corner of its box, grown by a few pixels.
      const centre = at(Math.round(box.x + box.width / 2), Math.round(box.y + box.height / 2));
      const outside = at(Math.max(0, box.x - 4), Math.max(0, box.y - 4));
      expect(Math.abs(centre - outside)).to.be.greaterThan(3);
    });

    it('follows the defect rate: 0 gives only good units, 1 only defective ones (units cut by the edge stay good)', async () => {
      for (const [defectRate, wantGood] of [[0, true], [1, false]] as const) {
        for (let index = 0; index < 3; index++) {
          const frame = await synthesizeFrame({ seed: 3, index, defectRate });
          for (const unit of frame.units) {
            if (!unit.truncated) expect(unit.condition === 'good').to.equal(wantGood);
            else expect(unit.condition).to.equal('good');
          }
        }
      }
    });

    it('refuses options out of range with a clear message', async () => {
      let error: Error | undefined;
      await synthesizeFrame({ seed: 1, index: 0, maxLength: 400 }).catch((err) => (error = err));
      expect(error?.message).to.match(/maximum length must be a whole number from 35 to 240/);
    });
  });

  describe('writeDataset', () => {
    it('writes the same bytes for the same seed, and other images for another seed', async () => {
      const dirB = path.join(tmp, 'b');
      await writeDataset({ out: dirB, frames: FRAMES, seed: 5 });
      const a = hashes(dirA);
      const b = hashes(dirB);
      // data.yaml holds the (absolute) dataset path, the one thing that differs between the two folders.
      const yamlA = readFileSync(path.join(dirA, 'detect', 'data.yaml'), 'utf8').replace(dirA, 'DIR');
      const yamlB = readFileSync(path.join(dirB, 'detect', 'data.yaml'), 'utf8').replace(dirB, 'DIR');
      expect(yamlA).to.equal(yamlB);
      delete a[path.join('detect', 'data.yaml')];
      delete b[path.join('detect', 'data.yaml')];
      expect(Object.keys(a).length).to.be.greaterThan(FRAMES * 2);
      expect(b).to.deep.equal(a);

      const dirC = path.join(tmp, 'c');
      await writeDataset({ out: dirC, frames: 2, seed: 6 });
      const c = hashes(dirC);
      const image = path.join('detect', 'images', 'train', 'frame-000001.jpg');
      expect(c[image]).to.be.a('string');
      expect(c[image]).to.not.equal(a[image]);
    });

    it('writes a data.yaml that names one class, pill, and points at the train and val images', () => {
      const yaml = parseYaml(readFileSync(path.join(dirA, 'detect', 'data.yaml'), 'utf8'));
      expect(yaml.nc).to.equal(1);
      expect(yaml.names).to.deep.equal({ 0: 'pill' });
      expect(yaml.path).to.equal(path.join(dirA, 'detect'));
      expect(readdirSync(path.join(yaml.path, yaml.train))).to.have.length(summaryA.train + 1); // + the COCO file
      expect(readdirSync(path.join(yaml.path, yaml.val))).to.have.length(summaryA.val + 1);
      expect(summaryA.val).to.equal(Math.round(FRAMES * 0.2));
    });

    it('writes YOLO labels and COCO JSON that agree box for box, and images of the stated size', async () => {
      let annotations = 0;
      for (const split of ['train', 'val']) {
        const coco = readCoco(split);
        expect(coco.categories).to.deep.equal([{ id: 1, name: 'pill', supercategory: 'none' }]);
        for (const image of coco.images) {
          const meta = await sharp(path.join(dirA, 'detect', 'images', split, image.file_name)).metadata();
          expect([meta.width, meta.height]).to.deep.equal([image.width, image.height]);
          const lines = readFileSync(path.join(dirA, 'detect', 'labels', split, image.file_name.replace('.jpg', '.txt')), 'utf8')
            .trim()
            .split('\n');
          const boxes = coco.annotations.filter((a: { image_id: number }) => a.image_id === image.id);
          expect(lines).to.have.length(boxes.length);
          boxes.forEach((a: { bbox: number[] }, k: number) => {
            const [cls, cx, cy, w, h] = lines[k].split(' ').map(Number);
            const [x, y, bw, bh] = a.bbox;
            expect(cls).to.equal(0);
            expect(cx * image.width).to.be.closeTo(x + bw / 2, 0.01);
            expect(cy * image.height).to.be.closeTo(y + bh / 2, 0.01);
            expect(w * image.width).to.be.closeTo(bw, 0.01);
            expect(h * image.height).to.be.closeTo(bh, 0.01);
          });
        }
        annotations += coco.annotations.length;
      }
      expect(annotations).to.equal(summaryA.units);
    });

    it('writes one crop per whole unit into its condition folder', () => {
      for (const split of ['train', 'val']) {
        const coco = readCoco(split);
        const whole = coco.annotations.filter((a: { attributes: { truncated: boolean } }) => !a.attributes.truncated);
        for (const condition of CONDITIONS) {
          const files = readdirSync(path.join(dirA, 'classify', split, condition));
          const expected = whole.filter((a: { attributes: { condition: string } }) => a.attributes.condition === condition);
          expect(files, `${split}/${condition}`).to.have.length(expected.length);
        }
      }
      const total = CONDITIONS.reduce((sum, c) => sum + summaryA.byCondition[c], 0);
      expect(total).to.equal(summaryA.units - summaryA.truncated);
      expect(readFileSync(path.join(dirA, 'classify', 'classes.txt'), 'utf8').trim().split('\n')).to.deep.equal([...CONDITIONS]);
    });

    it('cuts each crop where avi-crop would with its defaults (10 % padding)', async () => {
      const coco = readCoco('train');
      const unit = coco.annotations.find((a: { attributes: { truncated: boolean } }) => !a.attributes.truncated);
      const image = coco.images.find((i: { id: number }) => i.id === unit.image_id);
      const index = coco.annotations.filter((a: { image_id: number }) => a.image_id === unit.image_id).indexOf(unit);
      const name = `${image.file_name.replace('.jpg', '')}-u${String(index + 1).padStart(2, '0')}.png`;
      const meta = await sharp(path.join(dirA, 'classify', 'train', unit.attributes.condition, name)).metadata();
      const [x, y, width, height] = unit.bbox;
      const rect = cropBox({ x, y, width, height }, image.width, image.height, DEFAULT_CROP_OPTIONS);
      expect([meta.format, meta.width, meta.height]).to.deep.equal(['png', rect.width, rect.height]);
    });

    it('gives every condition some examples over a dozen frames at the default rate', () => {
      for (const condition of CONDITIONS) expect(summaryA.byCondition[condition], condition).to.be.at.least(5);
      expect(summaryA.byCondition.good / (summaryA.units - summaryA.truncated)).to.be.within(0.45, 0.75);
      expect(Object.values(summaryA.byKind).filter((n) => n > 0).length).to.be.at.least(3);
    });

    it('is read back by the project own dataset reader as YOLO, as COCO and as class folders', async () => {
      const yolo = await readDataset(path.join(dirA, 'detect'), { splits: ['all'] });
      const coco = await readDataset(path.join(dirA, 'detect', 'images'), { splits: ['all'] });
      const folders = await readDataset(path.join(dirA, 'classify'), { splits: ['all'] });
      expect([yolo.format, coco.format, folders.format]).to.deep.equal(['yolo', 'coco', 'folders']);
      expect(yolo.classNames).to.deep.equal(['pill']);
      expect(coco.classNames).to.deep.equal(['pill']);
      const count = (d: typeof yolo) => (d.task === 'detect' ? d.images.reduce((sum, i) => sum + i.truth.length, 0) : d.images.length);
      expect(count(yolo)).to.equal(summaryA.units);
      expect(count(coco)).to.equal(summaryA.units);
      expect(count(folders)).to.equal(summaryA.units - summaryA.truncated);
    });

    it('refuses to write into a folder that is not empty unless asked to', async () => {
      let error: Error | undefined;
      await writeDataset({ out: dirA, frames: 1, seed: 5 }).catch((err) => (error = err));
      expect(error?.message).to.match(/is not empty; choose an empty or new folder, or replace the dataset in it \(avi synth --overwrite\)/);
      // Not only an earlier dataset: any file (a home folder given by mistake).
      const home = path.join(tmp, 'home');
      mkdirSync(home);
      writeFileSync(path.join(home, 'notes.txt'), 'mine');
      const refused: Error | undefined = await writeDataset({ out: home, frames: 1, seed: 5 }).then(() => undefined, (err) => err);
      expect(refused?.message).to.match(/is not empty/);
      expect(readdirSync(home)).to.deep.equal(['notes.txt']);
    });
  });

  describe('avi synth', () => {
    /** Runs the command with stdout captured (restored before mocha reports the test). */
    async function run(args: string[]): Promise<{ code: number; printed: string }> {
      const write = process.stdout.write;
      let printed = '';
      process.stdout.write = ((chunk: string) => {
        printed += chunk;
        return true;
      }) as typeof process.stdout.write;
      try {
        return { code: await synthCommand.run(args), printed };
      } finally {
        process.stdout.write = write;
      }
    }

    it('writes a dataset and prints one summary line with the units per condition', async () => {
      const out = path.join(tmp, 'cli');
      const { code, printed } = await run(['--out', out, '--frames', '3', '--seed', '2', '--width', '320', '--height', '240', '--min-length', '30', '--max-length', '60', '--val-fraction', '0.34']);
      expect(code).to.equal(0);
      expect(printed.trim().split('\n')).to.have.length(1);
      expect(printed).to.match(/^avi synth: 3 frames \(2 train, 1 val\), \d+ units \(good \d+, edge_defect \d+, crack \d+, spot \d+, broken \d+;/);
      expect(printed).to.contain(out);
      const meta = await sharp(path.join(out, 'detect', 'images', 'val', 'frame-000003.jpg')).metadata();
      expect([meta.width, meta.height]).to.deep.equal([320, 240]);
      // --overwrite replaces the earlier set.
      await run(['--out', out, '--frames', '1', '--overwrite']);
      expect(readdirSync(path.join(out, 'detect', 'images', 'train')).filter((f) => f.endsWith('.jpg'))).to.have.length(1);
    });

    it('says what is wrong with a missing --out or a number that is not one', async () => {
      const errors: string[] = [];
      for (const args of [['--frames', '3'], ['--out', path.join(tmp, 'x'), '--frames', 'many'], ['--out', path.join(tmp, 'y'), '--speed', '2']]) {
        await run(args).catch((err) => {
          expect(err).to.be.instanceOf(UsageError);
          errors.push(err.message);
        });
      }
      expect(errors).to.have.length(3);
      expect(errors[0]).to.match(/--out DIR is required/);
      expect(errors[1]).to.match(/--frames must be a number, got "many"/);
      expect(errors[2]).to.match(/speed/);
    });
  });
});
