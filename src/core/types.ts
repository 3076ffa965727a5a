// The message schema, written down once. docs/message.md and test/support/schema.ts follow these types.

/** Pixels of the original frame, top-left origin. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** What `avi-classifier` says about one image or crop. */
export interface Classification {
  class: string;
  classId: number;
  confidence: number;
  /** Score of every class by name (probabilities after softmax or sigmoid). */
  scores: Record<string, number>;
}

export interface Detection {
  id: number;
  class: string;
  classId: number;
  confidence: number;
  box: Box;
  /** Added by `avi-classifier` when it classifies the crops of a frame. */
  classification?: Classification;
  /** Added by `avi-class-replace`: what the detector said before the classifier's class replaced it. */
  detectorClass?: string;
  detectorClassId?: number;
  detectorConfidence?: number;
}

/**
 * A frame decoded once (by the first node that needs pixels) and kept on `msg.image`. The avi nodes' frames
 * keep their pixels in shared memory, shared by every copy of the message (a fan-out to several wires does not
 * copy them): treat `data` as read-only, and make a new frame to change pixels.
 */
export interface FrameImage {
  width: number;
  height: number;
  /** 3 (RGB); alpha is dropped and grey is expanded at decode. */
  channels: 3;
  /** Raw interleaved RGB, width * height * 3 bytes. */
  data: Buffer;
  /** The encoded original as it arrived, so the visualizer can re-encode without loss of provenance. */
  encoded?: Buffer;
  /** Encoding of the original: jpeg, png, webp, tiff, ... */
  format?: string;
  /** File path when the frame came from disk. */
  path?: string;
}

/** One crop on `msg.crops` (avi-crop), aligned with the detection it came from. */
export interface Crop {
  detectionId: number;
  /** The crop rectangle in original pixels (after padding, square and clamping). */
  box: Box;
  width: number;
  height: number;
  /** Raw RGB of the crop, width * height * 3 bytes. */
  data: Buffer;
}

export type VerdictResult = 'PASS' | 'FAIL' | 'REVIEW';

export interface UnitVerdict {
  detectionId: number;
  class: string;
  confidence: number;
  result: VerdictResult;
  /** Which rule decided this unit, e.g. "edge_defect 0.91 >= reject 0.50 (critical)"; avi-router sets it for PASS too. */
  reason?: string;
  /** Severity of the rule that decided a defect class (avi-router); absent for good classes. */
  severity?: Severity;
}

export type Severity = 'critical' | 'major' | 'minor';

/** avi-router's thresholds for one class; confidences 0..1. */
export interface ClassRule {
  class: string;
  /** FAIL at or above this confidence; null = never FAIL on confidence. */
  reject: number | null;
  /** REVIEW at or above this (below reject); below it the detection is passed as noise. 0 = never passed. */
  review: number;
  severity: Severity;
}

/** The avi-router settings in force when a verdict was made, recorded on the verdict for the audit trail. */
export interface RouterRules {
  goodClasses: string[];
  /** A good-class unit below this confidence (0..1) goes to REVIEW. */
  goodMinConfidence: number;
  classRules: ClassRule[];
  /** For a class that is neither good nor in classRules. */
  defaultRule: Omit<ClassRule, 'class'>;
  /** Expected units per frame; null = no bound. min === max is an exact count. */
  count: { min: number | null; max: number | null };
  countMismatch: 'reject' | 'review';
  /** A frame with no units when no minimum count is set. */
  emptyFrame: 'pass' | 'review' | 'reject';
}

export interface Verdict {
  result: VerdictResult;
  units: UnitVerdict[];
  counts: { total: number; pass: number; fail: number; review: number; byClass: Record<string, number> };
  reasons: string[];
  /** Worst severity among FAIL units (avi-router). */
  severity?: Severity;
  /** When the verdict was made, ISO 8601 UTC (avi-router). */
  timestamp?: string;
  /** The thresholds in force (avi-router). */
  rules?: RouterRules;
  /** SHA-256 (hex) of JSON.stringify(rules): equal hashes mean identical rules. */
  rulesHash?: string;
  /** The models that judged the frame (msg.models: detector, classifier), each with its SHA-256. */
  models?: Record<string, Omit<ModelInfo, 'classNames'>>;
}

/** How a model's source says it was made: provenance recorded on every result for the audit trail. */
export interface ModelInfo {
  name: string;
  path: string;
  sha256: string;
  /** What the detector or classifier decoded the outputs as. */
  format: string;
  inputWidth: number;
  inputHeight: number;
  classNames: string[];
  executionProvider: string;
}
