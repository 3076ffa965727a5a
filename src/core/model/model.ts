// One ONNX model loaded once: its session, what it says about itself, its class names, its SHA-256.
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { readLabels } from '../evaluation/datasets';
import { formatBytes, MAX_MODEL_BYTES, readBoundedFile } from '../files';
import { DETECTOR_FORMATS, dim, type DetectorFormat, type TensorSpec } from '../inference/formats';
import type { ColourProfile, NormalizationName, TensorLayout } from '../image/image';
import { readOnnxMetadata, type OnnxMetadata } from './onnx-metadata';
import type { ModelInfo } from '../types';

export type ExecutionProvider = 'cpu' | 'cuda';
export type ModelTask = 'detect' | 'classify';

export interface ModelOptions {
  /** Class names, in class-id order; they win over a labels file and the model's metadata. */
  classNames?: string[];
  /** A labels file: plain lines, data.yaml (Ultralytics / Roboflow) or COCO JSON. */
  labels?: string;
  executionProvider?: ExecutionProvider;
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose (one per core). */
  threads?: number;
  /** Model-input size for models whose input is dynamic, or to state it explicitly. */
  inputWidth?: number;
  inputHeight?: number;
  normalization?: NormalizationName | 'auto';
  channelOrder?: 'auto' | 'rgb' | 'bgr';
  /** How frames that this model's node decodes treat an embedded ICC profile (decodeImage); default 'ignore'. */
  colourProfile?: ColourProfile;
  /** Detector output layout; auto-detected when absent or 'auto'. */
  format?: DetectorFormat | 'auto';
  /** Where warnings go (CPU fallback, class-count mismatch). */
  warn?: (text: string) => void;
}

export interface ImageInput {
  name: string;
  type: string;
  layout: Omit<TensorLayout, 'bgr'>;
  /** True when the batch axis is dynamic, so several images can run in one call. */
  dynamicBatch: boolean;
}

export class Model {
  constructor(
    readonly session: ort.InferenceSession,
    readonly info: ModelInfo,
    readonly metadata: OnnxMetadata,
    readonly task: ModelTask,
    readonly image: ImageInput,
    readonly inputs: TensorSpec[],
    readonly outputs: TensorSpec[],
    readonly options: ModelOptions,
  ) {}

  get classNames(): string[] {
    return this.info.classNames;
  }

  className(classId: number): string {
    return this.info.classNames[classId] ?? `class${classId}`;
  }

  private active = 0;
  private idle?: () => void;
  private released = false;

  async run(feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> {
    if (this.released) throw new Error(`model ${this.info.name} was released (redeployed or reloaded); send the message again`);
    this.active++;
    try {
      return await native(() => this.session.run(feeds));
    } finally {
      if (--this.active === 0) this.idle?.();
    }
  }

  /** Frees the session once the runs in flight have finished; later runs are refused. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.active > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    await native(() => this.session.release());
  }
}

/** onnxruntime calls in flight in this thread (session creations, runs, releases). */
let nativeCalls = 0;
const quiet: Array<() => void> = [];

async function native<T>(call: () => Promise<T>): Promise<T> {
  nativeCalls++;
  try {
    return await call();
  } finally {
    if (--nativeCalls === 0) for (const resolve of quiet.splice(0)) resolve();
  }
}

/** Resolves once no onnxruntime call is in flight in this thread: only then may the thread end (see engine.ts). */
export function whenNoNativeCalls(): Promise<void> {
  return nativeCalls === 0 ? Promise.resolve() : new Promise((resolve) => quiet.push(resolve));
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Parses Ultralytics' `names`, written as a Python dict or list literal: {0: 'person', 1: "a 'b'"}. */
export function parsePythonNames(text: string): string[] {
  const trimmed = text.trim();
  try {
    const json = JSON.parse(trimmed);
    if (Array.isArray(json)) return json.map(String);
    if (json && typeof json === 'object') return namesFromIndexed(Object.entries(json));
  } catch {
    // not JSON: a Python literal
  }
  const str = `'((?:[^'\\\\]|\\\\.)*)'|"((?:[^"\\\\]|\\\\.)*)"`;
  const unescape = (s: string) => s.replace(/\\(.)/g, '$1');
  if (trimmed.startsWith('{')) {
    const entries: Array<[string, string]> = [];
    for (const m of trimmed.matchAll(new RegExp(`(\\d+)\\s*:\\s*(?:${str})`, 'g'))) entries.push([m[1], unescape(m[2] ?? m[3])]);
    return namesFromIndexed(entries);
  }
  if (trimmed.startsWith('[')) return [...trimmed.matchAll(new RegExp(str, 'g'))].map((m) => unescape(m[1] ?? m[2]));
  return [];
}

function namesFromIndexed(entries: Array<[string, unknown]>): string[] {
  const names: string[] = [];
  for (const [key, value] of entries) names[Number(key)] = String(value);
  for (let i = 0; i < names.length; i++) names[i] ??= `class${i}`;
  return names;
}

/** Ultralytics writes imgsz as "[640, 640]" (height, width) or a single number. */
function parseImgsz(text: string | undefined): { width: number; height: number } | undefined {
  if (!text) return undefined;
  const numbers = text.match(/\d+/g)?.map(Number) ?? [];
  if (numbers.length === 1) return { width: numbers[0], height: numbers[0] };
  if (numbers.length >= 2) return { width: numbers[1], height: numbers[0] };
  return undefined;
}

function specsOf(names: readonly string[], metadata: readonly ort.InferenceSession.ValueMetadata[]): TensorSpec[] {
  return names.map((name, i) => {
    const m = metadata[i] as ort.InferenceSession.ValueMetadata & { type?: string; shape?: Array<number | string> };
    return { name, type: m?.isTensor ? String(m.type) : 'non-tensor', shape: m?.isTensor ? [...(m.shape ?? [])] : [] };
  });
}

/** Finds the image input and its layout: NCHW unless the channel axis is clearly last. */
function imageInputOf(inputs: TensorSpec[]): { spec: TensorSpec; layout: Omit<TensorLayout, 'bgr'> } {
  const candidates = inputs.filter((t) => t.shape.length === 4);
  if (candidates.length === 0) {
    throw new Error(`the model has no image input (a rank-4 tensor); its inputs are ${inputs.map((t) => `${t.name} [${t.shape.join(',')}]`).join(', ')}`);
  }
  const spec = candidates[0];
  const c1 = dim(spec.shape[1]);
  const c3 = dim(spec.shape[3]);
  if (c1 === 1 || c1 === 3) return { spec, layout: { order: 'nchw', channels: c1 } };
  if (c3 === 1 || c3 === 3) return { spec, layout: { order: 'nhwc', channels: c3 } };
  if (c1 === undefined) return { spec, layout: { order: 'nchw', channels: 3 } };
  throw new Error(`cannot tell the channel axis of input ${spec.name} [${spec.shape.join(',')}]: expected 1 or 3 channels first (NCHW) or last (NHWC)`);
}

function guessTask(meta: OnnxMetadata, outputs: TensorSpec[], image: TensorSpec): ModelTask {
  const task = meta.props.task;
  if (task === 'classify') return 'classify';
  if (task === 'detect') return 'detect';
  // A classifier has one output [N, C] whose first axis is the input's batch axis.
  if (outputs.length === 1 && outputs[0].shape.length === 2) {
    const batch = outputs[0].shape[0];
    if (typeof batch === 'string' || batch === -1 || batch === dim(image.shape[0])) return 'classify';
  }
  return 'detect';
}

/**
 * onnxruntime's intra-op threads spin between operators by default, burning the cores that the other workers,
 * the frames' pixel work and Node-RED's thread need: with one worker of 2 threads on 2 cores, the demo flow went
 * from 14 to 22 frames/s without it (npm run bench).
 */
export const NO_SPINNING: ort.InferenceSession.SessionOptions = { extra: { session: { intra_op: { allow_spinning: '0' } } } };

async function createSession(data: Buffer, options: ModelOptions): Promise<{ session: ort.InferenceSession; provider: ExecutionProvider }> {
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    interOpNumThreads: 1,
    ...(options.threads && options.threads > 0 ? { intraOpNumThreads: options.threads } : {}),
    ...NO_SPINNING,
  };
  if (options.executionProvider === 'cuda') {
    try {
      const session = await native(() => ort.InferenceSession.create(data, { ...base, executionProviders: ['cuda'] }));
      return { session, provider: 'cuda' };
    } catch (err) {
      options.warn?.(`CUDA execution provider not available (${firstLine(err)}); running on CPU${cudaInstallHint(err)}`);
    }
  }
  const session = await native(() => ort.InferenceSession.create(data, { ...base, executionProviders: ['cpu'] }));
  return { session, provider: 'cpu' };
}

/** onnxruntime-node installed as this package installs it has no CUDA libraries (empty placeholders): say how to get them. */
const cudaInstallHint = (err: unknown) =>
  /libonnxruntime_providers_\w+\.so/.test(String((err as Error)?.message ?? err))
    ? '. onnxruntime-node was installed without its CUDA libraries: run `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` in the Node-RED user directory, where api.nuget.org is reachable'
    : '';

const firstLine = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0];

async function resolveClassNames(meta: OnnxMetadata, options: ModelOptions): Promise<string[]> {
  if (options.classNames && options.classNames.length > 0) return options.classNames;
  if (options.labels) return readLabels(options.labels);
  if (meta.props.names) return parsePythonNames(meta.props.names);
  return [];
}

/** Loads an ONNX model: reads it once, hashes it, reads its metadata, opens the session. */
/** Loads a model from its file, or from `bytes` already read from it (the engine reads a file once for every worker). */
export async function loadModel(modelPath: string, options: ModelOptions = {}, bytes?: Buffer): Promise<Model> {
  if (!modelPath || typeof modelPath !== 'string') throw new Error('no model file set');
  const data = bytes ?? (await readModelFile(modelPath));
  const meta = readOnnxMetadata(data);
  if (options.format && options.format !== 'auto' && !DETECTOR_FORMATS.includes(options.format)) {
    throw new Error(`unknown output format "${options.format}"; use one of: auto, ${DETECTOR_FORMATS.join(', ')}`);
  }
  let session: ort.InferenceSession;
  let provider: ExecutionProvider;
  try {
    ({ session, provider } = await createSession(data, options));
  } catch (err) {
    throw new Error(`onnxruntime cannot load ${path.basename(modelPath)}: ${firstLine(err)}`);
  }
  try {
    const inputs = specsOf(session.inputNames, session.inputMetadata);
    const outputs = specsOf(session.outputNames, session.outputMetadata);
    const { spec, layout } = imageInputOf(inputs);
    const size = inputSize(spec, layout.order, meta, options);
    refuseLargeTensors(spec, layout, size, outputs);
    const task = guessTask(meta, outputs, spec);
    const classNames = await resolveClassNames(meta, options);
    const info: ModelInfo = {
      name: path.basename(modelPath),
      path: path.resolve(modelPath),
      sha256: sha256(data),
      format: task === 'classify' ? 'classifier' : 'auto',
      inputWidth: size.width,
      inputHeight: size.height,
      classNames,
      executionProvider: provider,
    };
    const dynamicBatch = dim(spec.shape[0]) === undefined;
    return new Model(session, info, meta, task, { name: spec.name, type: spec.type, layout, dynamicBatch }, inputs, outputs, options);
  } catch (err) {
    await native(() => session.release());
    throw err;
  }
}

/** The most bytes one image's input tensor, or one fixed-size output, may take: a frame's allocations stay bounded. */
export function readModelFile(modelPath: string, allocate?: (bytes: number) => Buffer): Promise<Buffer> {
  return readBoundedFile(modelPath, { maxBytes: MAX_MODEL_BYTES, what: 'model file', timeoutMs: 60_000, allocate });
}

export const MAX_TENSOR_BYTES = 256 * 1024 ** 2;

const ELEMENT_BYTES: Record<string, number> = { float32: 4, float16: 2, uint8: 1, int8: 1, int32: 4, int64: 8, float64: 8, bool: 1 };

/** Refuses at load a model whose declared input (at its size) or a fixed output would allocate more than MAX_TENSOR_BYTES a frame. */
function refuseLargeTensors(spec: TensorSpec, layout: Omit<TensorLayout, 'bgr'>, size: { width: number; height: number }, outputs: TensorSpec[]): void {
  const batch = dim(spec.shape[0]) ?? 1;
  const inputBytes = batch * layout.channels * size.width * size.height * (ELEMENT_BYTES[spec.type] ?? 4);
  if (inputBytes > MAX_TENSOR_BYTES) {
    throw new Error(
      `the model's input ${spec.name} is ${batch} x ${layout.channels} x ${size.height} x ${size.width} ${spec.type}: ${formatBytes(inputBytes)} a frame, ` +
        `over the limit of ${formatBytes(MAX_TENSOR_BYTES)}; refused (export it at a smaller input size)`,
    );
  }
  for (const output of outputs) {
    const dims = output.shape.map(dim);
    if (dims.some((d) => d === undefined)) continue;
    const bytes = (dims as number[]).reduce((a, b) => a * b, ELEMENT_BYTES[output.type] ?? 4);
    if (bytes > MAX_TENSOR_BYTES) {
      throw new Error(`the model's output ${output.name} [${output.shape.join(',')}] is ${formatBytes(bytes)} a frame, over the limit of ${formatBytes(MAX_TENSOR_BYTES)}; refused`);
    }
  }
}

function inputSize(spec: TensorSpec, order: 'nchw' | 'nhwc', meta: OnnxMetadata, options: ModelOptions): { width: number; height: number } {
  const [h, w] = order === 'nchw' ? [spec.shape[2], spec.shape[3]] : [spec.shape[1], spec.shape[2]];
  const modelW = dim(w);
  const modelH = dim(h);
  const wanted = options.inputWidth && options.inputHeight ? { width: options.inputWidth, height: options.inputHeight } : undefined;
  if (modelW && modelH) {
    if (wanted && (wanted.width !== modelW || wanted.height !== modelH)) {
      throw new Error(`the model's input is fixed at ${modelW}x${modelH} (width x height); the configured input size ${wanted.width}x${wanted.height} cannot be used`);
    }
    return { width: modelW, height: modelH };
  }
  const size = wanted ?? parseImgsz(meta.props.imgsz);
  if (!size) {
    throw new Error(`the model's input size is dynamic (${spec.name} [${spec.shape.join(',')}]); set the input size (width x height): "Input size" in the avi-model config, or --input-size WxH in the avi command`);
  }
  return size;
}
