// Status texts and other runtime messages from this package's catalogues (nodes/locales/<lang>/<node>.json).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NodeAPI } from 'node-red';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const LOCALES = path.join(ROOT, 'nodes', 'locales');
const PACKAGE: string = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).name;
const english = new Map<string, Record<string, unknown>>();

function englishCatalogue(node: string): Record<string, unknown> {
  if (!english.has(node)) {
    const file = path.join(LOCALES, 'en-US', `${node}.json`);
    english.set(node, fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {});
  }
  return english.get(node)!;
}

function inEnglish(key: string, params: Record<string, string | number>): string {
  const found = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], englishCatalogue(key.split('.')[0]));
  return typeof found === 'string' ? found.replace(/__(\w+)__/g, (all, name: string) => (name in params ? String(params[name]) : all)) : key;
}

/**
 * `key` ("avi-detector.status.ready") in Node-RED's runtime language, with `__name__` parameters filled in.
 * Where Node-RED has not loaded the catalogues (node-red-node-test-helper answers with the key), the English one.
 */
export function message(RED: NodeAPI, key: string, params: Record<string, string | number> = {}): string {
  const text = RED._(key, params);
  return text !== key ? text : inEnglish(key, params);
}

/**
 * A text every node shows the same way (rate, queue, "no model selected"): `avi-model.shared.<name>`, from
 * avi-model's catalogue whichever node asks (a key with its node set's namespace reaches any catalogue).
 */
export function sharedMessage(RED: NodeAPI, name: string, params: Record<string, string | number> = {}): string {
  const key = `avi-model.shared.${name}`;
  const text = RED._(`${PACKAGE}/avi-model:${key}`, params);
  return text.endsWith(key) ? inEnglish(key, params) : text;
}
