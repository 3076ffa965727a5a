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
}

export const DEFAULT_CROP_OPTIONS: CropOptions = { paddingPercent: 10, square: false, minSize: 16, maxCrops: 300 };

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
}

export function cropDetections(frame: RgbImage, detections: Detection[], options: Partial<CropOptions> = {}): Crop[] {
  const o = { ...DEFAULT_CROP_OPTIONS, ...options };
  validateCropOptions(o);
  if (detections.length > o.maxCrops) {
    throw new Error(`${detections.length} detections on this frame, over the limit of ${o.maxCrops} crops (max crops)`);
  }
  return detections.map((d, i) => {
    const b = d?.box;
    if (!b || ![b.x, b.y, b.width, b.height].every(Number.isFinite) || b.width <= 0 || b.height <= 0) {
      throw new Error(`detection ${d?.id ?? i} has no valid box {x, y, width, height} in pixels`);
    }
    const rect = cropBox(b, frame.width, frame.height, o);
    const pixels = extract(frame, rect);
    return { detectionId: d.id, box: rect, width: pixels.width, height: pixels.height, data: pixels.data };
  });
}
