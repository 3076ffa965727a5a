// Hostile and broken input, made here by the test: FIFOs, /dev/zero, traversal paths, an SVG bomb, formats nobody
// listed, strips too long to draw, models with infinite outputs or huge inputs, crops that would fill the memory.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { AllowedFolders, readBoundedFile } from '../src/core/files';
import { cropDetections } from '../src/core/image/crop';
import { decodeImage, sniffFormat } from '../src/core/image/image';
import { Classifier } from '../src/core/inference/classifier';
import { Detector } from '../src/core/inference/detector';
import { nms, type Candidate } from '../src/core/inference/nms';
import { loadModel } from '../src/core/model/model';
import type { Detection } from '../src/core/types';
import { colourClassifier, fixedOutputDetector, uniformDetector, writeModel } from './support/onnx-builder';
import { frameWith, pngClaiming, SVG_BOMB, tempDir } from './support/fixtures';
import { runGuarded } from './support/guard';

describe('hostile input', function () {
  const tmp = tempDir('avi-hostile-');
  after(tmp.cleanup);
  const file = (name: string) => path.join(tmp.dir, name);

  describe('reading files', () => {
    it('refuses a FIFO at once instead of waiting for a writer that never comes', async () => {
      execFileSync('mkfifo', [file('camera.fifo')]);
      const error = await readBoundedFile(file('camera.fifo'), { maxBytes: 1e6, what: 'image file' }).catch((err) => err);
      expect(error.message).to.equal(`image file ${file('camera.fifo')} is not a regular file (a device, FIFO or socket); refused`);
    });

    it('refuses /dev/zero without reading it (in a child process killed above 512 MB)', async () => {
      const script = `require(${JSON.stringify(path.resolve(__dirname, '../src/core/image/image.js'))}).decodeImage('/dev/zero').then(() => console.log('decoded'), (err) => console.log(err.message))`;
      const result = await runGuarded(process.execPath, ['-e', script], 512 * 1024 ** 2);
      expect(result.killed, `grew to ${result.peakRss} bytes`).to.equal(false);
      expect(result.stdout.trim()).to.equal('image file /dev/zero is not a regular file (a device, FIFO or socket); refused');
    });

    it('refuses a file over the size bound before reading it', async () => {
      writeFileSync(file('big.bin'), Buffer.alloc(4096));
      const error = await readBoundedFile(file('big.bin'), { maxBytes: 1000, what: 'labels file' }).catch((err) => err);
      expect(error.message).to.equal(`labels file ${file('big.bin')} is 4.0 KiB, over the limit of 1000 bytes; refused`);
    });
  });

  describe('allowed folders', () => {
    const inside = path.join(tmp.dir, 'userdir');
    const outside = path.join(tmp.dir, 'elsewhere');
    const allowed = new AllowedFolders([inside]);
    before(() => {
      mkdirSync(path.join(inside, 'frames'), { recursive: true });
      mkdirSync(outside);
      writeFileSync(path.join(inside, 'frames', 'unit.png'), 'x');
      writeFileSync(path.join(outside, 'secret.png'), 'x');
      symlinkSync(path.join(outside, 'secret.png'), path.join(inside, 'frames', 'link-out.png'));
      symlinkSync(outside, path.join(inside, 'dir-out'));
      symlinkSync(path.join(inside, 'frames', 'unit.png'), path.join(inside, 'link-in.png'));
    });
    const refusal = (name: string) => `image file ${JSON.stringify(name)} is not a file inside the folders allowed for file paths in messages; see "File paths in messages" in the help`;
    const tryResolve = (name: string) => allowed.resolve(name, 'image file').then((real) => real, (err: Error) => err.message);

    it('resolves a file inside, also through a link that stays inside', async () => {
      expect(await tryResolve(path.join(inside, 'frames', 'unit.png'))).to.equal(path.join(inside, 'frames', 'unit.png'));
      expect(await tryResolve(path.join(inside, 'link-in.png'))).to.equal(path.join(inside, 'frames', 'unit.png'));
    });

    it('refuses ../ and links that lead outside with one text, whether the file there exists or not', async () => {
      for (const name of [
        path.join(inside, '..', 'elsewhere', 'secret.png'),
        path.join(inside, '..', 'elsewhere', 'no-such.png'),
        `${inside}/frames/../../../../../../etc/passwd`,
        '/etc/passwd',
        '/etc/no-such-file',
        path.join(inside, 'frames', 'link-out.png'),
        path.join(inside, 'dir-out', 'secret.png'),
        path.join(inside, 'dir-out', 'no-such.png'),
      ]) {
        expect(await tryResolve(name), name).to.equal(refusal(name));
      }
    });

    it('says "not found" only inside', async () => {
      expect(await tryResolve(path.join(inside, 'frames', 'gone.png'))).to.equal(`image file not found: ${path.join(inside, 'frames', 'gone.png')}`);
    });
  });

  describe('image formats', () => {
    it('decodes each listed format: JPEG, PNG, WebP, TIFF, GIF, BMP', async () => {
      const base = sharp({ create: { width: 8, height: 6, channels: 3, background: { r: 200, g: 30, b: 40 } } });
      const encoded = {
        jpeg: await base.clone().jpeg().toBuffer(),
        png: await base.clone().png().toBuffer(),
        webp: await base.clone().webp().toBuffer(),
        tiff: await base.clone().tiff().toBuffer(),
        gif: await base.clone().gif().toBuffer(),
        bmp: bmp24(8, 6),
      };
      for (const [format, buffer] of Object.entries(encoded)) {
        expect(sniffFormat(buffer), format).to.equal(format);
        const frame = await decodeImage(buffer);
        expect([frame.width, frame.height, frame.format], format).to.deep.equal([8, 6, format]);
      }
    });

    it('refuses an SVG bomb before any decoder sees it, and other formats nobody listed', async () => {
      const avif = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#888' } }).avif().toBuffer();
      const cases: Array<[Buffer, RegExp]> = [
        [SVG_BOMB, /not a supported image format \(JPEG, PNG, WebP, TIFF, GIF or uncompressed BMP\); it looks like SVG, which is not decoded/],
        [Buffer.concat([Buffer.from('\ufeff<?xml version="1.0"?>\n'), SVG_BOMB]), /it looks like SVG/],
        [avif, /it looks like HEIF \/ AVIF/],
        [Buffer.from('%PDF-1.7\n'), /it looks like PDF/],
        [Buffer.from('P6\n8 8\n255\n'), /it starts with bytes 50360a/],
      ];
      for (const [buffer, expected] of cases) {
        const error = await decodeImage(buffer).catch((err) => err);
        expect(error.message).to.match(expected);
      }
      // Under a .png name on disk, too: the bytes decide, not the name.
      writeFileSync(file('bomb.png'), SVG_BOMB);
      expect((await decodeImage(file('bomb.png')).catch((err) => err)).message).to.match(/looks like SVG/);
    });

    it('refuses a 100000 x 1 strip at the header: JPEG could not hold it, so it could never be drawn', async () => {
      const error = await decodeImage(pngClaiming(100000, 1)).catch((err) => err);
      expect(error.message).to.equal('image is 100000 x 1, a side over 65500 pixels (more than JPEG can hold, so it could not be drawn); refused without decoding');
    });
  });

  describe('model outputs and inputs', () => {
    it('an Inf-output detector is an error, never 300 full-frame boxes', async () => {
      const model = await loadModel(writeModel(file('inf.onnx'), uniformDetector([32, 32, Infinity, Infinity], 0.9)));
      try {
        const frame = frameWith(64, 64, []).raw;
        const error = await new Detector(model).detect(frame).catch((err) => err);
        expect(error.message).to.equal(
          "the model's output is not usable: 300 boxes with NaN or infinite coordinates; a broken export (fp16 overflow?) or the wrong output format. No boxes were taken from this frame",
        );
      } finally {
        await model.release();
      }
    });

    it('confidences of 7.5 are an error: the scores are not probabilities', async () => {
      const model = await loadModel(writeModel(file('logits.onnx'), uniformDetector([32, 32, 10, 10], 7.5)));
      try {
        const error = await new Detector(model).detect(frameWith(64, 64, []).raw).catch((err) => err);
        expect(error.message).to.match(/^the model's output is not usable: 300 scores outside 0\.\.1 \(e\.g\. 7\.5\);/);
      } finally {
        await model.release();
      }
    });

    it('a classifier with NaN outputs is an error, not a class', async () => {
      const model = await loadModel(writeModel(file('nan-cls.onnx'), colourClassifier({ size: 8, weights: [[Infinity, -Infinity, 0], [0, 0, 0], [0, 0, 0]] })));
      try {
        const error = await new Classifier(model).classify([frameWith(8, 8, []).raw]).catch((err) => err);
        expect(error.message).to.match(/^the model's output is not usable: a class score of NaN \(NaN or infinite outputs: a broken export\?\)/);
      } finally {
        await model.release();
      }
    });

    it('NMS keeps one of many boxes at infinity, whose IoU is NaN', () => {
      const boxes: Candidate[] = Array.from({ length: 300 }, () => ({ x1: -Infinity, y1: -Infinity, x2: Infinity, y2: Infinity, score: 0.9, classId: 0 }));
      expect(nms(boxes, 0.45, 300)).to.have.length(1);
      expect(nms([...boxes, { x1: 0, y1: 0, x2: 1, y2: 1, score: NaN, classId: 0 }], 0.45, 300)).to.have.length(1);
    });

    it('refuses at load a model whose input would take gigabytes a frame, with the numbers', async () => {
      const huge = writeModel(file('huge-input.onnx'), fixedOutputDetector({ inputShape: [1, 3, 20000, 20000], outputs: [{ name: 'output0', dims: [1, 5, 8], data: new Float32Array(40) }] }));
      const error = await loadModel(huge).catch((err) => err);
      expect(error.message).to.equal(
        "the model's input images is 1 x 3 x 20000 x 20000 float32: 4.5 GiB a frame, over the limit of 256.0 MiB; refused (export it at a smaller input size)",
      );
    });
  });

  describe('crops', () => {
    const frame = { width: 2000, height: 2000, data: Buffer.alloc(2000 * 2000 * 3) };
    const box = (x: number, y: number, size: number): Detection => ({ id: 0, class: 'pill', classId: 0, confidence: 0.9, box: { x, y, width: size, height: size } });

    it('are bounded in bytes, not only in count: 300 large crops are refused before any is cut', () => {
      const detections = Array.from({ length: 300 }, (_, i) => ({ ...box(i, i, 1000), id: i }));
      expect(() => cropDetections(frame, detections, { paddingPercent: 0 })).to.throw(
        'the 300 crops of this frame would take 858 MiB, over the limit of 256 MiB; too many or too large detections (a broken model?)',
      );
    });

    it('cut a rectangle once when many detections give the same one', () => {
      const detections = Array.from({ length: 300 }, (_, i) => ({ ...box(0, 0, 2000), id: i }));
      const crops = cropDetections(frame, detections);
      expect(crops).to.have.length(300);
      // One cut, 12 MB, shared by all 300 crops (not 3.6 GB).
      expect(crops.every((c) => c.data.buffer === crops[0].data.buffer && c.data.byteOffset === crops[0].data.byteOffset)).to.equal(true);
      expect(crops[0].data.buffer.byteLength).to.equal(2000 * 2000 * 3);
    });
  });
});

/** A 24-bit uncompressed BMP, bottom-up, grey. */
function bmp24(width: number, height: number): Buffer {
  const stride = Math.ceil((width * 3) / 4) * 4;
  const buf = Buffer.alloc(54 + stride * height, 128);
  buf.write('BM', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(54, 10);
  buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(width, 18);
  buf.writeInt32LE(height, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(24, 28);
  buf.writeUInt32LE(0, 30);
  return buf;
}
