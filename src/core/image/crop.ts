// One crop per detection, cut from the original pixels.
import type { RgbImage } from './image';
import type { Box, Crop, Detection } from '../types';

export interface CropOptions {
  /** Context added on each side, as a percentage of the box's width and height. */
  paddingPercent: number;
  /** Grow the shorter side so the crop is square (classifiers trained on square crops). */
  square: boolean;
  /** Crops smaller than this many pixels on a side are grown around their centre to it. */
  minSize: number;
  /** More detections than this on one frame is an error, not an unbounded burst of crops. */
  maxCrops: number;
  /** The crops of one frame together may take at most this many bytes of RGB (crops of the same rectangle share theirs). */
  maxBytes: number;
}

export const DEFAULT_CROP_OPTIONS: CropOptions = { paddingPercent: 10, square: false, minSize: 16, maxCrops: 300, maxBytes: 256 * 1024 * 1024 };

/** The rectangle a detection is cut at: padded, squared, grown to the minimum, clamped to the frame, whole pixels. */
export function cropBox(box: Box, frameWidth: number, frameHeight: number, o: CropOptions): Box {
  let w = box.width * (1 + (2 * o.paddingPercent) / 100);
  let h = box.height * (1 + (2 * o.paddingPercent) / 100);
  if (o.square) w = h = Math.max(w, h);
  w = Math.min(Math.max(w, o.minSize), frameWidth);
  h = Math.min(Math.max(h, o.minSize), frameHeight);
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  // Shift rather than shrink at the frame's edges, so the crop keeps its size and the unit stays in it.
  const x = Math.round(Math.min(Math.max(cx - w / 2, 0), frameWidth - w));
  const y = Math.round(Math.min(Math.max(cy - h / 2, 0), frameHeight - h));
  return {
    x,
    y,
    width: Math.max(1, Math.min(Math.round(w), frameWidth - x)),
    height: Math.max(1, Math.min(Math.round(h), frameHeight - y)),
  };
}

/** Copies the rows of a rectangle out of an RGB frame. */
export function extract(frame: RgbImage, rect: Box): RgbImage {
  const { x, y, width, height } = rect;
  const data = Buffer.allocUnsafe(width * height * 3);
  const rowBytes = width * 3;
  for (let row = 0; row < height; row++) {
    const from = ((y + row) * frame.width + x) * 3;
    frame.data.copy(data, row * rowBytes, from, from + rowBytes);
  }
  return { width, height, data };
}

export function validateCropOptions(o: CropOptions): void {
  if (!Number.isFinite(o.paddingPercent) || o.paddingPercent < 0 || o.paddingPercent > 200) throw new Error(`padding must be 0 to 200 %, got ${o.paddingPercent}`);
  if (!Number.isInteger(o.minSize) || o.minSize < 1) throw new Error(`minimum size must be a whole number of pixels, at least 1, got ${o.minSize}`);
  if (!Number.isInteger(o.maxCrops) || o.maxCrops < 1) throw new Error(`max crops must be a whole number, at least 1, got ${o.maxCrops}`);
  if (!(o.maxBytes > 0)) throw new Error(`the crop byte limit must be more than 0, got ${o.maxBytes}`);
}

/**
 * Every crop of a frame, cut into one block of memory that `allocate` gives (a SharedArrayBuffer in the engine's
 * workers, so the classifier's worker reads them without a copy). Bounded in count and in bytes, counted before
 * anything is allocated; a rectangle that several detections give (duplicate boxes) is cut once and shared.
 */
export function cutCrops(
  frame: RgbImage,
  detections: Detection[],
  options: Partial<CropOptions> = {},
  allocate: (bytes: number) => Uint8Array = (bytes) => Buffer.allocUnsafe(bytes),
): Array<Omit<Crop, 'data'> & { data: Uint8Array }> {
  const o = { ...DEFAULT_CROP_OPTIONS, ...options };
  validateCropOptions(o);
  if (!Array.isArray(detections)) throw new Error('msg.detections must be an array');
  if (detections.length > o.maxCrops) {
    throw new Error(`${detections.length} detections on this frame, over the limit of ${o.maxCrops} crops (max crops)`);
  }
  const rects = detections.map((d, i) => {
    const b = d?.box;
    if (!b || ![b.x, b.y, b.width, b.height].every(Number.isFinite) || b.width <= 0 || b.height <= 0) {
      throw new Error(`detection ${d?.id ?? i} has no valid box {x, y, width, height} in pixels`);
    }
    return cropBox(b, frame.width, frame.height, o);
  });
  const keyOf = (r: Box) => `${r.x},${r.y},${r.width},${r.height}`;
  const unique = [...new Map(rects.map((r) => [keyOf(r), r])).values()];
  const bytes = unique.reduce((sum, r) => sum + r.width * r.height * 3, 0);
  if (bytes > o.maxBytes) {
    throw new Error(
      `the ${rects.length} crops of this frame would take ${(bytes / 1024 ** 2).toFixed(0)} MiB, over the limit of ${(o.maxBytes / 1024 ** 2).toFixed(0)} MiB; ` +
        'too many or too large detections (a broken model?)',
    );
  }
  const block = allocate(bytes);
  const cut = new Map<string, Uint8Array>();
  let offset = 0;
  for (const r of unique) {
    const view = block.subarray(offset, offset + r.width * r.height * 3);
    offset += view.length;
    const rowBytes = r.width * 3;
    for (let row = 0; row < r.height; row++) {
      const from = ((r.y + row) * frame.width + r.x) * 3;
      view.set(frame.data.subarray(from, from + rowBytes), row * rowBytes);
    }
    cut.set(keyOf(r), view);
  }
  return rects.map((box, i) => ({ detectionId: detections[i].id, box, width: box.width, height: box.height, data: cut.get(keyOf(box))! }));
}

export function cropDetections(frame: RgbImage, detections: Detection[], options: Partial<CropOptions> = {}): Crop[] {
  return cutCrops(frame, detections, options).map((crop) => ({ ...crop, data: Buffer.from(crop.data.buffer, crop.data.byteOffset, crop.data.length) }));
}
