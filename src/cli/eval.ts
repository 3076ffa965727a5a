// `avi eval`: a model against a labelled dataset, with figures a validation binder can hold.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Classifier } from '../core/inference/classifier';
import {
  alignClasses,
  singleClassAlignment,
  datasetSha256,
  readDataset,
  readLabels,
  type ClassAlignment,
  type ClassificationDataset,
  type Dataset,
  type DetectionDataset,
} from '../core/evaluation/datasets';
import { Detector } from '../core/inference/detector';
import { decodeImage } from '../core/image/image';
import { evaluateClassification, evaluateDetections, type ClassificationSample, type ImageResult } from '../core/evaluation/metrics';
import { loadModel, sha256, type Model } from '../core/model/model';
import { formatMetric, renderReport, type EvalReport } from '../core/evaluation/report';
import { colourProfile, parse, unitInterval, UsageError, type Command } from './main';

/** Ultralytics val: rank from confidence 0.001, keep up to 300 boxes, NMS at IoU 0.7. */
const RANKING_CONFIDENCE = 0.001;
const MAX_DETECTIONS = 300;
const DEFAULT_NMS_IOU = 0.7;
const DEFAULT_CONFIDENCE = 0.25;
/** Images decoded and classified together. */
const CLASSIFY_BATCH = 16;

const usage =
  'avi eval --model M.onnx --dataset DIR [--labels FILE] [--conf C] [--iou I] [--split val,test|all] [--single-class] [--colour-profile ignore|apply] [--json] [--report FILE.html]';

// main's parse() does not carry the option types through; these are the options declared below.
interface EvalArgs {
  model?: string;
  dataset?: string;
  labels?: string;
  conf?: string;
  iou?: string;
  split?: string;
  'single-class'?: boolean;
  'colour-profile'?: string;
  json?: boolean;
  report?: string;
}

export const evalCommand: Command = {
  summary: 'score a model on a labelled dataset (mAP, P/R/F1, accuracy, confusion matrix)',
  usage,
  async run(args) {
    const { values } = parse(args, {
      model: { type: 'string' },
      dataset: { type: 'string' },
      labels: { type: 'string' },
      conf: { type: 'string' },
      iou: { type: 'string' },
      split: { type: 'string' },
      'single-class': { type: 'boolean' },
      'colour-profile': { type: 'string' },
      json: { type: 'boolean' },
      report: { type: 'string' },
    }) as { values: EvalArgs };
    if (!values.model) throw new UsageError(`--model is required; usage: ${usage}`);
    if (!values.dataset) throw new UsageError(`--dataset is required; usage: ${usage}`);
    const confidence = unitInterval('--conf', values.conf, DEFAULT_CONFIDENCE);
    const nmsIou = unitInterval('--iou', values.iou, DEFAULT_NMS_IOU);
    const splits = values.split?.split(',').map((s) => s.trim()).filter(Boolean);
    if (values.report && !existsSync(path.dirname(path.resolve(values.report)))) {
      throw new Error(`--report: folder ${path.dirname(values.report)} does not exist`);
    }

    const labels = values.labels ? readLabels(values.labels) : undefined;
    const dataset = await readDataset(values.dataset, { splits, classNames: labels });
    const model = await loadModel(values.model, { classNames: labels, colourProfile: colourProfile(values['colour-profile']), warn });
    try {
      if (dataset.task !== model.task) {
        const what = { detect: 'a detector', classify: 'a classifier' };
        const layout = dataset.task === 'detect' ? `${dataset.format.toUpperCase()} boxes` : 'one folder per class';
        throw new Error(`${model.info.name} is ${what[model.task]}, but ${values.dataset} is a ${dataset.task === 'detect' ? 'detection' : 'classification'} set (${layout})`);
      }
      if (values['single-class'] && dataset.task !== 'detect') throw new UsageError('--single-class is for detectors');
      const report = dataset.task === 'detect'
        ? await evalDetector(model, dataset, confidence, nmsIou, values['single-class'] ?? false)
        : await evalClassifier(model, dataset);
      if (values.report) writeFileSync(values.report, renderReport(report));
      process.stdout.write(values.json ? `${JSON.stringify(jsonOf(report), null, 2)}\n` : textOf(report));
      return 0;
    } finally {
      await model.release();
    }
  },
};

async function evalDetector(model: Model, dataset: DetectionDataset, confidence: number, nmsIou: number, singleClass: boolean): Promise<EvalReport> {
  const detector = new Detector(model, { confidence: RANKING_CONFIDENCE, iou: nmsIou, maxDetections: MAX_DETECTIONS, warn });
  const modelNames = modelClassNames(model, detector.plan.classCount);
  const alignment = singleClass ? singleClassAlignment(dataset.classNames, modelNames) : alignClasses(dataset.classNames, modelNames, dataset.named);
  const images: ImageResult[] = [];
  const hashes = new Map<string, string>();
  for (const [index, image] of dataset.images.entries()) {
    progress(index, dataset.images.length);
    const frame = await decodeImage(image.path, { colourProfile: model.options.colourProfile });
    if (frame.encoded) hashes.set(image.path, sha256(frame.encoded));
    if (frame.width !== image.width || frame.height !== image.height) {
      throw new Error(`${image.path} is ${frame.width} x ${frame.height}, but its annotations are for ${image.width} x ${image.height}`);
    }
    const { detections } = await detector.detect(frame);
    images.push({
      truth: image.truth.map((t) => ({ ...t, classId: alignment.fromDataset[t.classId] })),
      predictions: detections.map((d) => ({ classId: singleClass ? 0 : d.classId, confidence: d.confidence, box: d.box })),
    });
  }
  progress(dataset.images.length, dataset.images.length);
  const detection = evaluateDetections(images, alignment.classNames, confidence);
  const withoutTruth = detection.perClass.filter((c) => c.truth === 0).map((c) => c.class);
  const notes = [...matchingNotes(alignment), ...dataset.notes];
  if (withoutTruth.length) notes.push(`model classes without truth boxes, left out of the means: ${withoutTruth.join(', ')}`);
  return {
    ...(await reportBase(model, dataset, detector.format, detection.counts.truth, hashes)),
    settings: [
      { name: 'conf', value: String(confidence), meaning: 'confidence at which precision, recall, F1 and the confusion matrix are read' },
      { name: 'iou', value: String(nmsIou), meaning: 'NMS IoU: of two overlapping boxes of one class, the lower-scored is dropped above this' },
      { name: 'ranking', value: `conf ${RANKING_CONFIDENCE}, up to ${MAX_DETECTIONS} boxes an image`, meaning: 'predictions ranked for AP and mAP (as Ultralytics val)' },
      { name: 'match IoU', value: '0.50 (P/R/F1, AP@50); 0.50:0.05:0.95 (AP@50:95)', meaning: 'IoU at which a prediction matches a truth box of its class' },
      colourProfileSetting(model),
    ],
    notes,
    detection,
  };
}

async function evalClassifier(model: Model, dataset: ClassificationDataset): Promise<EvalReport> {
  const classifier = new Classifier(model, {});
  const modelNames = modelClassNames(model, Number(model.outputs[0].shape[1]) || undefined);
  const alignment = alignClasses(dataset.classNames, modelNames, dataset.named);
  const samples: ClassificationSample[] = [];
  const hashes = new Map<string, string>();
  for (let start = 0; start < dataset.images.length; start += CLASSIFY_BATCH) {
    progress(start, dataset.images.length);
    const batch = dataset.images.slice(start, start + CLASSIFY_BATCH);
    const frames = await Promise.all(batch.map((image) => decodeImage(image.path, { colourProfile: model.options.colourProfile })));
    frames.forEach((frame, i) => frame.encoded && hashes.set(batch[i].path, sha256(frame.encoded)));
    const { classifications } = await classifier.classify(frames);
    classifications.forEach((c, i) => {
      // Dataset-only classes (the model cannot predict them) score 0.
      const scores = alignment.classNames.map((name, id) => (id < modelNames.length ? c.scores[name] ?? 0 : 0));
      samples.push({ truth: alignment.fromDataset[batch[i].classId], predicted: c.classId, scores });
    });
  }
  progress(dataset.images.length, dataset.images.length);
  const classification = evaluateClassification(samples, alignment.classNames);
  const withoutImages = classification.perClass.filter((c) => c.support === 0).map((c) => c.class);
  const notes = [...matchingNotes(alignment), ...dataset.notes];
  if (withoutImages.length) notes.push(`model classes without images in the dataset: ${withoutImages.join(', ')}`);
  return {
    ...(await reportBase(model, dataset, 'classifier', samples.length, hashes)),
    settings: [{ name: 'decision', value: 'top-1', meaning: 'each image is given the class with the highest score' }, colourProfileSetting(model)],
    notes,
    classification,
  };
}

/** The report's line for --colour-profile. */
function colourProfileSetting(model: Model): EvalReport['settings'][number] {
  const applied = model.options.colourProfile === 'apply';
  return { name: 'colour-profile', value: applied ? 'apply' : 'ignore', meaning: applied ? "images' embedded ICC profiles applied (converted to sRGB)" : "images' embedded ICC profiles not applied, as OpenCV and PIL decode" };
}

/** The model's class names, padded to the number of classes its outputs score. */
function modelClassNames(model: Model, classCount: number | undefined): string[] {
  const names = [...model.info.classNames];
  for (let i = names.length; i < (classCount ?? 0); i++) names.push(`class${i}`);
  if (!names.length) throw new Error(`${model.info.name} names no classes and its outputs do not say how many; give --labels`);
  return names;
}

function matchingNotes(a: ClassAlignment): string[] {
  const how = { name: 'dataset classes matched to model classes by name (case-insensitive)', id: 'dataset classes matched to model classes by id', single: 'single class: every dataset class and every model class counted as one (--single-class)' };
  const notes = [how[a.by]];
  if (a.datasetOnly.length) notes.push(`dataset classes the model does not have (they count as missed): ${a.datasetOnly.join(', ')}`);
  return notes;
}

/** `hashes`: SHA-256 of the images already read, so that the dataset digest reads only the rest. */
async function reportBase(model: Model, dataset: Dataset, format: string, objects: number, hashes: ReadonlyMap<string, string>): Promise<Omit<EvalReport, 'settings' | 'notes'>> {
  const info = model.info;
  return {
    tool: `avi eval ${packageVersion()}`,
    date: new Date().toISOString(),
    model: {
      name: info.name,
      path: info.path,
      sha256: info.sha256,
      task: model.task,
      format,
      inputWidth: info.inputWidth,
      inputHeight: info.inputHeight,
      executionProvider: info.executionProvider,
    },
    dataset: {
      path: dataset.root,
      format: dataset.format,
      splits: dataset.splits,
      images: dataset.images.length,
      objects,
      sha256: await datasetSha256(dataset, hashes),
    },
  };
}

/** What --json prints: the headline keys first, then the provenance. */
function jsonOf(r: EvalReport): Record<string, unknown> {
  const provenance = { model: r.model, dataset: r.dataset, date: r.date, tool: r.tool, settings: r.settings, notes: r.notes };
  if (r.detection) {
    const { map50, map50_95, precision, recall, f1, perClass, confidence, counts, confusion } = r.detection;
    return { task: 'detect', map50, map50_95, precision, recall, f1, perClass, confidence, counts, confusion, ...provenance };
  }
  const { accuracy, perClass, confusion } = r.classification!;
  return { task: 'classify', accuracy, perClass, confusion, ...provenance };
}

function textOf(r: EvalReport): string {
  const f = formatMetric;
  const lines = [
    `model    ${r.model.name}  (${r.model.task}, ${r.model.format}, ${r.model.inputWidth}x${r.model.inputHeight}, ${r.model.executionProvider})  sha256 ${r.model.sha256}`,
    `dataset  ${r.dataset.path}  (${r.dataset.format}, ${r.dataset.splits.join('+')}: ${r.dataset.images} images${r.detection ? `, ${r.dataset.objects} boxes` : ''})  sha256 ${r.dataset.sha256}`,
    '',
  ];
  if (r.detection) {
    const d = r.detection;
    lines.push(`conf ${d.confidence} (P/R/F1 at IoU 0.5)  ·  ${r.settings.slice(1, 3).map((s) => `${s.name} ${s.value}`).join('  ·  ')}`, '');
    const rows = d.perClass.map((c) => [c.class, c.truth, c.predictions, c.tp, c.fp, c.fn, f(c.precision), f(c.recall), f(c.f1), f(c.ap50), f(c.ap50_95)]);
    rows.push(['all', d.counts.truth, d.counts.predictions, d.counts.tp, d.counts.fp, d.counts.fn, f(d.precision), f(d.recall), f(d.f1), f(d.map50), f(d.map50_95)]);
    lines.push(table(['class', 'truth', 'pred', 'TP', 'FP', 'FN', 'P', 'R', 'F1', 'AP50', 'AP50-95'], rows));
    lines.push('', `mAP50 ${f(d.map50)}   mAP50-95 ${f(d.map50_95)}   P ${f(d.precision)}   R ${f(d.recall)}   F1 ${f(d.f1)}  (means over classes with truth)`);
  } else {
    const c = r.classification!;
    const rows = c.perClass.map((p) => [p.class, p.support, p.predicted, f(p.precision), f(p.recall), f(p.f1)]);
    lines.push(table(['class', 'images', 'pred', 'P', 'R', 'F1'], rows));
    lines.push('', `accuracy ${f(c.accuracy)}`, '', 'confusion matrix (rows truth, columns predicted):');
    lines.push(table(['', ...c.confusion.labels], c.confusion.matrix.map((row, i) => [c.confusion.labels[i], ...row])));
  }
  if (r.notes.length) lines.push('', ...r.notes.map((n) => `note: ${n}`));
  return `${lines.join('\n')}\n`;
}

function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = [head, ...rows.map((row) => row.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ').trimEnd()).join('\n');
}

function warn(text: string): void {
  process.stderr.write(`avi: warning: ${text}\n`);
}

/** "  37/120 images" on a terminal; nothing when stderr is a file or a pipe. */
function progress(done: number, total: number): void {
  if (!process.stderr.isTTY) return;
  process.stderr.write(done < total ? `\r  ${done}/${total} images` : '\r\x1b[K');
}

function packageVersion(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) return String(JSON.parse(readFileSync(file, 'utf8')).version);
  }
  return 'unknown';
}
