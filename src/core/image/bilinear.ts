// OpenCV's cv2.resize(INTER_LINEAR) on 8-bit RGB, in its fixed-point arithmetic, so that a model trained
// through Ultralytics, YOLOv5 or YOLOX sees the pixels its training pipeline made. Unlike an antialiasing
// filter it reads only the 4 nearest source pixels, so its cost follows the output size, not the input's.
import type { RgbImage } from './image';

/** OpenCV's INTER_RESIZE_COEF_SCALE: weights are 11-bit fixed point. */
const COEF_SCALE = 2048;

interface Taps {
  /** Per output position: the two source positions it blends. */
  first: Int32Array;
  second: Int32Array;
  /** Their weights, each rounded on its own as OpenCV rounds them. */
  w0: Int32Array;
  w1: Int32Array;
}

/**
 * Source positions and weights along one axis, with OpenCV's half-pixel centres. Past an edge OpenCV takes the
 * edge pixel: along x it also sets the weights to (1, 0), along y it keeps them (`rows`), which rounds differently.
 */
function taps(sourceSize: number, targetSize: number, axis: 'columns' | 'rows'): Taps {
  const scale = sourceSize / targetSize;
  const t: Taps = { first: new Int32Array(targetSize), second: new Int32Array(targetSize), w0: new Int32Array(targetSize), w1: new Int32Array(targetSize) };
  const clamp = (i: number) => Math.min(Math.max(i, 0), sourceSize - 1);
  for (let d = 0; d < targetSize; d++) {
    // OpenCV computes the position in single precision.
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (axis === 'columns' && (s < 0 || s >= sourceSize - 1)) [s, f] = [clamp(s), 0];
    t.first[d] = clamp(s);
    t.second[d] = clamp(s + 1);
    t.w0[d] = Math.round(Math.fround(1 - f) * COEF_SCALE);
    t.w1[d] = Math.round(f * COEF_SCALE);
  }
  return t;
}

/**
 * Resizes `source` to width x height and writes it into `target` (RGB, `targetWidth` pixels a row) with its
 * top-left corner at (left, top): a letterbox pads around it without another copy.
 */
export function resizeBilinearInto(source: RgbImage, width: number, height: number, target: Buffer, targetWidth: number, left = 0, top = 0): void {
  const src = source.data;
  const srcRow = source.width * 3;
  const xs = taps(source.width, width, 'columns');
  const ys = taps(source.height, height, 'rows');
  const rowLength = width * 3;
  // Per output pixel: the byte offsets of its two source pixels in a row, and their weights.
  const p = new Int32Array(width);
  const q = new Int32Array(width);
  for (let x = 0; x < width; x++) [p[x], q[x]] = [xs.first[x] * 3, xs.second[x] * 3];
  const { w0: wp, w1: wq } = xs;
  // Horizontally blended source rows (weights x 2048), kept while consecutive output rows share them.
  let upper = new Int32Array(rowLength);
  let lower = new Int32Array(rowLength);
  let upperRow = -1;
  let lowerRow = -1;
  const blendRow = (sy: number, out: Int32Array): void => {
    const base = sy * srcRow;
    for (let x = 0, o = 0; x < width; x++, o += 3) {
      const a = base + p[x];
      const b = base + q[x];
      const u = wp[x];
      const v = wq[x];
      out[o] = src[a] * u + src[b] * v;
      out[o + 1] = src[a + 1] * u + src[b + 1] * v;
      out[o + 2] = src[a + 2] * u + src[b + 2] * v;
    }
  };
  // Values are within 0..255 by construction; the clamped view only guards the rounding of the weights.
  const out = new Uint8ClampedArray(target.buffer, target.byteOffset, target.length);
  for (let y = 0; y < height; y++) {
    const s0 = ys.first[y];
    const s1 = ys.second[y];
    if (s0 !== upperRow) {
      if (s0 === lowerRow) {
        const swap = upper;
        upper = lower;
        lower = swap;
        upperRow = lowerRow;
        lowerRow = -1;
      } else {
        blendRow(s0, upper);
        upperRow = s0;
      }
    }
    if (s1 !== lowerRow) {
      blendRow(s1, lower);
      lowerRow = s1;
    }
    const b0 = ys.w0[y];
    const b1 = ys.w1[y];
    const o = ((top + y) * targetWidth + left) * 3;
    // OpenCV's vector path (x86 SSE2, ARM NEON): 16-bit high multiplies, then a rounding shift by 2.
    for (let i = 0; i < rowLength; i++) out[o + i] = (((b0 * (upper[i] >> 4)) >> 16) + ((b1 * (lower[i] >> 4)) >> 16) + 2) >> 2;
  }
}
