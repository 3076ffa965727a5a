// sharp's prebuilt libvips reads no BMP, which line-scan and older industrial cameras still write.
// Uncompressed BMP (1/4/8-bit palette, 24-bit, 32-bit) is decoded here into RGB.
import type { RgbImage } from './image';

export function isBmp(buf: Buffer): boolean {
  return buf.length >= 26 && buf[0] === 0x42 && buf[1] === 0x4d;
}

/** Width and height from the header, without decoding the pixels. */
export function bmpSize(buf: Buffer): { width: number; height: number } {
  if (buf.length < 26) throw new Error('BMP header is truncated');
  return { width: Math.abs(buf.readInt32LE(18)), height: Math.abs(buf.readInt32LE(22)) };
}

export function decodeBmp(buf: Buffer): RgbImage {
  if (buf.length < 54) throw new Error('BMP header is truncated');
  const dataOffset = buf.readUInt32LE(10);
  const headerSize = buf.readUInt32LE(14);
  const width = buf.readInt32LE(18);
  const rawHeight = buf.readInt32LE(22);
  const bpp = buf.readUInt16LE(28);
  const compression = buf.readUInt32LE(30);
  // BI_RGB, or BI_BITFIELDS with the standard masks that 32-bit writers use.
  if (compression !== 0 && !(compression === 3 && bpp === 32)) throw new Error(`compressed BMP (compression ${compression}) is not supported; save as uncompressed BMP, PNG or TIFF`);
  if (![1, 4, 8, 24, 32].includes(bpp)) throw new Error(`BMP with ${bpp} bits per pixel is not supported`);
  if (width <= 0 || rawHeight === 0) throw new Error(`BMP has an invalid size ${width} x ${rawHeight}`);
  const height = Math.abs(rawHeight);
  const bottomUp = rawHeight > 0;
  const stride = Math.ceil((width * bpp) / 32) * 4;
  if (dataOffset + stride * height > buf.length) throw new Error('BMP pixel data is truncated');
  let palette: Buffer | undefined;
  if (bpp <= 8) {
    const colours = buf.readUInt32LE(46) || 1 << bpp;
    palette = buf.subarray(14 + headerSize, 14 + headerSize + colours * 4);
  }
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (bottomUp ? height - 1 - y : y) * stride;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      let b: number, g: number, r: number;
      if (palette) {
        const bit = x * bpp;
        const index = (buf[row + (bit >> 3)] >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        [b, g, r] = [palette[index * 4], palette[index * 4 + 1], palette[index * 4 + 2]];
      } else {
        const p = row + x * (bpp / 8);
        [b, g, r] = [buf[p], buf[p + 1], buf[p + 2]];
      }
      data[o] = r;
      data[o + 1] = g;
      data[o + 2] = b;
    }
  }
  return { width, height, data };
}
