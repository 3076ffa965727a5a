// Shared test fixtures made by code: temp dirs, test images, and the third-party fixtures beside the project.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
/** ../shared/fixtures: real third-party exports, used by the acceptance tests only. */
export const SHARED_FIXTURES = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures');
export const hasSharedFixtures = existsSync(SHARED_FIXTURES);

export function tempDir(prefix = 'avi-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
  colour: [number, number, number];
}

/** A grey frame with coloured rectangles on it, as raw RGB and as JPEG/PNG. */
export function frameWith(width: number, height: number, rects: Rect[], background: [number, number, number] = [90, 90, 90]) {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(background, i * 3);
  for (const r of rects) {
    for (let y = r.y; y < r.y + r.height; y++) for (let x = r.x; x < r.x + r.width; x++) data.set(r.colour, (y * width + x) * 3);
  }
  const raw = { width, height, channels: 3 as const };
  return {
    raw: { width, height, channels: 3 as const, data },
    png: () => sharp(data, { raw }).png().toBuffer(),
    jpeg: () => sharp(data, { raw }).jpeg({ quality: 95 }).toBuffer(),
  };
}

/** A valid PNG header that claims a size the body does not have: a decompression bomb in miniature. */
export function pngClaiming(width: number, height: number): Buffer {
  const chunk = (type: string, body: Buffer) => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    const typed = Buffer.concat([Buffer.from(type, 'ascii'), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([head, typed, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', Buffer.alloc(16)), chunk('IEND', Buffer.alloc(0))]);
}

/** A 196-byte SVG that asks for 7000 x 7000 pixels through a wide blur: 110 s and 1.6 GB in librsvg. */
export const SVG_BOMB = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="7000" height="7000"><filter id="b"><feGaussianBlur stdDeviation="900"/></filter><rect width="7000" height="7000" filter="url(#b)"/></svg>',
);
