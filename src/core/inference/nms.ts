// Candidate boxes before and after non-maximum suppression, in model-input pixels (x1, y1, x2, y2).

export interface Candidate {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  classId: number;
}

export function iou(a: Candidate, b: Candidate): number {
  const ix = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const iy = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (ix <= 0 || iy <= 0) return 0;
  const inter = ix * iy;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  // Infinite or NaN coordinates have no meaningful overlap: NaN, which nms() counts as a duplicate.
  if (!Number.isFinite(union)) return NaN;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy NMS, highest score first. Class-aware by default: boxes of different classes never suppress
 * each other (as Ultralytics and torchvision's batched_nms do). Returns at most `maxDetections`.
 */
export function nms(candidates: Candidate[], iouThreshold: number, maxDetections: number, classAware = true): Candidate[] {
  // A NaN score would leave the sort's order undefined; such candidates are not boxes.
  const sorted = candidates.filter((c) => Number.isFinite(c.score)).sort((a, b) => b.score - a.score);
  const kept: Candidate[] = [];
  const suppressed = new Uint8Array(sorted.length);
  for (let i = 0; i < sorted.length && kept.length < maxDetections; i++) {
    if (suppressed[i]) continue;
    const a = sorted[i];
    kept.push(a);
    for (let j = i + 1; j < sorted.length; j++) {
      if (suppressed[j]) continue;
      const b = sorted[j];
      if (classAware && a.classId !== b.classId) continue;
      // Written so that a NaN IoU (boxes at infinity) suppresses rather than keeps: never hundreds of copies of one box.
      if (!(iou(a, b) <= iouThreshold)) suppressed[j] = 1;
    }
  }
  return kept;
}
