// Frames decoded and resized as the model's training pipeline did: OpenCV and PIL leave an embedded colour
// profile unapplied, Ultralytics turns JPEG and PNG upright by EXIF, and resizes with cv2's INTER_LINEAR.
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { resizeBilinearInto } from '../src/core/image/bilinear';
import { decodeImage, imageSize, resizeForModel, type RgbImage } from '../src/core/image/image';
import { tempDir } from './support/fixtures';

/** Saturated colours and greys, where Display P3 and sRGB values differ most and least. */
function swatches(): { width: number; height: number; data: Buffer } {
  const colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 200, 0], [128, 128, 128], [20, 160, 220]];
  const width = colours.length * 8;
  const height = 8;
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(colours[Math.floor(x / 8)], (y * width + x) * 3);
  return { width, height, data };
}

/** A PNG without its iCCP chunk: the same stored values, no profile to apply. */
function withoutProfile(png: Buffer): Buffer {
  const parts = [png.subarray(0, 8)];
  for (let at = 8; at < png.length; ) {
    const end = at + 12 + png.readUInt32BE(at);
    if (png.toString('ascii', at + 4, at + 8) !== 'iCCP') parts.push(png.subarray(at, end));
    at = end;
  }
  return Buffer.concat(parts);
}

const maxDifference = (a: Buffer, b: Buffer) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('decoding as training pipelines decode', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());

  describe('an embedded colour profile', () => {
    let p3png: Buffer;
    const original = swatches();
    before(async () => {
      // sRGB swatches converted to Display P3 and stored with that profile, as a phone camera stores photos.
      const raw = { width: original.width, height: original.height, channels: 3 as const };
      p3png = await sharp(original.data, { raw }).withIccProfile('p3').png().toBuffer();
      expect((await sharp(p3png).metadata()).icc, 'the test image must carry a profile').to.not.equal(undefined);
    });

    it('is not applied by default: the pixels are the values stored in the file, as OpenCV and PIL read them', async () => {
      const stored = await decodeImage(withoutProfile(p3png));
      const frame = await decodeImage(p3png);
      expect(frame.data.equals(stored.data)).to.equal(true);
      // Stored P3 values are not the sRGB colours they stand for: the saturated red is far from 255, 0, 0.
      expect(maxDifference(frame.data, original.data)).to.be.above(20);
    });

    it("is applied with colourProfile 'apply': the pixels come back to the sRGB colours", async () => {
      const frame = await decodeImage(p3png, { colourProfile: 'apply' });
      expect(maxDifference(frame.data, original.data)).to.be.at.most(3);
    });

    it('refuses an unknown setting by name', async () => {
      try {
        await decodeImage(p3png, { colourProfile: 'srgb' as never });
        expect.fail('an unknown setting must be refused');
      } catch (err) {
        expect((err as Error).message).to.equal('colour profile must be ignore or apply, got "srgb"');
      }
    });
  });

  describe('EXIF orientation, as Ultralytics reads images', () => {
    // 30 x 20, white in the top-left 5 x 5 corner as stored; EXIF 6 says "turn 90 degrees clockwise to view".
    const width = 30;
    const height = 20;
    const data = Buffer.alloc(width * height * 3, 40);
    for (let y = 0; y < 5; y++) for (let x = 0; x < 5; x++) data.fill(255, (y * width + x) * 3, (y * width + x) * 3 + 3);
    const stored = sharp(data, { raw: { width, height, channels: 3 } }).withMetadata({ orientation: 6 });
    const white = (frame: { width: number; data: Buffer }, x: number, y: number) => frame.data[(y * frame.width + x) * 3] > 200;

    for (const format of ['jpeg', 'png'] as const) {
      it(`turns a ${format.toUpperCase()} upright (cv2.imdecode does), and imageSize says the same size`, async () => {
        const file = path.join(tmp.dir, `rotated.${format}`);
        writeFileSync(file, await stored.clone()[format]().toBuffer());
        const frame = await decodeImage(file);
        expect([frame.width, frame.height]).to.deep.equal([height, width]);
        // Turned clockwise, the stored top-left corner is now top-right.
        expect(white(frame, frame.width - 2, 1)).to.equal(true);
        expect(white(frame, 1, 1)).to.equal(false);
        expect(await imageSize(file)).to.deep.equal({ width: height, height: width });
      });
    }

    it('uses a WebP as stored (cv2.imdecode ignores its orientation), and imageSize says the same size', async () => {
      const file = path.join(tmp.dir, 'rotated.webp');
      writeFileSync(file, await stored.clone().webp({ lossless: true }).toBuffer());
      expect((await sharp(file).metadata()).orientation).to.equal(6);
      const frame = await decodeImage(file);
      expect([frame.width, frame.height]).to.deep.equal([width, height]);
      expect(white(frame, 1, 1)).to.equal(true);
      expect(await imageSize(file)).to.deep.equal({ width, height });
    });
  });

  describe("OpenCV's INTER_LINEAR resize", () => {
    // 7 x 5 RGB, value (i * 37) mod 256 at byte i: edges between neighbours everywhere.
    const source = { width: 7, height: 5, data: Buffer.from(Array.from({ length: 7 * 5 * 3 }, (_, i) => (i * 37) % 256)) };
    // cv2.resize(source, (W, H), interpolation=cv2.INTER_LINEAR) with opencv-python-headless 5.0.0.93.
    const CV2: Record<string, number[]> = {
      '4x3': [44, 81, 119, 207, 20, 57, 177, 214, 27, 115, 152, 189, 60, 97, 134, 222, 35, 72, 192, 229, 42, 130, 167, 204, 74, 111, 149, 87, 50, 87, 207, 95, 57, 145, 182, 113],
      '9x6': [
        0, 37, 74, 74, 111, 148, 160, 83, 121, 190, 28, 65, 77, 114, 151, 163, 200, 38, 107, 144, 68, 80, 117, 154, 154, 191, 228, 7, 44, 81, 80, 117, 154, 167, 90, 127, 196, 34, 71, 84, 121, 158, 170, 207,
        45, 114, 151, 74, 87, 124, 161, 161, 198, 235, 14, 51, 88, 88, 125, 162, 175, 98, 135, 204, 42, 79, 91, 128, 165, 178, 214, 52, 121, 159, 82, 94, 131, 168, 168, 205, 242, 22, 59, 96, 96, 133, 170, 182,
        105, 142, 211, 49, 86, 99, 136, 173, 185, 222, 60, 129, 166, 89, 102, 139, 176, 176, 213, 250, 29, 66, 103, 103, 140, 177, 161, 113, 150, 169, 57, 94, 106, 143, 180, 193, 180, 67, 137, 145, 97, 109,
        146, 162, 183, 220, 193, 36, 73, 110, 110, 147, 184, 82, 119, 156, 26, 64, 101, 113, 150, 187, 199, 37, 74, 143, 67, 104, 116, 153, 104, 190, 227, 8,
      ],
    };

    for (const [size, expected] of Object.entries(CV2)) {
      it(`gives cv2's values exactly, shrinking and enlarging (${size})`, () => {
        const [w, h] = size.split('x').map(Number);
        const target = Buffer.alloc(w * h * 3);
        resizeBilinearInto(source, w, h, target, w);
        expect([...target]).to.deep.equal(expected);
      });
    }

    it("letterboxes as Ultralytics' LetterBox: round(side x r), grey 114 split round(d/2 -+ 0.1), the transform to undo it", async () => {
      // 101 x 50 into 64 x 64: r = 64/101, 64 x round(31.68) = 32, pads 16 above and 16 below.
      const frame = { width: 101, height: 50, data: Buffer.alloc(101 * 50 * 3, 200) };
      const { image, transform } = resizeForModel(frame, 64, 64, 'letterbox', 114, 'center', 'bilinear');
      expect(transform).to.deep.equal({ scaleX: 64 / 101, scaleY: 32 / 50, padX: 0, padY: 16 });
      const row = (y: number) => image.data[y * 64 * 3];
      expect([row(15), row(16), row(47), row(48)]).to.deep.equal([114, 200, 200, 114]);
    });
  });

  describe("torch's antialiased bilinear resize (F.interpolate antialias=True, torchvision, PIL)", () => {
    const source = { width: 7, height: 5, data: Buffer.from(Array.from({ length: 7 * 5 * 3 }, (_, i) => (i * 37) % 256)) };
    const resized = (image: RgbImage, w: number, h: number) => [...resizeForModel(image, w, h, 'stretch', 0, 'center', 'antialias').image.data];
    const grey = (values: number[]) => ({ width: values.length, height: 1, data: Buffer.from(values.flatMap((v) => [v, v, v])) });

    it('weighs every source pixel under a triangle as wide as the scale, normalised (aten and PIL alike)', () => {
      // 4 -> 2: output 0 centred on 1.0 reads pixels 0-2 with weights 0.75, 0.75, 0.25 (/ 1.75): 120 / 7 = 17.1.
      expect(resized(grey([10, 20, 30, 40]), 2, 1)).to.deep.equal([17, 17, 17, 33, 33, 33]);
      // Enlarging is plain bilinear with half-pixel centres: 0, 25, 75, 100.
      expect(resized(grey([0, 100]), 4, 1)).to.deep.equal([0, 0, 0, 25, 25, 25, 75, 75, 75, 100, 100, 100]);
    });

    it('keeps a thin line when shrinking, where INTER_LINEAR misses it', () => {
      // A bright column every 4 pixels, shrunk 4 times: each output pixel holds about a quarter of a line.
      const lines = grey(Array.from({ length: 16 }, (_, i) => (i % 4 === 3 ? 255 : 0)));
      // PIL gives 46, 64, 64, 73 (the edge pixels weigh fewer columns).
      expect(resized(lines, 4, 1).filter((_, i) => i % 3 === 0)).to.deep.equal([46, 64, 64, 73]);
      const target = Buffer.alloc(4 * 3);
      resizeBilinearInto(lines, 4, 1, target, 4);
      expect([...target]).to.deep.equal(Array(12).fill(0));
    });

    // PIL 13.0.0 Image.resize(BILINEAR) on the same 7 x 5 source: the same filter in fixed point, rounding between
    // its two passes, so within 1 of the float result.
    const PIL: Record<string, number[]> = {
      '4x3': [62, 87, 124, 163, 67, 104, 132, 169, 73, 112, 149, 174, 76, 101, 138, 177, 81, 118, 146, 183, 87, 126, 163, 188, 83, 115, 152, 115, 95, 132, 160, 121, 101, 140, 170, 126],
    };
    for (const [size, expected] of Object.entries(PIL)) {
      it(`is within 1 of PIL's BILINEAR resize (${size})`, () => {
        const [w, h] = size.split('x').map(Number);
        const ours = resized(source, w, h);
        expect(Math.max(...ours.map((v, i) => Math.abs(v - expected[i])))).to.be.at.most(1);
      });
    }
  });
});
