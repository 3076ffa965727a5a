// Whole images or crops in, one classification each: batched into one run where the model's batch axis allows.
import * as ort from 'onnxruntime-node';
import { NORMALIZATIONS, resizeForModel, writeTensor, type NormalizationName, type RgbImage, type ResizeMode } from '../image/image';
import { sigmoid } from './formats';
import { MAX_TENSOR_BYTES, type Model } from '../model/model';
import type { Classification } from '../types';

export type Activation = 'auto' | 'softmax' | 'sigmoid' | 'none';

export interface ClassifierOptions {
  /** auto: softmax unless the outputs already are probabilities (rows in 0..1 summing to 1). */
  activation: Activation;
  /** How many classes to keep in `scores`, best first; 0 keeps all. */
  topK: number;
  /** Classifiers are trained on stretched crops by default (torchvision, Ultralytics classify). */
  resize: ResizeMode;
  /** Images per session.run when the batch axis is dynamic: bounds memory for frames with many units. */
  maxBatch: number;
}

export const DEFAULT_CLASSIFIER_OPTIONS: ClassifierOptions = { activation: 'auto', topK: 0, resize: 'stretch', maxBatch: 32 };

export interface ClassifyResult {
  classifications: Classification[];
  preprocessMs: number;
  inferenceMs: number;
  postprocessMs: number;
  /** How many session.run calls it took. */
  runs: number;
}

export class Classifier {
  readonly options: ClassifierOptions;
  private readonly normalization: NormalizationName;

  constructor(
    readonly model: Model,
    options: Partial<ClassifierOptions> = {},
  ) {
    this.options = { ...DEFAULT_CLASSIFIER_OPTIONS, ...options };
    if (!['auto', 'softmax', 'sigmoid', 'none'].includes(this.options.activation)) throw new Error(`activation must be auto, softmax, sigmoid or none, got ${this.options.activation}`);
    if (!Number.isInteger(this.options.topK) || this.options.topK < 0) throw new Error(`top-k must be a whole number of 0 or more, got ${this.options.topK}`);
    if (model.task !== 'classify') {
      throw new Error(`${model.info.name} is not a classifier: it needs one output [N,C], and has ${model.outputs.map((o) => `${o.name} [${o.shape.join(',')}]`).join(', ')}`);
    }
    const norm = model.options.normalization;
    this.normalization = norm && norm !== 'auto' ? norm : 'unit';
    const classes = Number(model.outputs[0].shape[1]);
    if (Number.isInteger(classes) && classes > 0) {
      const names = model.info.classNames;
      if (names.length === 0) for (let i = 0; i < classes; i++) names.push(`class${i}`);
    }
  }

  async classify(images: RgbImage[]): Promise<ClassifyResult> {
    if (images.length === 0) return { classifications: [], preprocessMs: 0, inferenceMs: 0, postprocessMs: 0, runs: 0 };
    // Batches bounded in bytes as well as in count: a large input size gets fewer images a run.
    const { inputWidth, inputHeight } = this.model.info;
    const perImage = inputWidth * inputHeight * this.model.image.layout.channels * 4;
    const batchSize = this.model.image.dynamicBatch ? Math.max(1, Math.min(this.options.maxBatch, Math.floor(MAX_TENSOR_BYTES / perImage))) : 1;
    const classifications: Classification[] = [];
    let [preprocessMs, inferenceMs, postprocessMs] = [0, 0, 0];
    let runs = 0;
    for (let start = 0; start < images.length; start += batchSize) {
      const batch = images.slice(start, start + batchSize);
      const t0 = performance.now();
      const input = await this.tensor(batch);
      const t1 = performance.now();
      const results = await this.model.run({ [this.model.image.name]: input });
      const t2 = performance.now();
      runs++;
      const output = results[this.model.session.outputNames[0]];
      const classes = output.dims[output.dims.length - 1];
      const data = output.data as Float32Array;
      for (let i = 0; i < batch.length; i++) classifications.push(this.toClassification(data.subarray(i * classes, (i + 1) * classes)));
      preprocessMs += t1 - t0;
      inferenceMs += t2 - t1;
      postprocessMs += performance.now() - t2;
    }
    return { classifications, preprocessMs, inferenceMs, postprocessMs, runs };
  }

  private async tensor(batch: RgbImage[]): Promise<ort.Tensor> {
    const { layout } = this.model.image;
    const { inputWidth: width, inputHeight: height } = this.model.info;
    const per = width * height * layout.channels;
    const data = new Float32Array(per * batch.length);
    const resized = batch.map((img) => resizeForModel(img, width, height, this.options.resize, 0));
    resized.forEach(({ image }, i) => writeTensor(image, data, i * per, { ...layout, bgr: this.model.options.channelOrder === 'bgr' }, NORMALIZATIONS[this.normalization]));
    const dims = layout.order === 'nchw' ? [batch.length, layout.channels, height, width] : [batch.length, height, width, layout.channels];
    return new ort.Tensor('float32', data, dims);
  }

  private toClassification(raw: Float32Array): Classification {
    const probs = activate(raw, this.options.activation);
    const unusable = probs.find((p) => !(p >= -1e-3 && p <= 1 + 1e-3));
    if (unusable !== undefined) {
      throw new Error(
        `the model's output is not usable: a class score of ${unusable} (${raw.some((v) => !Number.isFinite(v)) ? 'NaN or infinite outputs: a broken export?' : 'activation "none" on outputs that are not probabilities; choose softmax or sigmoid'}); no class was given`,
      );
    }
    let best = 0;
    for (let i = 1; i < probs.length; i++) if (probs[i] > probs[best]) best = i;
    const order = [...probs.keys()].sort((a, b) => probs[b] - probs[a]);
    const kept = this.options.topK > 0 ? order.slice(0, this.options.topK) : order;
    const scores: Record<string, number> = {};
    for (const i of kept) scores[this.model.className(i)] = round4(probs[i]);
    return { class: this.model.className(best), classId: best, confidence: round4(probs[best]), scores };
  }
}

/** Applies the activation; auto leaves rows that already are probabilities as they are. */
export function activate(raw: ArrayLike<number>, activation: Activation): number[] {
  const values = Array.from(raw);
  const mode = activation === 'auto' ? (isDistribution(values) ? 'none' : 'softmax') : activation;
  if (mode === 'none') return values;
  if (mode === 'sigmoid') return values.map(sigmoid);
  const max = Math.max(...values);
  const exps = values.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

function isDistribution(values: number[]): boolean {
  const sum = values.reduce((a, b) => a + b, 0);
  return values.every((v) => v >= 0 && v <= 1) && Math.abs(sum - 1) < 1e-3;
}

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;
