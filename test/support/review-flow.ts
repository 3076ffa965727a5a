// The review station's test flow and accounts, shared by the browser test and the Part 11 tests.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { REPO_ROOT } from './fixtures';

export const CHAIN = 'gw-review';
export const PASSWORDS: Record<string, string> = { alice: 'correct horse 1', bob: 'battery staple 2', sam: 'supervisor pass 3', ada: 'auditor pass 4' };

/** `avi ...` as a user runs it. */
export function avi(args: string[], env: Record<string, string> = {}): { status: number | null; out: string } {
  const run = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'avi.js'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: run.status, out: run.stdout + run.stderr };
}

function frameNode(id: string, image: string, partId: string, units: Array<[string, number, { x: number; y: number; width: number; height: number }]>, wire: string) {
  const detections = units.map(([cls, confidence, box], i) => ({
    id: i, class: cls, classId: 0, confidence, box,
    detectorClass: 'pill', detectorConfidence: 0.93, classification: { class: cls, classId: 0, confidence, scores: {} },
  }));
  return [
    { id: `read-${id}`, type: 'file in', z: 'tab', filename: path.join(REPO_ROOT, 'example-images', image), filenameType: 'str', format: '', chunk: false, sendError: false, encoding: 'none', allProps: false, wires: [[`units-${id}`]] },
    {
      id: `units-${id}`, type: 'function', z: 'tab', outputs: 1, wires: [[wire]],
      // As the detector leaves it: the encoded original on msg.image (pixels are not needed past the router).
      func: `msg.image = { width: 640, height: 480, channels: 3, data: Buffer.alloc(0), encoded: msg.payload, format: 'jpeg' };
msg.detections = ${JSON.stringify(detections)};
msg.partId = ${JSON.stringify(partId)}; msg.batch = 'B-42';
msg.models = { detector: { name: 'pill-detector', path: 'models/pill-detector.onnx', sha256: '${'d'.repeat(64)}', format: 'yolov8', inputWidth: 320, inputHeight: 320, executionProvider: 'cpu' } };
return msg;`,
    },
  ];
}

export function reviewFlow(decisionsFile: string, settings: { sessionMinutes?: number; maxAttempts?: number } = {}): unknown[] {
  return [
    { id: 'tab', type: 'tab', label: 'review' },
    { id: 'store', type: 'avi-audit-store', storeType: 'sqlite', folder: 'avi-records', file: 'records.sqlite', chain: CHAIN, retentionDays: 365, imageMaxGB: 20, spoolMax: 10000 },
    { id: 'start', type: 'inject', z: 'tab', once: true, onceDelay: 0.5, repeat: '', topic: '', payload: '', payloadType: 'date', wires: [['read-a', 'read-b']] },
    ...frameNode('a', 'line-0002.jpg', 'P-0002', [['good', 0.55, { x: 263, y: 258, width: 56, height: 47 }], ['edge_defect', 0.45, { x: 305, y: 247, width: 40, height: 40 }]], 'router'),
    ...frameNode('b', 'line-0004.jpg', 'P-0004', [['crack', 0.5, { x: 146, y: 400, width: 72, height: 34 }]], 'router'),
    {
      id: 'router', type: 'avi-router', z: 'tab', goodClasses: 'good', goodMinConfidence: 0.7,
      rules: ['edge_defect', 'crack', 'spot', 'broken'].map((c) => ({ class: c, reject: 0.8, review: 0.3, severity: 'major' })),
      defaultReject: 0.5, defaultReview: 0, defaultSeverity: 'major', countMode: 'none', countMismatch: 'reject', emptyFrame: 'review',
      wires: [['record'], ['record'], ['record']],
    },
    { id: 'record', type: 'avi-record', z: 'tab', store: 'store', line: 'L1', cell: 'blister-3', wires: [[], [], ['review']] },
    { id: 'review', type: 'avi-review', z: 'tab', store: 'store', path: '/avi/review', sessionMinutes: settings.sessionMinutes ?? 15, maxAttempts: settings.maxAttempts ?? 3, classes: '', wires: [['decision-json']] },
    { id: 'decision-json', type: 'function', z: 'tab', outputs: 1, func: 'msg.payload = JSON.stringify({ topic: msg.topic, payload: msg.payload, review: msg.review, record: msg.record, verdictRecord: msg.verdictRecord });\nreturn msg;', wires: [['decisions']] },
    { id: 'decisions', type: 'file', z: 'tab', filename: decisionsFile, filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'none', wires: [] },
  ];
}


export const USERS: Array<[id: string, printedName: string, role: string]> = [
  ['alice', 'Alice Adams', 'operator'],
  ['bob', 'Bob Brown', 'operator'],
  ['sam', 'Sam Supervisor', 'supervisor'],
  ['ada', 'Ada Auditor', 'auditor'],
];

/** The accounts, added with `avi users add` as a plant would. */
export function addUsers(store: string): void {
  for (const [id, name, role] of USERS) {
    const added = avi(['users', 'add', store, '--id', id, '--name', name, '--role', role, '--chain', CHAIN], { AVI_PASSWORD: PASSWORDS[id] });
    expect(added.status, added.out).to.equal(0);
  }
}
