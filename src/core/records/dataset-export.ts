// Reviewed frames as a labelled dataset (YOLO and COCO, the layouts `avi eval` and the usual trainers read):
// each unit's box with the reviewer's class, so the units the machine got wrong become training data.
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { ChainedRecord } from './chain';
import type { ReviewBody } from './signature';
import type { UnitRecord } from './verdict-record';

export interface LabelledFrame {
  /** The frame file under the image folder, images/ab/<sha256>.<ext>. */
  file: string;
  sha256: string;
  width: number;
  height: number;
  boxes: Array<{ class: string; machineClass: string; box: { x: number; y: number; width: number; height: number } }>;
}

export interface DatasetPlan {
  classNames: string[];
  frames: LabelledFrame[];
  /** Reviews left out, and why (frame pruned, no boxes). */
  skipped: string[];
}

/** Pairs each review with its verdict; the reviewer's class for every decided unit. */
export function planDataset(reviews: ChainedRecord[], verdictOf: (id: string) => ChainedRecord | undefined): DatasetPlan {
  const classes: string[] = [];
  const addClass = (c: string) => void (classes.includes(c) || classes.push(c));
  const frames = new Map<string, LabelledFrame>();
  const skipped: string[] = [];
  for (const review of reviews) {
    const body = review.body as unknown as ReviewBody;
    const verdict = verdictOf(body.verdictRecord.id);
    if (!verdict) {
      skipped.push(`review ${review.chain}#${review.seq}: verdict record ${body.verdictRecord.id} not found`);
      continue;
    }
    const v = verdict.body as { frame?: { sha256?: string; file?: string; width?: number; height?: number }; units?: UnitRecord[]; rules?: { goodClasses?: string[]; classRules?: Array<{ class: string }> } };
    for (const c of v.rules?.goodClasses ?? []) addClass(c);
    for (const r of v.rules?.classRules ?? []) addClass(r.class);
    if (!v.frame?.file || !v.frame.sha256 || !v.frame.width || !v.frame.height) {
      skipped.push(`review ${review.chain}#${review.seq}: the verdict record kept no frame`);
      continue;
    }
    const units = new Map((v.units ?? []).map((u) => [u.detectionId, u]));
    const boxes: LabelledFrame['boxes'] = [];
    for (const decided of body.decision.units) {
      const unit = units.get(decided.detectionId);
      if (!unit?.box) continue;
      addClass(decided.class);
      boxes.push({ class: decided.class, machineClass: decided.machineClass, box: unit.box });
    }
    // A later review of the same frame replaces an earlier one.
    frames.set(v.frame.sha256, { file: v.frame.file, sha256: v.frame.sha256, width: v.frame.width, height: v.frame.height, boxes });
  }
  return { classNames: classes, frames: [...frames.values()], skipped };
}

/** Writes `plan` under outDir as yolo/ (data.yaml, images/val, labels/val) and/or coco/ (_annotations.coco.json). */
export function writeDataset(plan: DatasetPlan, imageDir: string, outDir: string, formats: Array<'yolo' | 'coco'>): { written: number; skipped: string[] } {
  const skipped = [...plan.skipped];
  const present = plan.frames.filter((f) => {
    const ok = existsSync(path.join(imageDir, f.file));
    if (!ok) skipped.push(`frame ${f.sha256}: image pruned or not on this gateway (${f.file})`);
    return ok;
  });
  const idOf = new Map(plan.classNames.map((c, i) => [c, i]));
  const nameOf = (f: LabelledFrame) => path.basename(f.file);
  if (formats.includes('yolo')) {
    const root = path.join(outDir, 'yolo');
    mkdirSync(path.join(root, 'images', 'val'), { recursive: true });
    mkdirSync(path.join(root, 'labels', 'val'), { recursive: true });
    for (const f of present) {
      copyFileSync(path.join(imageDir, f.file), path.join(root, 'images', 'val', nameOf(f)));
      const lines = f.boxes.map(({ class: c, box }) =>
        [idOf.get(c), (box.x + box.width / 2) / f.width, (box.y + box.height / 2) / f.height, box.width / f.width, box.height / f.height]
          .map((v, i) => (i === 0 ? String(v) : (v as number).toFixed(6)))
          .join(' '),
      );
      writeFileSync(path.join(root, 'labels', 'val', nameOf(f).replace(/\.[^.]+$/, '.txt')), lines.length ? `${lines.join('\n')}\n` : '');
    }
    writeFileSync(path.join(root, 'data.yaml'), toYaml({ path: '.', val: 'images/val', names: Object.fromEntries(plan.classNames.map((c, i) => [i, c])) }));
  }
  if (formats.includes('coco')) {
    const root = path.join(outDir, 'coco');
    mkdirSync(root, { recursive: true });
    const images = present.map((f, i) => ({ id: i + 1, file_name: nameOf(f), width: f.width, height: f.height }));
    let annotationId = 1;
    const annotations = present.flatMap((f, i) =>
      f.boxes.map(({ class: c, machineClass, box }) => ({
        id: annotationId++,
        image_id: i + 1,
        category_id: idOf.get(c)! + 1,
        bbox: [box.x, box.y, box.width, box.height],
        area: box.width * box.height,
        iscrowd: 0,
        attributes: { machine_class: machineClass, reviewed: true },
      })),
    );
    for (const f of present) copyFileSync(path.join(imageDir, f.file), path.join(root, nameOf(f)));
    const categories = plan.classNames.map((name, i) => ({ id: i + 1, name, supercategory: 'units' }));
    writeFileSync(path.join(root, '_annotations.coco.json'), JSON.stringify({ info: { description: 'AVI reviewed frames' }, images, annotations, categories }, null, 1));
  }
  return { written: present.length, skipped };
}
