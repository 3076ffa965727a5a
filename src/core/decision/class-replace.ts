// Detections Classes Replacement, made auditable: the classifier's class replaces the detector's,
// which stays beside it; an unsure or unclassified detection gets the detector's class or a fallback.
import type { Detection } from '../types';

/** What an unsure or unclassified detection gets. */
export type UnsureAction = 'fallback' | 'detector';

export interface ClassReplaceOptions {
  /** Classifier confidence (0..1) below which a classification is unsure. 0 = always replace. */
  minConfidence: number;
  unsure: UnsureAction;
  /** Class name given by `unsure: 'fallback'`. */
  fallbackClass: string;
  /** Remove detections that carry no classification (counted in `dropped`). */
  dropUnclassified: boolean;
}

export const DEFAULT_CLASS_REPLACE: ClassReplaceOptions = {
  minConfidence: 0,
  unsure: 'fallback',
  fallbackClass: 'unknown',
  dropUnclassified: false,
};

/** classId of the fallback class: it is not one of the model's classes. */
export const FALLBACK_CLASS_ID = -1;

export interface ClassReplaceResult {
  detections: Detection[];
  /** Detections whose class is now the classifier's. */
  replaced: number;
  /** Unsure or unclassified detections given the fallback class. */
  fallback: number;
  /** Unsure or unclassified detections that kept the detector's class. */
  keptDetector: number;
  /** Unclassified detections removed by `dropUnclassified`. */
  dropped: number;
}

export function validateClassReplaceOptions(options: ClassReplaceOptions): ClassReplaceOptions {
  const { minConfidence, unsure, fallbackClass } = options;
  if (!Number.isFinite(minConfidence) || minConfidence < 0 || minConfidence > 1) {
    throw new Error(`minimum classification confidence must be a number from 0 to 1, got ${minConfidence}`);
  }
  if (unsure !== 'fallback' && unsure !== 'detector') {
    throw new Error(`unsure detections must get "fallback" or "detector", got "${unsure}"`);
  }
  if (unsure === 'fallback' && fallbackClass.trim() === '') {
    throw new Error('fallback class name is empty');
  }
  return { ...options, fallbackClass: fallbackClass.trim() };
}

/** Throws unless `value` is an array of detections; names the first bad one. */
export function checkDetections(value: unknown, nodeName: string): Detection[] {
  if (value === undefined || value === null) {
    throw new Error(`msg.detections is missing: ${nodeName} needs the detections array from avi-detector`);
  }
  if (!Array.isArray(value)) {
    throw new Error(`msg.detections must be an array of detections, got ${describe(value)}`);
  }
  value.forEach((d, index) => {
    const name = `detection ${index}`;
    if (d === null || typeof d !== 'object') throw new Error(`${name} is ${describe(d)}, not a detection object`);
    if (typeof d.class !== 'string' || d.class === '') {
      throw new Error(`${name} (id ${d.id}) has no class: expected a class name, got ${describe(d.class)}`);
    }
    checkConfidence(d.confidence, `${name} (id ${d.id}, class "${d.class}")`);
  });
  return value as Detection[];
}

function checkConfidence(value: unknown, name: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new Error(`${name}: confidence must be a number from 0 to 1, got ${describe(value)}`);
  }
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/** Returns new detection objects; the input array and its detections are left as they were. */
export function replaceClasses(input: unknown, options: ClassReplaceOptions): ClassReplaceResult {
  const detections = checkDetections(input, 'avi-class-replace');
  const result: ClassReplaceResult = { detections: [], replaced: 0, fallback: 0, keptDetector: 0, dropped: 0 };
  detections.forEach((detection, index) => {
    const c = detection.classification;
    if (c !== undefined) {
      const name = `detection ${index} (id ${detection.id}): classification`;
      if (c === null || typeof c !== 'object') throw new Error(`${name} is ${describe(c)}, not an object`);
      if (typeof c.class !== 'string' || c.class === '') throw new Error(`${name} has no class, got ${describe(c.class)}`);
      checkConfidence(c.confidence, name);
    } else if (options.dropUnclassified) {
      result.dropped++;
      return;
    }
    // A second pass must not overwrite what the detector said with an already replaced class.
    const out: Detection = {
      ...detection,
      detectorClass: detection.detectorClass ?? detection.class,
      detectorClassId: detection.detectorClassId ?? detection.classId,
      detectorConfidence: detection.detectorConfidence ?? detection.confidence,
    };
    if (c !== undefined && c.confidence >= options.minConfidence) {
      out.class = c.class;
      out.classId = c.classId;
      out.confidence = c.confidence;
      result.replaced++;
    } else if (options.unsure === 'fallback') {
      out.class = options.fallbackClass;
      out.classId = FALLBACK_CLASS_ID;
      // The confidence that made it unsure: the classifier's, or the detector's when there is no classification.
      out.confidence = c !== undefined ? c.confidence : out.detectorConfidence!;
      result.fallback++;
    } else {
      out.class = out.detectorClass!;
      out.classId = out.detectorClassId!;
      out.confidence = out.detectorConfidence!;
      result.keptDetector++;
    }
    result.detections.push(out);
  });
  return result;
}
