// One inference worker: holds onnxruntime sessions and does a frame's pixel work and model runs, so that
// Node-RED's thread never waits on them. Started by engine.ts; everything arrives and leaves by message.
import * as os from 'node:os';
import { parentPort } from 'node:worker_threads';
import { Classifier } from '../inference/classifier';
import { Detector, type DetectorOptions } from '../inference/detector';
import { annotate, encodeAnnotated } from '../drawing/draw';
import { cutCrops } from '../image/crop';
import { decodeImage, type ColourProfile, type RgbImage } from '../image/image';
import { loadModel, whenNoNativeCalls, type Model } from '../model/model';
import { asBuffer, sharedBlock, sharedCopy } from './frame';
import type { DecodedFrame, FromWorker, FrameSource, JobRequest, JobResult, PixelsRef, ToWorker } from './protocol';

const port = parentPort;
if (!port) throw new Error('engine/worker.js runs only as a worker thread');

/**
 * Workers run below Node-RED's thread, which then takes a core back as soon as it wakes (a PLC handshake, an
 * MQTT keep-alive) instead of waiting out a worker's time slice: flat out on 2 cores, event-loop lag p99 went from
 * 5.0 to 3.4 ms and frames/s did not move (npm run bench). Only on Linux, where a priority set with pid 0 is this
 * thread's alone (onnxruntime's threads that it starts inherit it); elsewhere it would slow Node-RED down too.
 */
const NICENESS_BELOW_NODE_RED = 5;
if (process.platform === 'linux') {
  try {
    os.setPriority(Math.min(19, os.getPriority() + NICENESS_BELOW_NODE_RED));
  } catch {
    // not permitted here: same priority as Node-RED
  }
}

interface Loaded {
  model: Model;
  detectors: Map<string, { detector: Detector; warnings: string[] }>;
}
const models = new Map<string, Promise<Loaded>>();

const now = () => performance.timeOrigin + performance.now();
const post = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

async function load(key: string, file: string, bytes: Uint8Array, options: Parameters<typeof loadModel>[1]): Promise<void> {
  const warnings: string[] = [];
  // onnxruntime takes no shared memory: a private copy, made here rather than on Node-RED's thread.
  const loading = loadModel(file, { ...options, warn: (text) => warnings.push(text) }, Buffer.from(bytes)).then((model) => ({ model, detectors: new Map() }));
  models.set(key, loading);
  try {
    const { model } = await loading;
    post({ type: 'loaded', key, ok: true, model: { info: model.info, task: model.task, dynamicBatch: model.image.dynamicBatch }, warnings });
  } catch (err) {
    if (models.get(key) === loading) models.delete(key);
    post({ type: 'loaded', key, ok: false, error: messageOf(err) });
  }
}

async function unload(key: string): Promise<void> {
  const loading = models.get(key);
  models.delete(key);
  // Model.release waits for runs in flight, so a frame already here finishes on the model it started with.
  if (loading) await loading.then((m) => m.model.release()).catch(() => undefined);
}

async function modelOf(key: string | undefined): Promise<Loaded> {
  const loaded = key ? models.get(key) : undefined;
  if (!loaded) throw new Error('the model is not loaded in this worker (released or reloaded); send the frame again');
  return loaded;
}

function detectorOf(loaded: Loaded, options: Omit<DetectorOptions, 'warn'>): { detector: Detector; warnings: string[] } {
  const id = JSON.stringify(options);
  let entry = loaded.detectors.get(id);
  if (!entry) {
    const warnings: string[] = [];
    entry = { detector: new Detector(loaded.model, { ...options, warn: (text) => warnings.push(text) }), warnings };
    loaded.detectors.set(id, entry);
  }
  return entry;
}

/** The frame a job works on; a frame decoded here goes back in shared memory so no later step decodes it again. */
async function frameOf(id: number, source: FrameSource, maxPixels: number | undefined, colourProfile?: ColourProfile): Promise<{ frame: RgbImage; decoded?: DecodedFrame }> {
  if ('frame' in source) return { frame: { width: source.frame.width, height: source.frame.height, data: asBuffer(source.frame.data) } };
  const input = 'path' in source ? source.path : asBuffer(source.encoded);
  // The engine times the decode between these two and stops this worker when it runs over its budget.
  post({ type: 'decoding', id });
  let image;
  try {
    image = await decodeImage(input, { maxPixels, colourProfile });
  } finally {
    post({ type: 'decoded', id });
  }
  const data = sharedCopy(image.data);
  const decoded: DecodedFrame = { width: image.width, height: image.height, data, format: image.format };
  if ('path' in source && image.encoded) decoded.encoded = sharedCopy(image.encoded);
  return { frame: { width: image.width, height: image.height, data }, decoded };
}

async function run(id: number, key: string | undefined, request: JobRequest, startedAt: number): Promise<JobResult> {
  const t0 = performance.now();
  const timings = { startedAt, preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 };
  switch (request.op) {
    case 'decode': {
      const { decoded } = await frameOf(id, request.source, request.maxPixels);
      timings.preprocessMs = performance.now() - t0;
      return { frame: decoded, timings };
    }
    case 'crop': {
      const { frame, decoded } = await frameOf(id, request.source, request.maxPixels);
      // One block of shared memory for every crop of the frame.
      const cut = cutCrops(frame, request.detections, request.crop, (bytes) => new Uint8Array(sharedBlock(bytes)));
      timings.preprocessMs = performance.now() - t0;
      return { frame: decoded, crops: cut.map(({ data: _data, ...crop }) => crop), cropPixels: cut.map((crop) => crop.data), timings };
    }
    case 'annotate': {
      const { frame, decoded } = await frameOf(id, request.source, request.maxPixels);
      const t1 = performance.now();
      // Drawn straight into shared memory: Node-RED's thread gets it without a copy.
      const raw = annotate(frame, request.detections, request.verdict, request.draw, Buffer.from(sharedBlock(frame.data.length)));
      const encoded = await encodeAnnotated(raw, frame.width, frame.height, request.format, request.quality);
      return { frame: decoded, annotated: raw, encoded, timings: { ...timings, preprocessMs: t1 - t0, postprocessMs: performance.now() - t1 } };
    }
    case 'describe': {
      const { detector } = detectorOf(await modelOf(key), request.detector);
      return { format: detector.format, model: provenanceOf(detector.model), timings };
    }
    case 'detect': {
      const loaded = await modelOf(key);
      const { detector, warnings } = detectorOf(loaded, request.detector);
      // A frame is decoded as the model's training pipeline decoded it (avi-model's colour profile setting).
      const { frame, decoded } = await frameOf(id, request.source, request.maxPixels, loaded.model.options.colourProfile);
      const decodeMs = performance.now() - t0;
      const result = await detector.detect(frame);
      return {
        frame: decoded,
        detections: result.detections,
        format: result.format,
        model: provenanceOf(loaded.model),
        timings: { ...timings, ...result.timings, preprocessMs: decodeMs + result.timings.preprocessMs },
        warnings: warnings.splice(0),
      };
    }
    case 'classify': {
      const loaded = await modelOf(key);
      const classifier = new Classifier(loaded.model, request.classifier);
      let images: RgbImage[];
      let decoded: DecodedFrame | undefined;
      if (Array.isArray(request.images)) {
        images = request.images.map((p: PixelsRef) => ({ width: p.width, height: p.height, data: asBuffer(p.data) }));
      } else {
        const got = await frameOf(id, request.images, request.maxPixels, loaded.model.options.colourProfile);
        images = [got.frame];
        decoded = got.decoded;
      }
      const decodeMs = performance.now() - t0;
      const result = await classifier.classify(images);
      return {
        frame: decoded,
        classifications: result.classifications,
        runs: result.runs,
        model: provenanceOf(loaded.model),
        timings: { ...timings, preprocessMs: decodeMs + result.preprocessMs, inferenceMs: result.inferenceMs, postprocessMs: result.postprocessMs },
      };
    }
  }
}

/** A result buffer that is this job's alone can move to Node-RED's thread instead of being copied. */
function transferable(bytes: Uint8Array | undefined): ArrayBuffer[] {
  if (!bytes || !(bytes.buffer instanceof ArrayBuffer) || bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength) return [];
  return [bytes.buffer];
}

function provenanceOf(model: Model): JobResult['model'] {
  const { classNames: _names, ...info } = model.info;
  return info;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'load':
      void load(message.key, message.file, message.bytes, message.options);
      break;
    case 'unload':
      void unload(message.key);
      break;
    case 'exit':
      void whenNoNativeCalls().then(() => process.exit(0));
      break;
    case 'job': {
      const startedAt = now();
      const { id, key, request, delayMs } = message;
      // delayMs: a test hook that holds a job, to make frames finish out of order or die with their worker.
      const start = delayMs ? new Promise((resolve) => setTimeout(resolve, delayMs)) : Promise.resolve();
      start
        .then(() => run(id, key, request, startedAt))
        .then(
          (result) => post({ type: 'result', id, ok: true, result }, transferable(result.encoded)),
          (err) => post({ type: 'result', id, ok: false, error: messageOf(err) }),
        );
      break;
    }
  }
});
