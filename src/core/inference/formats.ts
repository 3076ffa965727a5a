// Detector output layouts: recognising them from a model's tensors and metadata, and decoding them to candidates.
import type { Candidate } from './nms';
import type { NormalizationName, ResizeFilter, ResizeMode } from '../image/image';

export const DETECTOR_FORMATS = ['yolov8', 'yolo-end2end', 'yolov5', 'yolox', 'rf-detr', 'detr-deploy', 'ssd'] as const;
export type DetectorFormat = (typeof DETECTOR_FORMATS)[number];

export const FORMAT_LABELS: Record<DetectorFormat, string> = {
  yolov8: 'Ultralytics YOLOv8 / YOLO11 [1,4+C,N]',
  'yolo-end2end': 'YOLO end-to-end, NMS in the graph [1,K,6]',
  yolov5: 'YOLOv5 / YOLOv7 [1,N,5+C] with objectness',
  yolox: 'YOLOX raw head [1,N,5+C], grid decoded here',
  'rf-detr': 'RF-DETR / DETR: dets [1,Q,4] cxcywh 0-1 + labels [1,Q,C] logits',
  'detr-deploy': 'RT-DETR / D-FINE / DEIM deploy: orig_target_sizes in, labels + boxes + scores out',
  ssd: 'SSD-style: boxes + scores + classes',
};

/** A tensor's name and shape as onnxruntime reports it; a string or negative dim is dynamic. */
export interface TensorSpec {
  name: string;
  type: string;
  shape: Array<number | string>;
}

export interface OutputTensor {
  dims: readonly number[];
  data: ArrayLike<number | bigint>;
}

/** How a format wants its input prepared when the user leaves the setting on auto. */
export interface Preprocess {
  resize: ResizeMode;
  padValue: number;
  align: 'center' | 'top-left';
  normalization: NormalizationName;
  bgr: boolean;
  filter: ResizeFilter;
}

// Ultralytics, YOLOv5 and YOLOX resize with cv2.resize INTER_LINEAR; DETR-family and SSD pipelines with PIL or torchvision.
const ULTRALYTICS: Preprocess = { resize: 'letterbox', padValue: 114, align: 'center', normalization: 'unit', bgr: false, filter: 'bilinear' };

export const FORMAT_PREPROCESS: Record<DetectorFormat, Preprocess> = {
  yolov8: ULTRALYTICS,
  'yolo-end2end': ULTRALYTICS,
  yolov5: ULTRALYTICS,
  // YOLOX's own preprocessing: top-left letterbox with 114, BGR, 0..255 without scaling.
  yolox: { resize: 'letterbox', padValue: 114, align: 'top-left', normalization: 'raw', bgr: true, filter: 'bilinear' },
  // RF-DETR resizes to a square without keeping the aspect ratio and normalises with ImageNet statistics.
  'rf-detr': { resize: 'stretch', padValue: 0, align: 'center', normalization: 'imagenet', bgr: false, filter: 'antialias' },
  // DEIM / D-FINE deploy scripts paste the frame, aspect kept, on a black canvas, /255.
  'detr-deploy': { resize: 'letterbox', padValue: 0, align: 'center', normalization: 'unit', bgr: false, filter: 'antialias' },
  ssd: { resize: 'stretch', padValue: 0, align: 'center', normalization: 'unit', bgr: false, filter: 'antialias' },
};

/** What the detector learned about a model's outputs at load time. */
export interface FormatPlan {
  format: DetectorFormat;
  /** Class count the outputs imply, or undefined when they carry class ids instead of per-class scores. */
  classCount?: number;
  /** Output names the decoder reads, by role. */
  outputs: Record<string, string>;
  /** The DETR deploy export's second input, fed with the model-input size. */
  sizeInput?: string;
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Ultralytics metadata_props (task, end2end, ...) where the exporter wrote them. */
  props: Record<string, string>;
  inputWidth: number;
  inputHeight: number;
}

/** A fixed dimension's size; undefined for a dynamic one. */
export function dim(value: number | string | undefined): number | undefined {
  return typeof value === 'number' && value > 0 ? value : undefined;
}

export function describeTensors(specs: TensorSpec[]): string {
  return specs.map((t) => `${t.name} [${t.shape.map((d) => (typeof d === 'number' && d > 0 ? d : '?')).join(',')}]`).join(', ');
}

/** The cell count of an anchor-free head with strides 8, 16, 32: what YOLOX and YOLOv8 predict over. */
export function gridCells(width: number, height: number, strides = [8, 16, 32]): number {
  return strides.reduce((sum, s) => sum + Math.floor(width / s) * Math.floor(height / s), 0);
}

const byName = (specs: TensorSpec[], pattern: RegExp) => specs.find((t) => pattern.test(t.name));

/**
 * Recognises the output layout, or explains why none fits. With `forced`, checks that the outputs
 * can be that layout; the error names the shapes seen and the setting to use.
 */
export function planFormat(sig: ModelSignature, forced?: DetectorFormat): FormatPlan {
  const candidates = forced ? [forced] : DETECTOR_FORMATS;
  const reasons: string[] = [];
  for (const format of candidates) {
    const plan = tryFormat(format, sig, !!forced);
    if (typeof plan === 'string') reasons.push(`${format}: ${plan}`);
    else return plan;
  }
  const seen = `outputs ${describeTensors(sig.outputs)}; inputs ${describeTensors(sig.inputs)}`;
  if (forced) throw new Error(`the model's outputs do not fit the "${forced}" layout (${reasons[0].replace(/^[^:]+: /, '')}); ${seen}`);
  throw new Error(
    `unrecognised detector output layout: ${seen}. Supported: ${DETECTOR_FORMATS.map((f) => FORMAT_LABELS[f]).join('; ')}. ` +
      `If the model is one of these, set "Output format" in the model config.`,
  );
}

function tryFormat(format: DetectorFormat, sig: ModelSignature, forced: boolean): FormatPlan | string {
  const { outputs, inputs, props } = sig;
  const single = outputs.length === 1 ? outputs[0] : undefined;
  const rank3 = single && single.shape.length === 3 && (dim(single.shape[0]) ?? 1) === 1 ? single : undefined;
  const a = dim(rank3?.shape[1]);
  const b = dim(rank3?.shape[2]);
  const endToEnd = props.end2end?.toLowerCase() === 'true';
  switch (format) {
    case 'yolov8': {
      if (!rank3 || !a || !b) return 'needs one output [1,4+C,N]';
      if (endToEnd) return 'the metadata says end2end';
      // Ultralytics metadata settles it; otherwise the channel axis is the shorter one.
      const ultralytics = props.task === 'detect' && !!props.names;
      if (a < 5 || (a >= b && !ultralytics && !forced)) return `expects [1,4+C,N] with 4+C < N, got [1,${a},${b}]`;
      return { format, classCount: a - 4, outputs: { output: rank3.name } };
    }
    case 'yolo-end2end': {
      if (!rank3 || !a || !b) return 'needs one output [1,K,6]';
      if (b !== 6) return `expects [1,K,6], got [1,${a},${b}]`;
      // A single-class YOLOv5 or YOLOX is also [1,N,6], with N the grid cells (times 3 anchors for YOLOv5).
      const cells = gridCells(sig.inputWidth, sig.inputHeight);
      if (!endToEnd && !forced && (a > 1000 || a === cells || a === 3 * cells)) return `K=${a} looks like a raw grid head, not NMS-in-graph output`;
      return { format, outputs: { output: rank3.name } };
    }
    case 'yolox':
    case 'yolov5': {
      if (!rank3 || !a || !b) return 'needs one output [1,N,5+C]';
      if (b < 6 || a <= b) return `expects [1,N,5+C] with N > 5+C, got [1,${a},${b}]`;
      const cells = gridCells(sig.inputWidth, sig.inputHeight);
      // YOLOX predicts once per grid cell; YOLOv5/v7 three anchors per cell. Raw YOLOX read as YOLOv5 gives garbage boxes.
      if (format === 'yolox' && a !== cells && !forced) return `N=${a} is not the ${cells} grid cells of a ${sig.inputWidth}x${sig.inputHeight} anchor-free head`;
      if (format === 'yolov5' && a === cells && !forced) return `N=${a} equals the anchor-free grid cell count: raw YOLOX, not YOLOv5`;
      return { format, classCount: b - 5, outputs: { output: rank3.name } };
    }
    case 'rf-detr': {
      const boxes = byName(outputs, /^dets$|pred_boxes|boxes/i);
      const logits = byName(outputs, /^labels$|pred_logits|logits/i);
      if (outputs.length !== 2 || !boxes || !logits || boxes === logits) return 'needs two outputs: dets [1,Q,4] and labels [1,Q,C]';
      if (boxes.shape.length !== 3 || dim(boxes.shape[2]) !== 4 || logits.shape.length !== 3) return 'needs dets [1,Q,4] and labels [1,Q,C]';
      return { format, classCount: dim(logits.shape[2]), outputs: { boxes: boxes.name, logits: logits.name } };
    }
    case 'detr-deploy': {
      const sizeInput = inputs.find((t) => /orig_target_sizes|orig_size|target_sizes/i.test(t.name));
      const labels = byName(outputs, /label|class/i);
      const boxes = byName(outputs, /box/i);
      const scores = byName(outputs, /score/i);
      if (!sizeInput) return 'needs an orig_target_sizes input';
      if (!labels || !boxes || !scores) return 'needs labels, boxes and scores outputs';
      return { format, outputs: { labels: labels.name, boxes: boxes.name, scores: scores.name }, sizeInput: sizeInput.name };
    }
    case 'ssd': {
      const boxes = byName(outputs, /box/i);
      const scores = byName(outputs, /score/i);
      const classes = byName(outputs, /class|label/i);
      if (!boxes || !scores || !classes) return 'needs boxes, scores and classes outputs';
      if (inputs.length !== 1) return 'takes a single image input';
      if (dim(boxes.shape[boxes.shape.length - 1]) !== 4) return 'boxes must end in 4 coordinates';
      return { format, outputs: { boxes: boxes.name, scores: scores.name, classes: classes.name } };
    }
  }
}

export interface DecodeParams {
  confidence: number;
  inputWidth: number;
  inputHeight: number;
  /** Only these class ids, when given. */
  classFilter?: Set<number>;
}

export interface Decoded {
  candidates: Candidate[];
  /** Highest score of any candidate before the threshold: 0 means the model never scores. */
  maxScore: number;
  /** Whether the format already applied NMS (end-to-end and DETR family). */
  nmsDone: boolean;
}

const num = (v: number | bigint): number => (typeof v === 'bigint' ? Number(v) : v);
export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** A probability a little over 1 is float rounding; more is a model whose scores are not probabilities. */
const SCORE_SLACK = 1e-3;

/**
 * Decodes raw outputs to candidates in model-input pixels. Scores outside 0..1 (where the format gives
 * probabilities) and boxes with NaN or infinite coordinates are an error, never boxes: they come from a broken
 * export (fp16 overflow) or a wrong output format, and NMS cannot order or merge them.
 */
export function decodeOutputs(plan: FormatPlan, outputs: Record<string, OutputTensor>, p: DecodeParams): Decoded {
  const keep = (classId: number) => !p.classFilter || p.classFilter.has(classId);
  const candidates: Candidate[] = [];
  let maxScore = 0;
  const bad = { scores: 0, boxes: 0, example: NaN };
  const checkScore = (v: number) => {
    if (!(v >= -SCORE_SLACK && v <= 1 + SCORE_SLACK)) {
      if (bad.scores++ === 0) bad.example = v;
    }
  };
  const push = (x1: number, y1: number, x2: number, y2: number, score: number, classId: number, probability = true) => {
    if (probability) checkScore(score);
    if (score > maxScore) maxScore = score;
    if (!(score >= p.confidence) || !keep(classId)) return;
    if (!(Number.isFinite(x1) && Number.isFinite(y1) && Number.isFinite(x2) && Number.isFinite(y2))) bad.boxes++;
    else if (x2 > x1 && y2 > y1) candidates.push({ x1, y1, x2, y2, score, classId });
  };
  const decoded = decodeRaw();
  if (bad.scores || bad.boxes) {
    const what = [
      bad.scores ? `${bad.scores} scores outside 0..1 (e.g. ${bad.example})` : '',
      bad.boxes ? `${bad.boxes} boxes with NaN or infinite coordinates` : '',
    ].filter(Boolean).join(' and ');
    throw new Error(`the model's output is not usable: ${what}; a broken export (fp16 overflow?) or the wrong output format. No boxes were taken from this frame`);
  }
  return decoded;

  function decodeRaw(): Decoded {
    switch (plan.format) {
      case 'yolov8': {
        const out = outputs[plan.outputs.output];
        const rows = out.dims[1];
        const n = out.dims[2];
        const d = out.data as Float32Array;
        for (let i = 0; i < n; i++) {
          let best = 0;
          let bestClass = 0;
          for (let c = 4; c < rows; c++) {
            const s = d[c * n + i];
            checkScore(s);
            if (s > best) {
              best = s;
              bestClass = c - 4;
            }
          }
          if (best > maxScore) maxScore = best;
          if (best < p.confidence) continue;
          const cx = d[i];
          const cy = d[n + i];
          const w = d[2 * n + i];
          const h = d[3 * n + i];
          push(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, best, bestClass, false);
        }
        return { candidates, maxScore, nmsDone: false };
      }
      case 'yolo-end2end': {
        const out = outputs[plan.outputs.output];
        const k = out.dims[1];
        const d = out.data as Float32Array;
        for (let i = 0; i < k; i++) {
          const o = i * 6;
          push(d[o], d[o + 1], d[o + 2], d[o + 3], d[o + 4], Math.round(d[o + 5]));
        }
        return { candidates, maxScore, nmsDone: true };
      }
      case 'yolov5':
      case 'yolox': {
        const out = outputs[plan.outputs.output];
        const n = out.dims[1];
        const cols = out.dims[2];
        const d = out.data as Float32Array;
        const grid = plan.format === 'yolox' ? yoloxGrid(p.inputWidth, p.inputHeight) : undefined;
        for (let i = 0; i < n; i++) {
          const o = i * cols;
          const objectness = d[o + 4];
          checkScore(objectness);
          let best = 0;
          let bestClass = 0;
          for (let c = 5; c < cols; c++) {
            checkScore(d[o + c]);
            if (d[o + c] > best) {
              best = d[o + c];
              bestClass = c - 5;
            }
          }
          const score = objectness * best;
          if (score > maxScore) maxScore = score;
          if (!(score >= p.confidence)) continue;
          let cx = d[o];
          let cy = d[o + 1];
          let w = d[o + 2];
          let h = d[o + 3];
          if (grid) {
            const stride = grid.stride[i];
            cx = (cx + grid.x[i]) * stride;
            cy = (cy + grid.y[i]) * stride;
            w = Math.exp(w) * stride;
            h = Math.exp(h) * stride;
          }
          push(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score, bestClass, false);
        }
        return { candidates, maxScore, nmsDone: false };
      }
      case 'rf-detr': {
        const boxes = outputs[plan.outputs.boxes];
        const logits = outputs[plan.outputs.logits];
        const q = boxes.dims[1];
        const c = logits.dims[2];
        const b = boxes.data as Float32Array;
        const l = logits.data as Float32Array;
        // Each query keeps its best class; DETR queries are a set prediction, so no NMS is needed.
        for (let i = 0; i < q; i++) {
          let best = -Infinity;
          let bestClass = 0;
          for (let k = 0; k < c; k++) {
            if (Number.isNaN(l[i * c + k])) checkScore(NaN);
            if (l[i * c + k] > best) {
              best = l[i * c + k];
              bestClass = k;
            }
          }
          const score = sigmoid(best);
          const cx = b[i * 4] * p.inputWidth;
          const cy = b[i * 4 + 1] * p.inputHeight;
          const w = b[i * 4 + 2] * p.inputWidth;
          const h = b[i * 4 + 3] * p.inputHeight;
          push(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score, bestClass, false);
        }
        return { candidates, maxScore, nmsDone: true };
      }
      case 'detr-deploy': {
        const labels = outputs[plan.outputs.labels].data;
        const boxes = outputs[plan.outputs.boxes].data as Float32Array;
        const scores = outputs[plan.outputs.scores].data as Float32Array;
        // Boxes come back in the pixels of the size we fed: the model-input size (see Detector).
        for (let i = 0; i < scores.length; i++) {
          push(boxes[i * 4], boxes[i * 4 + 1], boxes[i * 4 + 2], boxes[i * 4 + 3], scores[i], num(labels[i]));
        }
        return { candidates, maxScore, nmsDone: true };
      }
      case 'ssd': {
        const boxes = outputs[plan.outputs.boxes].data as Float32Array;
        const scores = outputs[plan.outputs.scores].data as Float32Array;
        const classes = outputs[plan.outputs.classes].data;
        // TensorFlow's detection_boxes are [ymin, xmin, ymax, xmax]; most others are [x1, y1, x2, y2].
        const yxyx = /detection_boxes/i.test(plan.outputs.boxes);
        let maxCoord = 0;
        for (let i = 0; i < boxes.length; i++) maxCoord = Math.max(maxCoord, Math.abs(boxes[i]));
        const normalised = maxCoord <= 1.5;
        const sx = normalised ? p.inputWidth : 1;
        const sy = normalised ? p.inputHeight : 1;
        for (let i = 0; i < scores.length; i++) {
          const [a, b, c, d] = [boxes[i * 4], boxes[i * 4 + 1], boxes[i * 4 + 2], boxes[i * 4 + 3]];
          const [x1, y1, x2, y2] = yxyx ? [b, a, d, c] : [a, b, c, d];
          push(x1 * sx, y1 * sy, x2 * sx, y2 * sy, scores[i], Math.round(num(classes[i])));
        }
        return { candidates, maxScore, nmsDone: true };
      }
    }
  }
}

interface Grid {
  x: Float32Array;
  y: Float32Array;
  stride: Float32Array;
}

const gridCache = new Map<string, Grid>();

function yoloxGrid(width: number, height: number): Grid {
  const key = `${width}x${height}`;
  const cached = gridCache.get(key);
  if (cached) return cached;
  const n = gridCells(width, height);
  const grid: Grid = { x: new Float32Array(n), y: new Float32Array(n), stride: new Float32Array(n) };
  let i = 0;
  for (const stride of [8, 16, 32]) {
    const gw = Math.floor(width / stride);
    const gh = Math.floor(height / stride);
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++, i++) {
        grid.x[i] = gx;
        grid.y[i] = gy;
        grid.stride[i] = stride;
      }
    }
  }
  gridCache.set(key, grid);
  return grid;
}
