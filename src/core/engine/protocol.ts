// The messages between the engine (Node-RED's thread) and its workers.
import type { ClassifierOptions } from '../inference/classifier';
import type { DetectorOptions, DetectTimings } from '../inference/detector';
import type { CropOptions } from '../image/crop';
import type { ModelOptions, ModelTask } from '../model/model';
import type { AnnotateOptions, OutputFormat } from '../drawing/draw';
import type { Classification, Crop, Detection, ModelInfo, Verdict } from '../types';

/** Pixels as they cross threads: a view onto shared memory (no copy) or, for frames made elsewhere, a copy. */
export interface PixelsRef {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Where a job's frame comes from: already decoded, encoded bytes, or a file. */
export type FrameSource = { frame: PixelsRef } | { encoded: Uint8Array } | { path: string };

export type SessionOptions = Omit<ModelOptions, 'warn'>;

export type JobRequest =
  | { op: 'decode'; source: FrameSource; maxPixels?: number }
  | { op: 'detect'; source: FrameSource; maxPixels?: number; detector: Omit<DetectorOptions, 'warn'> }
  | { op: 'classify'; images: PixelsRef[] | FrameSource; maxPixels?: number; classifier: ClassifierOptions }
  | { op: 'crop'; source: FrameSource; maxPixels?: number; detections: Detection[]; crop: CropOptions }
  | { op: 'describe'; kind: 'detector'; detector: Omit<DetectorOptions, 'warn'> }
  | { op: 'annotate'; source: FrameSource; maxPixels?: number; detections: Detection[]; verdict?: Verdict; draw: AnnotateOptions; format: OutputFormat; quality: number };

export type ToWorker =
  /** bytes: the model file as the engine read and hashed it, in shared memory. */
  | { type: 'load'; key: string; file: string; bytes: Uint8Array; options: SessionOptions }
  | { type: 'unload'; key: string }
  /** End once no onnxruntime call is in flight (the engine terminates a worker only this way). */
  | { type: 'exit' }
  | { type: 'job'; id: number; key?: string; request: JobRequest; delayMs?: number };

/** A frame the worker decoded: pixels (and the file's bytes, when it read a file) in shared memory. */
export interface DecodedFrame extends PixelsRef {
  format?: string;
  encoded?: Uint8Array;
}

export interface StageTimings extends DetectTimings {
  /** When the worker took the job up, ms since the epoch (performance.timeOrigin + now()). */
  startedAt: number;
}

export interface JobResult {
  frame?: DecodedFrame;
  detections?: Detection[];
  format?: string;
  classifications?: Classification[];
  runs?: number;
  /** Crops without their pixels; `cropPixels[i]` holds crop i's. */
  crops?: Array<Omit<Crop, 'data'>>;
  cropPixels?: Uint8Array[];
  /** annotate: the drawn frame, raw RGB in shared memory, and encoded as asked. */
  annotated?: Uint8Array;
  encoded?: Uint8Array;
  /** The model that did the work, as loaded in the worker: the exact file, by hash. */
  model?: Omit<ModelInfo, 'classNames'>;
  timings: StageTimings;
  warnings?: string[];
}

export interface LoadedModel {
  info: ModelInfo;
  task: ModelTask;
  dynamicBatch: boolean;
}

export type FromWorker =
  | { type: 'loaded'; key: string; ok: true; model: LoadedModel; warnings: string[] }
  | { type: 'loaded'; key: string; ok: false; error: string }
  | { type: 'result'; id: number; ok: true; result: JobResult }
  | { type: 'result'; id: number; ok: false; error: string }
  /** A job's image decode began or ended: the engine stops a worker whose decode runs over its time budget. */
  | { type: 'decoding' | 'decoded'; id: number };
