// PyTorch's F.interpolate(mode="bilinear", antialias=True, align_corners=False) on 8-bit RGB, in floating point
// and rounded back to 8 bits, as training scripts that resize tensors do (torchvision's Resize on tensors; PIL's
// bilinear resample uses the same filter in fixed point). A reduction averages every source pixel under a
// triangle as wide as the scale, so small details are not aliased away; an enlargement is plain bilinear.
import type { RgbImage } from './image';

interface Taps {
  /** Per output position: the first source position it reads and how many. */
  start: Int32Array;
  count: Int32Array;
  /** `stride` normalised weights per output position. */
  weights: Float32Array;
  stride: number;
}

/** aten's _compute_indices_min_size_weights_aa for the triangle filter (interp_size 2). */
function taps(sourceSize: number, targetSize: number): Taps {
  const scale = sourceSize / targetSize;
  const support = scale >= 1 ? scale : 1;
  const invScale = scale >= 1 ? 1 / scale : 1;
  const stride = Math.ceil(support) * 2 + 1;
  const t: Taps = { start: new Int32Array(targetSize), count: new Int32Array(targetSize), weights: new Float32Array(targetSize * stride), stride };
  for (let i = 0; i < targetSize; i++) {
    const centre = scale * (i + 0.5);
    const first = Math.max(Math.trunc(centre - support + 0.5), 0);
    const count = Math.min(Math.trunc(centre + support + 0.5), sourceSize) - first;
    let total = 0;
    for (let j = 0; j < count; j++) {
      const w = Math.max(0, 1 - Math.abs((j + first - centre + 0.5) * invScale));
      t.weights[i * stride + j] = w;
      total += w;
    }
    if (total !== 0) for (let j = 0; j < count; j++) t.weights[i * stride + j] /= total;
    t.start[i] = first;
    t.count[i] = count;
  }
  return t;
}

/**
 * Resizes `source` to width x height and writes it into `target` (RGB, `targetWidth` pixels a row) with its
 * top-left corner at (left, top). Width first, then height, with the intermediate rows kept in float, as aten.
 */
export function resizeAntialiasInto(source: RgbImage, width: number, height: number, target: Buffer, targetWidth: number, left = 0, top = 0): void {
  const src = source.data;
  const xs = taps(source.width, width);
  const ys = taps(source.height, height);
  const rowLength = width * 3;
  // Only the source rows some output row reads are blended horizontally.
  const firstRow = ys.start[0];
  const lastRow = ys.start[height - 1] + ys.count[height - 1];
  const rows = new Float32Array((lastRow - firstRow) * rowLength);
  for (let sy = firstRow; sy < lastRow; sy++) {
    const base = sy * source.width * 3;
    const out = (sy - firstRow) * rowLength;
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      const w0 = x * xs.stride;
      for (let j = 0, p = base + xs.start[x] * 3; j < xs.count[x]; j++, p += 3) {
        const w = xs.weights[w0 + j];
        r += src[p] * w;
        g += src[p + 1] * w;
        b += src[p + 2] * w;
      }
      rows[out + x * 3] = r;
      rows[out + x * 3 + 1] = g;
      rows[out + x * 3 + 2] = b;
    }
  }
  const clamped = new Uint8ClampedArray(target.buffer, target.byteOffset, target.length);
  const sum = new Float32Array(rowLength);
  for (let y = 0; y < height; y++) {
    sum.fill(0);
    for (let j = 0; j < ys.count[y]; j++) {
      const w = ys.weights[y * ys.stride + j];
      const from = (ys.start[y] + j - firstRow) * rowLength;
      for (let i = 0; i < rowLength; i++) sum[i] += rows[from + i] * w;
    }
    // A clamped array rounds halves to even, as torch.round, and clamps, as the scripts' clamp(0, 255).
    const o = ((top + y) * targetWidth + left) * 3;
    for (let i = 0; i < rowLength; i++) clamped[o + i] = sum[i];
  }
}
