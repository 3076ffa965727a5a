// Evaluation metrics for `avi eval`, pure. Detection follows pycocotools (COCOeval) so that figures
// can be compared with published COCO-style numbers; classification is the plain confusion matrix.
import type { Box } from '../types';

/** A labelled box of the ground truth. `crowd` boxes (COCO iscrowd) are neither found nor missed. */
export interface TruthBox {
  classId: number;
  box: Box;
  crowd?: boolean;
}

export interface PredictedBox {
  classId: number;
  confidence: number;
  box: Box;
}

/** One image: its ground truth and what the model predicted on it (class ids in the same space). */
export interface ImageResult {
  truth: TruthBox[];
  predictions: PredictedBox[];
}

/** IoU thresholds 0.50:0.05:0.95, computed as numpy.linspace does so that ties break as in pycocotools. */
export const COCO_IOU_THRESHOLDS: readonly number[] = linspace(0.5, 0.95, 10);
/** Recall points 0:0.01:1 at which COCO samples the interpolated precision. */
export const COCO_RECALL_POINTS: readonly number[] = linspace(0, 1, 101);

function linspace(start: number, stop: number, count: number): number[] {
  const step = (stop - start) / (count - 1);
  return Array.from({ length: count }, (_, i) => (i === count - 1 ? stop : i * step + start));
}

export function boxArea(box: Box): number {
  return Math.max(0, box.width) * Math.max(0, box.height);
}

/** Intersection over union of two boxes. For a crowd truth box the union is the predicted box's area, as in COCO. */
export function boxIou(prediction: Box, truth: Box, crowd = false): number {
  const w = Math.min(prediction.x + prediction.width, truth.x + truth.width) - Math.max(prediction.x, truth.x);
  const h = Math.min(prediction.y + prediction.height, truth.y + truth.height) - Math.max(prediction.y, truth.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = crowd ? boxArea(prediction) : boxArea(prediction) + boxArea(truth) - inter;
  return union > 0 ? inter / union : 0;
}

export type MatchOutcome = 'tp' | 'fp' | 'ignored';

/**
 * Greedy COCO matching within one image and one class: predictions in descending confidence
 * (ties keep their order) each take the unmatched truth box with the highest IoU at or above the
 * threshold; a regular box is preferred over a crowd box. Returns one outcome per prediction, in
 * the order given.
 */
export function matchPredictions(
  predictions: PredictedBox[],
  truth: TruthBox[],
  iouThreshold: number,
  order = rankByConfidence(predictions),
): MatchOutcome[] {
  // Regular boxes first, crowd boxes last, as COCOeval sorts them.
  const gts = [...truth.filter((t) => !t.crowd), ...truth.filter((t) => t.crowd)];
  const taken = new Array<boolean>(gts.length).fill(false);
  const outcome = new Array<MatchOutcome>(predictions.length).fill('fp');
  for (const p of order) {
    let best = -1;
    let bestIou = Math.min(iouThreshold, 1 - 1e-10);
    for (let g = 0; g < gts.length; g++) {
      if (taken[g] && !gts[g].crowd) continue;
      if (best > -1 && !gts[best].crowd && gts[g].crowd) break;
      const iou = boxIou(predictions[p].box, gts[g].box, gts[g].crowd);
      if (iou < bestIou) continue;
      bestIou = iou;
      best = g;
    }
    if (best === -1) continue;
    taken[best] = true;
    outcome[p] = gts[best].crowd ? 'ignored' : 'tp';
  }
  return outcome;
}

function byClass<T extends { classId: number }>(items: T[], classCount: number): T[][] {
  const lists = Array.from({ length: classCount }, () => [] as T[]);
  for (const item of items) lists[item.classId].push(item);
  return lists;
}

/** Indices of the predictions by descending confidence; a stable sort, as numpy's mergesort in COCOeval. */
function rankByConfidence(predictions: Array<{ confidence: number }>): number[] {
  return predictions.map((_, i) => i).sort((a, b) => predictions[b].confidence - predictions[a].confidence || a - b);
}

export interface PrecisionRecallCurve {
  /** COCO_RECALL_POINTS. */
  recall: readonly number[];
  /** Interpolated precision at each recall point (0 past the highest recall reached). */
  precision: number[];
}

/**
 * Average precision of a ranking (hits in descending confidence, ignored ones already removed)
 * against `positives` truth boxes, with COCO's 101-point interpolation: precision made
 * non-increasing from the right, sampled at recall 0, 0.01, ..., 1, and averaged.
 * Null when there are no positives (the class is left out of the means, as in COCO).
 */
export function averagePrecision(hits: boolean[], positives: number): { ap: number | null; curve: PrecisionRecallCurve } {
  const precisionAt = new Array<number>(COCO_RECALL_POINTS.length).fill(0);
  const curve = { recall: COCO_RECALL_POINTS, precision: precisionAt };
  if (positives === 0) return { ap: null, curve };
  const recall: number[] = [];
  const precision: number[] = [];
  let tp = 0;
  hits.forEach((hit, i) => {
    if (hit) tp++;
    recall.push(tp / positives);
    precision.push(tp / (i + 1));
  });
  for (let i = precision.length - 1; i > 0; i--) {
    if (precision[i] > precision[i - 1]) precision[i - 1] = precision[i];
  }
  let r = 0;
  COCO_RECALL_POINTS.forEach((point, k) => {
    while (r < recall.length && recall[r] < point) r++;
    if (r < recall.length) precisionAt[k] = precision[r];
  });
  return { ap: mean(precisionAt), curve };
}

export interface ClassDetectionMetrics {
  classId: number;
  class: string;
  /** Truth boxes of this class (crowd boxes not counted). */
  truth: number;
  /** Predictions at or above the chosen confidence. */
  predictions: number;
  /** At the chosen confidence and IoU 0.5. */
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
  f1: number;
  /** Null when the class has no truth boxes. */
  ap50: number | null;
  ap50_95: number | null;
}

export interface DetectionMetrics {
  confidence: number;
  /** Means over the classes that have truth boxes (COCO leaves the others out). */
  map50: number | null;
  map50_95: number | null;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  /** Pooled over all classes at the chosen confidence, predictions of classes without truth included. */
  counts: { truth: number; predictions: number; tp: number; fp: number; fn: number };
  perClass: ClassDetectionMetrics[];
  /** Interpolated precision-recall curve at IoU 0.5 per class (by class id), and the point at the chosen confidence. */
  curves: Array<PrecisionRecallCurve & { at: { precision: number; recall: number } }>;
  confusion: ConfusionMatrix;
}

export interface ConfusionMatrix {
  /** Row and column labels: the classes, then "background" for detection. */
  labels: string[];
  /** matrix[truth][predicted] counts. */
  matrix: number[][];
}

/**
 * Detection metrics over a set of images. `predictions` should come from a low confidence (COCO and
 * Ultralytics val use 0.001) so that the ranking covers the whole recall range; precision, recall
 * and F1 are read at `confidence` from the same predictions.
 */
export function evaluateDetections(images: ImageResult[], classNames: string[], confidence: number): DetectionMetrics {
  const classCount = classNames.length;
  for (const image of images) {
    for (const item of [...image.truth, ...image.predictions]) {
      if (!Number.isInteger(item.classId) || item.classId < 0 || item.classId >= classCount) {
        throw new Error(`class id ${item.classId} is outside the ${classCount} classes evaluated`);
      }
    }
  }
  const thresholds = COCO_IOU_THRESHOLDS;
  const i50 = 0;
  // ranked[class][threshold] = { confidence, outcome } of every prediction of that class over all images.
  const ranked = classNames.map(() => thresholds.map(() => [] as Array<{ confidence: number; outcome: MatchOutcome }>));
  const truthCount = new Array<number>(classCount).fill(0);
  for (const image of images) {
    // Each image's boxes split by class once, not once per class.
    const truthOf = byClass(image.truth, classCount);
    const predictionsOf = byClass(image.predictions, classCount);
    for (let c = 0; c < classCount; c++) {
      const truth = truthOf[c];
      const predictions = predictionsOf[c];
      truthCount[c] += truth.filter((t) => !t.crowd).length;
      if (predictions.length === 0) continue;
      const order = rankByConfidence(predictions);
      thresholds.forEach((t, ti) => {
        const outcome = matchPredictions(predictions, truth, t, order);
        for (const p of order) ranked[c][ti].push({ confidence: predictions[p].confidence, outcome: outcome[p] });
      });
    }
  }

  const perClass: ClassDetectionMetrics[] = [];
  const curves: DetectionMetrics['curves'] = [];
  for (let c = 0; c < classCount; c++) {
    const aps = ranked[c].map((list) => {
      const sorted = rankByConfidence(list).map((i) => list[i]).filter((r) => r.outcome !== 'ignored');
      return averagePrecision(sorted.map((r) => r.outcome === 'tp'), truthCount[c]);
    });
    const at50 = ranked[c][i50].filter((r) => r.confidence >= confidence);
    const tp = at50.filter((r) => r.outcome === 'tp').length;
    const fp = at50.filter((r) => r.outcome === 'fp').length;
    const fn = truthCount[c] - tp;
    const precision = ratio(tp, tp + fp);
    const recall = ratio(tp, truthCount[c]);
    perClass.push({
      classId: c,
      class: classNames[c],
      truth: truthCount[c],
      predictions: tp + fp,
      tp,
      fp,
      fn,
      precision,
      recall,
      f1: f1Score(precision, recall),
      ap50: aps[i50].ap,
      ap50_95: truthCount[c] > 0 ? mean(aps.map((a) => a.ap as number)) : null,
    });
    curves.push({ ...aps[i50].curve, at: { precision, recall } });
  }

  const scored = perClass.filter((m) => m.truth > 0);
  const meanOf = (key: 'ap50' | 'ap50_95' | 'precision' | 'recall' | 'f1') =>
    scored.length ? mean(scored.map((m) => m[key] as number)) : null;
  const sum = (key: 'truth' | 'predictions' | 'tp' | 'fp' | 'fn') => perClass.reduce((s, m) => s + m[key], 0);
  return {
    confidence,
    map50: meanOf('ap50'),
    map50_95: meanOf('ap50_95'),
    precision: meanOf('precision'),
    recall: meanOf('recall'),
    f1: meanOf('f1'),
    counts: { truth: sum('truth'), predictions: sum('predictions'), tp: sum('tp'), fp: sum('fp'), fn: sum('fn') },
    perClass,
    curves,
    confusion: detectionConfusion(images, classNames, confidence, 0.5),
  };
}

/**
 * Which class the model gave each truth box, at a confidence and IoU: predictions in descending
 * confidence take the unmatched truth box of any class with the highest IoU. Unmatched truth boxes
 * count as predicted "background" (missed), unmatched predictions as truth "background" (false alarms).
 * Crowd boxes are left out.
 */
export function detectionConfusion(images: ImageResult[], classNames: string[], confidence: number, iou: number): ConfusionMatrix {
  const n = classNames.length;
  const matrix = Array.from({ length: n + 1 }, () => new Array<number>(n + 1).fill(0));
  for (const image of images) {
    const truth = image.truth.filter((t) => !t.crowd);
    const predictions = image.predictions.filter((p) => p.confidence >= confidence);
    const taken = new Array<boolean>(truth.length).fill(false);
    for (const p of rankByConfidence(predictions)) {
      let best = -1;
      let bestIou = iou;
      truth.forEach((t, g) => {
        if (taken[g]) return;
        const v = boxIou(predictions[p].box, t.box);
        if (v >= bestIou) {
          bestIou = v;
          best = g;
        }
      });
      if (best === -1) {
        matrix[n][predictions[p].classId]++;
      } else {
        taken[best] = true;
        matrix[truth[best].classId][predictions[p].classId]++;
      }
    }
    truth.forEach((t, g) => {
      if (!taken[g]) matrix[t.classId][n]++;
    });
  }
  return { labels: [...classNames, 'background'], matrix };
}

export interface ClassificationSample {
  truth: number;
  predicted: number;
  /** Score of every class by class id, for the one-vs-rest precision-recall curves. */
  scores?: number[];
}

export interface ClassClassificationMetrics {
  classId: number;
  class: string;
  /** Samples whose true class this is. */
  support: number;
  /** Samples predicted as this class. */
  predicted: number;
  precision: number;
  recall: number;
  f1: number;
  /** One-vs-rest average precision from the scores (COCO interpolation); null without scores or samples. */
  ap: number | null;
}

export interface ClassificationMetrics {
  accuracy: number;
  perClass: ClassClassificationMetrics[];
  confusion: ConfusionMatrix;
  /** One-vs-rest precision-recall curve per class (by class id) when scores were given. */
  curves: Array<PrecisionRecallCurve & { at: { precision: number; recall: number } }>;
}

export function evaluateClassification(samples: ClassificationSample[], classNames: string[]): ClassificationMetrics {
  const n = classNames.length;
  const matrix = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (const s of samples) {
    for (const id of [s.truth, s.predicted]) {
      if (!Number.isInteger(id) || id < 0 || id >= n) throw new Error(`class id ${id} is outside the ${n} classes evaluated`);
    }
    matrix[s.truth][s.predicted]++;
  }
  const withScores = samples.length > 0 && samples.every((s) => s.scores && s.scores.length === n);
  const perClass: ClassClassificationMetrics[] = [];
  const curves: ClassificationMetrics['curves'] = [];
  for (let c = 0; c < n; c++) {
    const support = matrix[c].reduce((a, b) => a + b, 0);
    const predicted = matrix.reduce((a, row) => a + row[c], 0);
    const precision = ratio(matrix[c][c], predicted);
    const recall = ratio(matrix[c][c], support);
    let ap: number | null = null;
    if (withScores) {
      const order = rankByConfidence(samples.map((s) => ({ confidence: (s.scores as number[])[c] })));
      const result = averagePrecision(order.map((i) => samples[i].truth === c), support);
      ap = result.ap;
      curves.push({ ...result.curve, at: { precision, recall } });
    }
    perClass.push({ classId: c, class: classNames[c], support, predicted, precision, recall, f1: f1Score(precision, recall), ap });
  }
  const correct = matrix.reduce((a, row, i) => a + row[i], 0);
  return { accuracy: ratio(correct, samples.length), perClass, confusion: { labels: [...classNames], matrix }, curves };
}

/** A ratio with a zero denominator is 0 (nothing found, or nothing to find), as Ultralytics and scikit-learn report it. */
function ratio(num: number, den: number): number {
  return den > 0 ? num / den : 0;
}

function f1Score(precision: number, recall: number): number {
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}
