// Image in, detections out: preprocessing, one session.run, decoding, NMS, boxes back in original pixels.
import * as ort from 'onnxruntime-node';
import { decodeOutputs, FORMAT_PREPROCESS, planFormat, type DetectorFormat, type FormatPlan, type OutputTensor, type Preprocess } from './formats';
import { NORMALIZATIONS, resizeForModel, writeTensor, type RgbImage, type ResizeMode } from '../image/image';
import type { Model } from '../model/model';
import { nms } from './nms';
import type { Detection } from '../types';

export interface DetectorOptions {
  /** Minimum score, 0..1. */
  confidence: number;
  /** IoU above which NMS drops the lower-scored of two boxes of one class, 0..1. */
  iou: number;
  maxDetections: number;
  /** Class names or ids to keep; empty keeps all. */
  classes: Array<string | number>;
  /** 'auto' takes the format's own default. */
  resize: ResizeMode | 'auto';
  /** Where the detector can say that the model never scores (once per model). */
  warn?: (text: string) => void;
}

export const DEFAULT_DETECTOR_OPTIONS: DetectorOptions = {
  confidence: 0.25,
  iou: 0.45,
  maxDetections: 300,
  classes: [],
  resize: 'auto',
};

export interface DetectTimings {
  preprocessMs: number;
  inferenceMs: number;
  postprocessMs: number;
}

export interface DetectResult {
  detections: Detection[];
  timings: DetectTimings;
  format: DetectorFormat;
}

/** Candidate boxes kept before NMS, highest scores first, so a flood of low scores stays bounded. */
const MAX_CANDIDATES = 30_000;

export class Detector {
  readonly options: DetectorOptions;
  readonly plan: FormatPlan;
  readonly preprocess: Preprocess;
  private readonly classFilter?: Set<number>;
  private warnedNoScores = false;

  constructor(
    readonly model: Model,
    options: Partial<DetectorOptions> = {},
  ) {
    this.options = { ...DEFAULT_DETECTOR_OPTIONS, ...options };
    validateOptions(this.options);
    if (model.task === 'classify') throw new Error(`${model.info.name} is a classifier (one [N,C] output); use it in avi-classifier`);
    const forced = model.options.format && model.options.format !== 'auto' ? model.options.format : undefined;
    this.plan = planFormat(
      { inputs: model.inputs, outputs: model.outputs, props: model.metadata.props, inputWidth: model.info.inputWidth, inputHeight: model.info.inputHeight },
      forced,
    );
    const defaults = FORMAT_PREPROCESS[this.plan.format];
    const norm = model.options.normalization;
    const order = model.options.channelOrder;
    this.preprocess = {
      ...defaults,
      resize: this.options.resize === 'auto' ? defaults.resize : this.options.resize,
      normalization: norm && norm !== 'auto' ? norm : defaults.normalization,
      bgr: order && order !== 'auto' ? order === 'bgr' : defaults.bgr,
    };
    this.reconcileClassNames();
    this.classFilter = this.resolveClassFilter();
  }

  get format(): DetectorFormat {
    return this.plan.format;
  }

  /** Names from the metadata or user that do not match the outputs' class count: pad or warn, never guess silently. */
  private reconcileClassNames(): void {
    const names = this.model.info.classNames;
    const count = this.plan.classCount;
    if (count === undefined) return;
    if (names.length === 0) {
      for (let i = 0; i < count; i++) names.push(`class${i}`);
    } else if (names.length !== count) {
      this.options.warn?.(`the model scores ${count} classes but ${names.length} class names were given; unnamed ids show as classN`);
    }
  }

  private resolveClassFilter(): Set<number> | undefined {
    if (this.options.classes.length === 0) return undefined;
    const names = this.model.info.classNames;
    const ids = new Set<number>();
    for (const entry of this.options.classes) {
      const asNumber = typeof entry === 'number' ? entry : /^\d+$/.test(entry.trim()) ? Number(entry) : NaN;
      const id = Number.isInteger(asNumber) ? asNumber : names.indexOf(String(entry).trim());
      if (id < 0) throw new Error(`class filter: "${entry}" is not one of the model's classes (${names.slice(0, 12).join(', ')}${names.length > 12 ? ', ...' : ''})`);
      ids.add(id);
    }
    return ids;
  }

  async detect(frame: RgbImage): Promise<DetectResult> {
    const t0 = performance.now();
    const { inputWidth: width, inputHeight: height } = this.model.info;
    const { image, transform } = resizeForModel(frame, width, height, this.preprocess.resize, this.preprocess.padValue, this.preprocess.align, this.preprocess.filter);
    const feeds = this.feeds(image);
    const t1 = performance.now();
    const results = await this.model.run(feeds);
    const t2 = performance.now();
    const outputs: Record<string, OutputTensor> = {};
    for (const [name, tensor] of Object.entries(results)) outputs[name] = { dims: tensor.dims, data: tensor.data as OutputTensor['data'] };
    const decoded = decodeOutputs(this.plan, outputs, {
      confidence: this.options.confidence,
      inputWidth: width,
      inputHeight: height,
      classFilter: this.classFilter,
    });
    if (decoded.maxScore <= 0 && !this.warnedNoScores) {
      this.warnedNoScores = true;
      this.options.warn?.(
        `${this.model.info.name} gave a score of 0 to every candidate box: the model never scores (a broken export or quantisation?), so it detects nothing`,
      );
    }
    let kept = decoded.candidates;
    if (kept.length > MAX_CANDIDATES) kept = kept.sort((a, b) => b.score - a.score).slice(0, MAX_CANDIDATES);
    kept = decoded.nmsDone
      ? kept.sort((a, b) => b.score - a.score).slice(0, this.options.maxDetections)
      : nms(kept, this.options.iou, this.options.maxDetections);

    const detections: Detection[] = [];
    for (const c of kept) {
      // Back from model-input pixels to the original frame, clamped to it.
      const x1 = clamp((c.x1 - transform.padX) / transform.scaleX, 0, frame.width);
      const y1 = clamp((c.y1 - transform.padY) / transform.scaleY, 0, frame.height);
      const x2 = clamp((c.x2 - transform.padX) / transform.scaleX, 0, frame.width);
      const y2 = clamp((c.y2 - transform.padY) / transform.scaleY, 0, frame.height);
      if (x2 - x1 < 1 || y2 - y1 < 1) continue;
      detections.push({
        id: detections.length,
        class: this.model.className(c.classId),
        classId: c.classId,
        confidence: round(c.score, 4),
        box: { x: round(x1, 1), y: round(y1, 1), width: round(x2 - x1, 1), height: round(y2 - y1, 1) },
      });
    }
    const t3 = performance.now();
    return {
      detections,
      format: this.plan.format,
      timings: { preprocessMs: t1 - t0, inferenceMs: t2 - t1, postprocessMs: t3 - t2 },
    };
  }

  private feeds(image: RgbImage): Record<string, ort.Tensor> {
    const { name, type, layout } = this.model.image;
    const { width, height } = image;
    const dims = layout.order === 'nchw' ? [1, layout.channels, height, width] : [1, height, width, layout.channels];
    const feeds: Record<string, ort.Tensor> = {};
    if (type === 'uint8') {
      // Models with a uint8 input (TensorFlow exports) take the pixels as they are.
      feeds[name] = new ort.Tensor('uint8', new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.length), dims);
    } else {
      const data = new Float32Array(width * height * layout.channels);
      writeTensor(image, data, 0, { ...layout, bgr: this.preprocess.bgr }, NORMALIZATIONS[this.preprocess.normalization]);
      feeds[name] = new ort.Tensor('float32', data, dims);
    }
    if (this.plan.sizeInput) {
      // Fed the model-input size, the deploy graph returns boxes in model-input pixels, which we then undo.
      feeds[this.plan.sizeInput] = new ort.Tensor('int64', BigInt64Array.from([BigInt(height), BigInt(width)]), [1, 2]);
    }
    return feeds;
  }
}

function validateOptions(o: DetectorOptions): void {
  const unit = (name: string, v: number) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) throw new Error(`${name} must be a number from 0 to 1, got ${v}`);
  };
  unit('confidence', o.confidence);
  unit('iou', o.iou);
  if (!Number.isInteger(o.maxDetections) || o.maxDetections < 1) throw new Error(`max detections must be a whole number of at least 1, got ${o.maxDetections}`);
  if (!['auto', 'letterbox', 'stretch'].includes(o.resize)) throw new Error(`resize must be auto, letterbox or stretch, got ${o.resize}`);
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;
