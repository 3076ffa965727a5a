// Reference boxes that training/ultralytics_reference.py computed with Ultralytics' own preprocessing, and
// the comparison the parity tests make against them.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Detection } from '../../src/core/types';
import { REPO_ROOT } from './fixtures';
import { CATCH_NODE, catchNodes, outputOf } from './node-output';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));
const NODES = [require('../../../nodes/avi-model.js'), require('../../../nodes/avi-detector.js'), CATCH_NODE];

export interface ReferenceDetection {
  classId: number;
  confidence: number;
  /** x1, y1, x2, y2 in pixels of the decoded image. */
  box: [number, number, number, number];
}

export interface Reference {
  model: string;
  modelSha256: string;
  conf: number;
  iou: number;
  images: Array<{ image: string; sha256: string; width: number; height: number; detections: ReferenceDetection[] }>;
}

export function readReference(name: string): Reference {
  return JSON.parse(readFileSync(path.join(REPO_ROOT, 'test', 'data', 'ultralytics-reference', name), 'utf8'));
}

/** Boxes this close to the threshold may fall either side of it with another onnxruntime build. */
const BORDERLINE = 0.01;

/**
 * What differs between our detections and the reference on one image: a reference box without one of ours of
 * the same class within `tolerance` px on every side, or one of ours that the reference does not have.
 * Empty when they agree.
 */
export function differences(reference: ReferenceDetection[], ours: Detection[], conf: number, tolerance: number): string[] {
  const edges = (d: Detection) => [d.box.x, d.box.y, d.box.x + d.box.width, d.box.y + d.box.height];
  const free = new Set(ours);
  const problems: string[] = [];
  for (const ref of reference) {
    let best: Detection | undefined;
    let bestOff = Infinity;
    for (const d of free) {
      if (d.classId !== ref.classId) continue;
      const off = Math.max(...edges(d).map((v, i) => Math.abs(v - ref.box[i])));
      if (off < bestOff) [best, bestOff] = [d, off];
    }
    if (best && bestOff <= tolerance) free.delete(best);
    else if (ref.confidence >= conf + BORDERLINE) {
      problems.push(`reference class ${ref.classId} ${ref.confidence} [${ref.box}]: ${best ? `nearest of ours is ${bestOff.toFixed(1)} px off` : 'none of ours'}`);
    }
  }
  for (const d of free) {
    if (d.confidence >= conf + BORDERLINE) problems.push(`ours class ${d.classId} ${d.confidence} [${edges(d)}] is not in the reference`);
  }
  return problems;
}

/** Deploys avi-model + avi-detector; the function it resolves to sends one payload and resolves to the message out. */
export async function detectorFlow(modelPath: string, settings: Record<string, unknown>, modelSettings: Record<string, unknown> = {}) {
  await helper.load(NODES, [
    { id: 'm', type: 'avi-model', path: modelPath, watch: false, threads: 1, ...modelSettings },
    { id: 'det', type: 'avi-detector', model: 'm', wires: [['out']], ...settings },
    { id: 'out', type: 'helper' },
    ...catchNodes(),
  ]);
  return (payload: unknown) => outputOf(helper, 'det', 'out', { payload });
}
