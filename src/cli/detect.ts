// `avi detect` and `avi classify`: check a model on images before wiring it into a flow.
import { readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { readBoundedFileSync } from '../core/files';
import { Classifier } from '../core/inference/classifier';
import { Detector } from '../core/inference/detector';
import { decodeImage, IMAGE_FORMATS, NORMALIZATIONS, type NormalizationName } from '../core/image/image';
import { loadModel, type Model } from '../core/model/model';
import { colourProfile, parse, unitInterval, UsageError, type Command } from './main';

const common = {
  model: { type: 'string' },
  labels: { type: 'string' },
  json: { type: 'boolean', default: false },
  'input-size': { type: 'string' },
  normalization: { type: 'string' },
  list: { type: 'string' },
  'colour-profile': { type: 'string' },
} as const;

/** A list file (--list) holds one image path a line; larger ones are refused. */
const MAX_LIST_BYTES = 64 * 1024 * 1024;
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.bmp']);

/**
 * The images a command runs on: each argument is an image or a folder of images (not recursive, sorted by name),
 * and --list FILE adds one path a line. So any number of images needs no long argument list.
 */
export function imagesOf(positionals: string[], list: unknown): string[] {
  const images: string[] = [];
  for (const arg of positionals) {
    let folder = false;
    try {
      folder = statSync(arg).isDirectory();
    } catch {
      // not there: decodeImage says so for this image
    }
    if (!folder) images.push(arg);
    else {
      const names = readdirSync(arg).filter((n) => IMAGE_EXTENSIONS.has(path.extname(n).toLowerCase())).sort();
      images.push(...names.map((n) => path.join(arg, n)));
    }
  }
  if (typeof list === 'string') {
    const text = readBoundedFileSync(list, { maxBytes: MAX_LIST_BYTES, what: 'list file' }).toString('utf8');
    images.push(...text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line && !line.startsWith('#')));
  }
  return images;
}


function inputSize(value: unknown): { inputWidth?: number; inputHeight?: number } {
  if (value === undefined) return {};
  const m = /^(\d+)x(\d+)$/i.exec(String(value));
  if (!m) throw new UsageError(`--input-size must be WIDTHxHEIGHT in pixels, e.g. 192x48, got "${value}"`);
  return { inputWidth: Number(m[1]), inputHeight: Number(m[2]) };
}

function normalization(value: unknown): NormalizationName | 'auto' {
  if (value === undefined) return 'auto';
  if (!(String(value) in NORMALIZATIONS)) throw new UsageError(`--normalization must be one of ${Object.keys(NORMALIZATIONS).join(', ')}`);
  return value as NormalizationName;
}

async function withModel<T>(values: Record<string, unknown>, images: string[], usage: string, body: (model: Model) => Promise<T>): Promise<T> {
  if (typeof values.model !== 'string') throw new UsageError(`--model is required; usage: ${usage}`);
  if (images.length === 0) throw new UsageError(`no image given (images, folders of ${IMAGE_FORMATS.join('/')} images, or --list FILE); usage: ${usage}`);
  const model = await loadModel(values.model, {
    labels: typeof values.labels === 'string' ? values.labels : undefined,
    ...inputSize(values['input-size']),
    normalization: normalization(values.normalization),
    colourProfile: colourProfile(values['colour-profile']),
    warn: (text) => process.stderr.write(`avi: warning: ${text}\n`),
  });
  try {
    return await body(model);
  } finally {
    await model.release();
  }
}

const DETECT_USAGE =
  'avi detect --model M.onnx [--labels FILE] [--conf 0.25] [--iou 0.45] [--input-size WxH] [--normalization unit|imagenet|symmetric|raw] [--colour-profile ignore|apply] [--json] [--list FILE] IMAGE|FOLDER...';

export const detectCommand: Command = {
  summary: 'run a detector on images and print the boxes',
  usage: DETECT_USAGE,
  async run(args) {
    const { values, positionals } = parse(args, { ...common, conf: { type: 'string' }, iou: { type: 'string' } });
    const confidence = unitInterval('--conf', values.conf, 0.25);
    const iou = unitInterval('--iou', values.iou, 0.45);
    const images = imagesOf(positionals, values.list);
    return withModel(values, images, DETECT_USAGE, async (model) => {
      const detector = new Detector(model, {
        confidence,
        iou,
        warn: (text) => process.stderr.write(`avi: warning: ${text}\n`),
      });
      const results = [];
      for (const image of images) {
        const frame = await decodeImage(image, { colourProfile: model.options.colourProfile });
        const { detections } = await detector.detect(frame);
        results.push({
          image,
          width: frame.width,
          height: frame.height,
          detections: detections.map(({ class: cls, classId, confidence, box }) => ({ class: cls, classId, confidence, box })),
        });
      }
      if (values.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      else {
        process.stdout.write(`${model.info.name} (${detector.format}, ${model.info.inputWidth}x${model.info.inputHeight}, sha256 ${model.info.sha256.slice(0, 12)}…)\n`);
        for (const r of results) {
          process.stdout.write(`${r.image} ${r.width}x${r.height}: ${r.detections.length} detections\n`);
          for (const d of r.detections) {
            const b = d.box;
            process.stdout.write(`  ${d.class.padEnd(16)} ${d.confidence.toFixed(2)}  x ${b.x} y ${b.y} w ${b.width} h ${b.height}\n`);
          }
        }
      }
      return 0;
    });
  },
};

const CLASSIFY_USAGE =
  'avi classify --model M.onnx [--labels FILE] [--input-size WxH] [--normalization unit|imagenet|symmetric|raw] [--colour-profile ignore|apply] [--json] [--list FILE] IMAGE|FOLDER...';

export const classifyCommand: Command = {
  summary: 'run a classifier on whole images and print the classes',
  usage: CLASSIFY_USAGE,
  async run(args) {
    const { values, positionals } = parse(args, common);
    const images = imagesOf(positionals, values.list);
    return withModel(values, images, CLASSIFY_USAGE, async (model) => {
      const classifier = new Classifier(model);
      const results = [];
      for (const image of images) {
        const frame = await decodeImage(image, { colourProfile: model.options.colourProfile });
        const [c] = (await classifier.classify([frame])).classifications;
        results.push({ image, width: frame.width, height: frame.height, class: c.class, confidence: c.confidence, scores: c.scores });
      }
      if (values.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      else for (const r of results) process.stdout.write(`${r.image}: ${r.class} ${r.confidence.toFixed(2)}\n`);
      return 0;
    });
  },
};
