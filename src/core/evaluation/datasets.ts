// Readers for labelled image sets in the layouts users already have: YOLO (data.yaml, or bare
// images/ + labels/), COCO JSON (Roboflow's _annotations.coco.json per split), and one folder per
// class for classifiers. They read files only; no model is involved.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readBoundedFileSync } from '../files';
import { imageSize } from '../image/image';
import type { TruthBox } from './metrics';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff'];

export interface DetectionImage {
  path: string;
  split: string;
  /** Size after EXIF orientation, the frame a detector sees. */
  width: number;
  height: number;
  truth: TruthBox[];
}

export interface ClassificationImage {
  path: string;
  split: string;
  classId: number;
}

interface DatasetBase {
  /** What was given, resolved. */
  root: string;
  /** The splits read, by the names the dataset uses. */
  splits: string[];
  /** Class names by dataset class id; generic "class<N>" where the dataset names none. */
  classNames: string[];
  /** Whether classNames came from the dataset (or --labels) rather than being generic. */
  named: boolean;
  /** Every file read (annotations and images), for the dataset digest. */
  files: string[];
  /** Things a user should know about how the set was read. */
  notes: string[];
}

export interface DetectionDataset extends DatasetBase {
  task: 'detect';
  format: 'yolo' | 'coco';
  images: DetectionImage[];
}

export interface ClassificationDataset extends DatasetBase {
  task: 'classify';
  format: 'folders';
  images: ClassificationImage[];
}

export type Dataset = DetectionDataset | ClassificationDataset;

export interface ReadDatasetOptions {
  /** Splits to read (e.g. ["val"], ["train", "valid"], ["all"]); default: val/valid and test where present, else all. */
  splits?: string[];
  /** Class names for a layout that names none (bare YOLO folders). */
  classNames?: string[];
}

const VAL_NAMES = ['val', 'valid', 'validation'];
const DEFAULT_SPLITS = [...VAL_NAMES, 'test'];

/** Reads a dataset from a folder, a data.yaml or a COCO JSON file, deciding the layout from what is there. */
export async function readDataset(location: string, options: ReadDatasetOptions = {}): Promise<Dataset> {
  const root = path.resolve(location);
  if (!existsSync(root)) throw new Error(`dataset not found: ${location}`);
  if (statSync(root).isFile()) {
    if (/\.ya?ml$/i.test(root)) return readYoloYaml(root, options);
    if (/\.json$/i.test(root)) return readCoco(root, [{ split: splitNameOf(root), file: root }], options);
    throw new Error(`dataset ${location}: expected a folder, a data.yaml or a COCO .json file`);
  }
  for (const name of ['data.yaml', 'data.yml']) {
    if (existsSync(path.join(root, name))) return readYoloYaml(path.join(root, name), options);
  }
  const coco = findCocoFiles(root);
  if (coco.length) return readCoco(root, pickSplits(coco, options.splits, location), options);
  const yolo = findYoloFolders(root);
  if (yolo.length) return readYoloFolders(root, pickSplits(yolo, options.splits, location), options);
  const folders = findClassFolders(root);
  if (folders.length) return readClassFolders(root, folders, options);
  throw new Error(
    `dataset ${location}: no data.yaml, _annotations.coco.json, images/ + labels/ folders, or one folder of images per class found`,
  );
}

/**
 * Class names from a labels file: a data.yaml or any YAML with a top-level `names` (a list or an {id: name} map), a COCO JSON
 * (its categories), a JSON list or map, or plain text with one name a line.
 */
/** A labels file larger than this is refused (COCO annotation files of large sets are tens of MB). */
export const MAX_LABELS_BYTES = 64 * 1024 * 1024;

export function readLabels(file: string): string[] {
  const text = readBoundedFileSync(file, { maxBytes: MAX_LABELS_BYTES, what: 'labels file' }).toString('utf8');
  // A data.yaml under another name (data.yaml.upstream, a copy) is still YAML: it says `names:` at the top level.
  if (/\.ya?ml$/i.test(file) || /^names\s*:/m.test(text)) {
    const names = namesFrom((parseYamlFile(text, file) as Record<string, unknown> | null)?.names, file);
    if (!names) throw new Error(`labels file ${file}: no "names" list or map`);
    return names;
  }
  if (/\.json$/i.test(file)) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new Error(`labels file ${file}: ${(err as Error).message}`);
    }
    if (json && typeof json === 'object' && Array.isArray((json as CocoFile).categories)) {
      return cocoClasses([json as CocoFile]).names;
    }
    const names = namesFrom(json, file);
    if (!names) throw new Error(`labels file ${file}: expected COCO categories, a list of names or an {id: name} map`);
    return names;
  }
  const names = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  if (!names.length) throw new Error(`labels file ${file} is empty`);
  return names;
}

/** A name that says nothing about the class: "3", "class3", "class_3". */
export function isGenericName(name: string): boolean {
  return /^(class[_ -]?)?\d+$/i.test(name.trim());
}

export function genericNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `class${i}`);
}

export interface ClassAlignment {
  /** Classes evaluated: the model's, then any dataset class the model does not have. */
  classNames: string[];
  /** Evaluated class id of each dataset class id. */
  fromDataset: number[];
  /** How dataset classes were matched to the model's; single: all of them are one class. */
  by: 'name' | 'id' | 'single';
  /** Dataset classes the model cannot predict (they score 0 AP / recall). */
  datasetOnly: string[];
}

/**
 * Matches dataset classes to model classes: by name (case-insensitive) when both have real names,
 * else by id. Model classes come first and keep their ids, so predictions need no mapping.
 */
export function alignClasses(datasetNames: string[], modelNames: string[], datasetNamed = true): ClassAlignment {
  const classNames = [...modelNames];
  const datasetOnly: string[] = [];
  const modelNamed = modelNames.some((n) => !isGenericName(n));
  const byName = datasetNamed && modelNamed && datasetNames.some((n) => !isGenericName(n));
  const key = (name: string) => name.trim().toLowerCase();
  const modelIndex = new Map(modelNames.map((n, i) => [key(n), i] as [string, number]).reverse());
  if (byName && !datasetNames.some((n) => modelIndex.has(key(n)))) {
    throw new Error(
      `none of the dataset's classes (${datasetNames.join(', ')}) is a class of the model (${modelNames.join(', ')}); ` +
        'check the pair, or name the model classes with --labels',
    );
  }
  const fromDataset = datasetNames.map((name, id) => {
    const found = byName ? modelIndex.get(key(name)) : id < modelNames.length ? id : undefined;
    if (found !== undefined) return found;
    datasetOnly.push(name);
    classNames.push(name);
    return classNames.length - 1;
  });
  return { classNames, fromDataset, by: byName ? 'name' : 'id', datasetOnly };
}

/**
 * Ultralytics' single_cls: every dataset class and every model class count as one, so that a unit
 * detector can be scored on a set that labels kinds of unit (capsules, tablets).
 */
export function singleClassAlignment(datasetNames: string[], modelNames: string[]): ClassAlignment {
  return { classNames: [modelNames.length === 1 ? modelNames[0] : 'object'], fromDataset: datasetNames.map(() => 0), by: 'single', datasetOnly: [] };
}

/**
 * SHA-256 of the dataset as read: of the text "<sha256 of file>  <path relative to root>\n" for every
 * file read, sorted by path, so that `sha256sum` over the same files, sorted, gives the same digest.
 * `known` holds digests already taken (of images read for evaluation), so those files are not read again.
 */
export async function datasetSha256(dataset: Dataset, known: ReadonlyMap<string, string> = new Map()): Promise<string> {
  const base = statSync(dataset.root).isFile() ? path.dirname(dataset.root) : dataset.root;
  const rows = [...new Set(dataset.files)].map((file) => ({
    file,
    rel: path.relative(base, file).split(path.sep).join('/'),
  }));
  rows.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  const manifest = createHash('sha256');
  for (const row of rows) manifest.update(`${known.get(row.file) ?? (await fileSha256(row.file))}  ${row.rel}\n`);
  return manifest.digest('hex');
}

export function fileSha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

// ---------------------------------------------------------------- splits

interface SplitSource {
  split: string;
}

function canonicalSplit(name: string): string {
  const lower = name.toLowerCase();
  return VAL_NAMES.includes(lower) ? 'val' : lower;
}

/** The splits asked for (val, valid and validation are one), or by default val + test where present, else all. */
function pickSplits<T extends SplitSource>(available: T[], wanted: string[] | undefined, location: string): T[] {
  if (wanted && wanted.length && !wanted.includes('all')) {
    const want = new Set(wanted.map(canonicalSplit));
    const chosen = available.filter((s) => want.has(canonicalSplit(s.split)));
    const missing = [...want].filter((w) => !available.some((s) => canonicalSplit(s.split) === w));
    if (missing.length) {
      throw new Error(
        `dataset ${location} has no split ${missing.join(', ')}; it has: ${available.map((s) => s.split).join(', ')}`,
      );
    }
    return chosen;
  }
  if (wanted?.includes('all')) return available;
  const preferred = available.filter((s) => DEFAULT_SPLITS.includes(s.split.toLowerCase()));
  return preferred.length ? preferred : available;
}

function splitNameOf(file: string): string {
  return path.basename(path.dirname(file));
}

// ---------------------------------------------------------------- YOLO

interface YoloSplit extends SplitSource {
  /** Image folders or list files, resolved. */
  sources: string[];
}

async function readYoloYaml(yamlFile: string, options: ReadDatasetOptions): Promise<DetectionDataset> {
  const data = parseYamlFile(readFileSync(yamlFile, 'utf8'), yamlFile) as Record<string, unknown> | null;
  if (!data || typeof data !== 'object') throw new Error(`${yamlFile}: not a YOLO data.yaml`);
  const names = namesFrom(data.names, yamlFile);
  const yamlDir = path.dirname(yamlFile);
  // Ultralytics: `path` is the dataset root (relative to the yaml here); missing, the yaml's folder.
  let base = yamlDir;
  if (typeof data.path === 'string' && data.path) {
    const candidate = path.resolve(yamlDir, data.path);
    if (existsSync(candidate)) base = candidate;
  }
  const splits: YoloSplit[] = [];
  for (const key of ['train', 'val', 'test', 'minival']) {
    const value = data[key];
    if (value === undefined || value === null || value === '') continue;
    const entries = (Array.isArray(value) ? value : [value]).map(String);
    splits.push({ split: key, sources: entries.map((entry) => resolveYoloEntry(base, yamlDir, entry)) });
  }
  if (!splits.length) throw new Error(`${yamlFile}: no train, val or test entry`);
  const chosen = pickSplits(splits, options.splits, yamlFile);
  const dataset = await readYoloSplits(yamlFile, chosen, names ?? options.classNames, names ? 'data.yaml' : '--labels');
  dataset.files.push(yamlFile);
  return dataset;
}

/** A split entry resolved as Ultralytics does, including Roboflow's "../train/images" written relative to the root. */
function resolveYoloEntry(base: string, yamlDir: string, entry: string): string {
  const candidates = [path.resolve(base, entry)];
  if (entry.startsWith('../')) candidates.push(path.resolve(base, entry.slice(3)));
  candidates.push(path.resolve(yamlDir, entry));
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`data.yaml entry "${entry}" not found (looked at ${candidates.join(', ')})`);
  return found;
}

/** Bare layouts without a yaml: DIR/images[/split] + DIR/labels[/split], or DIR/<split>/images + labels. */
function findYoloFolders(root: string): YoloSplit[] {
  const found: YoloSplit[] = [];
  const images = path.join(root, 'images');
  if (isDir(images) && isDir(path.join(root, 'labels'))) {
    if (listImages(images).length) found.push({ split: path.basename(root), sources: [images] });
    for (const sub of subfolders(images)) {
      if (listImages(sub).length) found.push({ split: path.basename(sub), sources: [sub] });
    }
  }
  for (const sub of subfolders(root)) {
    const subImages = path.join(sub, 'images');
    if (isDir(subImages) && isDir(path.join(sub, 'labels')) && listImages(subImages).length) {
      found.push({ split: path.basename(sub), sources: [subImages] });
    }
  }
  // DIR itself is an images folder whose labels sit where Ultralytics looks for them.
  if (!found.length && listImages(root).length && isDir(labelsPathOf(path.join(root, 'x.jpg'), true))) {
    found.push({ split: path.basename(root), sources: [root] });
  }
  return found;
}

async function readYoloFolders(root: string, splits: YoloSplit[], options: ReadDatasetOptions): Promise<DetectionDataset> {
  const classesTxt = [path.join(root, 'classes.txt'), path.join(root, 'labels', 'classes.txt')].find((f) => existsSync(f));
  if (classesTxt) {
    const dataset = await readYoloSplits(root, splits, readLabels(classesTxt), path.basename(classesTxt));
    dataset.files.push(classesTxt);
    return dataset;
  }
  return readYoloSplits(root, splits, options.classNames, '--labels');
}

async function readYoloSplits(
  root: string,
  splits: YoloSplit[],
  names: string[] | undefined,
  namesFromWhere: string,
): Promise<DetectionDataset> {
  const images: DetectionImage[] = [];
  const files: string[] = [];
  const seen = new Set<string>();
  let maxClass = -1;
  let unlabelled = 0;
  for (const split of splits) {
    for (const source of split.sources) {
      for (const imagePath of imagesOfSource(source)) {
        if (seen.has(imagePath)) continue;
        seen.add(imagePath);
        const { width, height } = await imageSize(imagePath);
        const labelFile = labelsPathOf(imagePath);
        const truth: TruthBox[] = [];
        if (existsSync(labelFile)) {
          files.push(labelFile);
          for (const box of parseYoloLabels(readFileSync(labelFile, 'utf8'), labelFile, width, height)) {
            maxClass = Math.max(maxClass, box.classId);
            truth.push(box);
          }
        } else {
          unlabelled++;
        }
        files.push(imagePath);
        images.push({ path: imagePath, split: split.split, width, height, truth });
      }
    }
  }
  if (!images.length) throw new Error(`dataset ${root}: no images in ${splits.map((s) => s.split).join(', ')}`);
  const notes: string[] = [];
  if (unlabelled) notes.push(`${unlabelled} image(s) without a label file, read as having no objects`);
  let classNames = names;
  if (!classNames) {
    classNames = genericNames(maxClass + 1);
    notes.push('the dataset names no classes (no data.yaml, classes.txt or --labels)');
  } else {
    notes.push(`class names from ${namesFromWhere}`);
    if (maxClass >= classNames.length) {
      throw new Error(`dataset ${root}: class id ${maxClass} in the labels, but only ${classNames.length} class names`);
    }
  }
  return {
    task: 'detect',
    format: 'yolo',
    root,
    splits: splits.map((s) => s.split),
    classNames,
    named: Boolean(names),
    images,
    files,
    notes,
  };
}

/** Ultralytics' rule: the last "/images/" in the path becomes "/labels/", and the extension ".txt". */
function labelsPathOf(imagePath: string, folderOnly = false): string {
  const sa = `${path.sep}images${path.sep}`;
  const at = imagePath.lastIndexOf(sa);
  const swapped = at < 0 ? imagePath : `${imagePath.slice(0, at)}${path.sep}labels${path.sep}${imagePath.slice(at + sa.length)}`;
  if (folderOnly) return path.dirname(swapped);
  const dot = swapped.lastIndexOf('.');
  return `${dot > swapped.lastIndexOf(path.sep) ? swapped.slice(0, dot) : swapped}.txt`;
}

/** Images of a split entry: a folder (searched recursively, as Ultralytics does) or a .txt list of image paths. */
function imagesOfSource(source: string): string[] {
  if (isDir(source)) return listImages(source, true);
  const dir = path.dirname(source);
  return readFileSync(source, 'utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && IMAGE_EXTENSIONS.includes(path.extname(line).toLowerCase()))
    .map((line) => path.resolve(dir, line));
}

/** `class cx cy w h` normalised, or `class x1 y1 x2 y2 ...` (a polygon, boxed as Ultralytics does). */
export function parseYoloLabels(text: string, file: string, width: number, height: number): TruthBox[] {
  const boxes: TruthBox[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (!line) return;
    const values = line.split(/\s+/).map(Number);
    const where = `${file}:${index + 1}`;
    const classId = values[0];
    const coords = values.slice(1);
    const polygon = coords.length > 4;
    if (!Number.isInteger(classId) || classId < 0 || coords.some((v) => !Number.isFinite(v)) || coords.length < 4 || (polygon && coords.length % 2)) {
      throw new Error(`${where}: expected "class cx cy w h" (normalised) or "class x1 y1 x2 y2 ...", got "${line}"`);
    }
    if (coords.some((v) => v < -0.01 || v > 1.01)) throw new Error(`${where}: coordinates must be normalised to 0..1, got "${line}"`);
    let [cx, cy, w, h] = coords;
    if (polygon) {
      const xs = coords.filter((_, i) => i % 2 === 0);
      const ys = coords.filter((_, i) => i % 2 === 1);
      [w, h] = [Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)];
      [cx, cy] = [Math.min(...xs) + w / 2, Math.min(...ys) + h / 2];
    }
    boxes.push({ classId, box: { x: (cx - w / 2) * width, y: (cy - h / 2) * height, width: w * width, height: h * height } });
  });
  return boxes;
}

// ---------------------------------------------------------------- COCO

interface CocoFile {
  categories?: Array<{ id: number; name: string; supercategory?: string }>;
  images?: Array<{ id: number | string; file_name: string; width?: number; height?: number }>;
  annotations?: Array<{ image_id: number | string; category_id: number; bbox: number[]; iscrowd?: number }>;
}

interface CocoSplit extends SplitSource {
  file: string;
}

/** Roboflow's name for a split's COCO file. */
export const COCO_FILE = '_annotations.coco.json';

/** Roboflow's export: DIR/_annotations.coco.json, or one per split folder (train/valid/test). */
function findCocoFiles(root: string): CocoSplit[] {
  if (existsSync(path.join(root, COCO_FILE))) return [{ split: path.basename(root), file: path.join(root, COCO_FILE) }];
  return subfolders(root)
    .filter((sub) => existsSync(path.join(sub, COCO_FILE)))
    .map((sub) => ({ split: path.basename(sub), file: path.join(sub, COCO_FILE) }));
}

function readCocoFile(file: string): CocoFile {
  let json: CocoFile;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  if (!Array.isArray(json.categories) || !Array.isArray(json.images) || !Array.isArray(json.annotations)) {
    throw new Error(`${file}: not COCO detection JSON (needs categories, images and annotations)`);
  }
  return json;
}

/**
 * Classes of COCO files: categories by id, without a Roboflow-style supercategory (a category other
 * categories name as their supercategory, that has no annotations). Dataset class ids are positions
 * in that list, so COCO's 1..90 ids become the usual 0..79.
 */
function cocoClasses(files: CocoFile[]): { names: string[]; index: Map<number, number>; dropped: string[] } {
  const byId = new Map<number, string>();
  for (const file of files) {
    for (const c of file.categories ?? []) {
      const known = byId.get(c.id);
      if (known !== undefined && known !== c.name) throw new Error(`COCO category ${c.id} is "${known}" in one split and "${c.name}" in another`);
      byId.set(c.id, c.name);
    }
  }
  const used = new Set(files.flatMap((f) => (f.annotations ?? []).map((a) => a.category_id)));
  const supers = new Set(files.flatMap((f) => (f.categories ?? []).filter((c) => c.name !== c.supercategory).map((c) => c.supercategory)));
  const dropped: string[] = [];
  const kept = [...byId.entries()]
    .sort((a, b) => a[0] - b[0])
    .filter(([id, name]) => {
      if (used.has(id) || !supers.has(name)) return true;
      dropped.push(name);
      return false;
    });
  return { names: kept.map(([, name]) => name), index: new Map(kept.map(([id], i) => [id, i])), dropped };
}

async function readCoco(root: string, splits: CocoSplit[], options: ReadDatasetOptions): Promise<DetectionDataset> {
  const parsed = splits.map((s) => ({ ...s, json: readCocoFile(s.file) }));
  const classes = cocoClasses(parsed.map((p) => p.json));
  const images: DetectionImage[] = [];
  const files: string[] = [];
  let crowd = 0;
  for (const { split, file, json } of parsed) {
    files.push(file);
    const dir = path.dirname(file);
    const byImage = new Map<number | string, TruthBox[]>();
    for (const a of json.annotations ?? []) {
      const classId = classes.index.get(a.category_id);
      if (classId === undefined) throw new Error(`${file}: annotation with unknown category_id ${a.category_id}`);
      if (!Array.isArray(a.bbox) || a.bbox.length !== 4 || a.bbox.some((v) => !Number.isFinite(v))) {
        throw new Error(`${file}: annotation on image ${a.image_id} has no [x, y, width, height] bbox`);
      }
      const [x, y, width, height] = a.bbox;
      const box: TruthBox = { classId, box: { x, y, width, height } };
      if (a.iscrowd) {
        box.crowd = true;
        crowd++;
      }
      const boxes = byImage.get(a.image_id);
      if (boxes) boxes.push(box);
      else byImage.set(a.image_id, [box]);
    }
    for (const image of json.images ?? []) {
      const candidates = [path.resolve(dir, image.file_name), path.resolve(dir, 'images', image.file_name)];
      const imagePath = candidates.find((c) => existsSync(c));
      if (!imagePath) throw new Error(`${file}: image "${image.file_name}" not found beside it or in images/`);
      const size = image.width && image.height ? { width: image.width, height: image.height } : await imageSize(imagePath);
      files.push(imagePath);
      images.push({ path: imagePath, split, width: size.width, height: size.height, truth: byImage.get(image.id) ?? [] });
    }
  }
  if (!images.length) throw new Error(`dataset ${root}: no images in ${splits.map((s) => s.split).join(', ')}`);
  const notes = [`class names from COCO categories`];
  if (classes.dropped.length) notes.push(`supercategory without annotations left out: ${classes.dropped.join(', ')}`);
  if (crowd) notes.push(`${crowd} crowd box(es) (iscrowd) neither found nor missed, as in COCO`);
  return {
    task: 'detect',
    format: 'coco',
    root,
    splits: splits.map((s) => s.split),
    classNames: classes.names,
    named: true,
    images,
    files,
    notes,
  };
}

// ---------------------------------------------------------------- class folders

interface FolderSplit extends SplitSource {
  dir: string;
}

/** DIR/<class>/*.jpg (one split named after DIR), or DIR/<split>/<class>/*.jpg with split folders. */
function findClassFolders(root: string): FolderSplit[] {
  const subs = subfolders(root);
  const splitDirs = subs.filter((s) => ['train', ...DEFAULT_SPLITS].includes(path.basename(s).toLowerCase()));
  if (splitDirs.length && splitDirs.every((s) => subfolders(s).some((c) => listImages(c).length))) {
    return splitDirs.map((dir) => ({ split: path.basename(dir), dir }));
  }
  if (subs.some((s) => listImages(s).length)) return [{ split: path.basename(root), dir: root }];
  return [];
}

function readClassFolders(root: string, available: FolderSplit[], options: ReadDatasetOptions): ClassificationDataset {
  // Class ids are the sorted folder names over every split, as torchvision's ImageFolder numbers them.
  const classNames = [...new Set(available.flatMap((s) => subfolders(s.dir).map((d) => path.basename(d))))].sort();
  const chosen = pickSplits(available, options.splits, root);
  const images: ClassificationImage[] = [];
  for (const split of chosen) {
    for (const dir of subfolders(split.dir)) {
      const classId = classNames.indexOf(path.basename(dir));
      for (const file of listImages(dir)) images.push({ path: file, split: split.split, classId });
    }
  }
  if (!images.length) throw new Error(`dataset ${root}: no images in ${chosen.map((s) => s.split).join(', ')}`);
  return {
    task: 'classify',
    format: 'folders',
    root,
    splits: chosen.map((s) => s.split),
    classNames,
    named: true,
    images,
    files: images.map((i) => i.path),
    notes: ['class names from folder names, sorted'],
  };
}

// ---------------------------------------------------------------- helpers

function namesFrom(value: unknown, where: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => [Number(k), String(v)] as const);
    if (entries.some(([k]) => !Number.isInteger(k) || k < 0)) throw new Error(`${where}: names map keys must be class ids 0, 1, ...`);
    const names = genericNames(Math.max(...entries.map(([k]) => k)) + 1);
    for (const [k, v] of entries) names[k] = v;
    return names;
  }
  throw new Error(`${where}: names must be a list or an {id: name} map`);
}

function parseYamlFile(text: string, file: string): unknown {
  try {
    return parseYaml(text);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message.split('\n')[0]}`);
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function subfolders(dir: string): string[] {
  if (!isDir(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => path.join(dir, e.name))
    .sort();
}

function listImages(dir: string, recursive = false): string[] {
  if (!isDir(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const full = path.join(dir, e.name);
    if (e.isFile() && IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase())) out.push(full);
    else if (recursive && e.isDirectory()) out.push(...listImages(full, true));
  }
  return out.sort();
}
