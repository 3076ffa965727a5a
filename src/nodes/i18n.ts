// Status texts and other runtime messages from this package's catalogues (nodes/locales/<lang>/<node>.json).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NodeAPI } from 'node-red';

const LOCALES = path.resolve(__dirname, '..', '..', '..', 'nodes', 'locales');
const english = new Map<string, Record<string, unknown>>();

function englishCatalogue(node: string): Record<string, unknown> {
  if (!english.has(node)) {
    const file = path.join(LOCALES, 'en-US', `${node}.json`);
    english.set(node, fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {});
  }
  return english.get(node)!;
}

/**
 * `key` ("avi-detector.status.ready") in Node-RED's runtime language, with `__name__` parameters filled in.
 * Where Node-RED has not loaded the catalogues (node-red-node-test-helper answers with the key), the English one.
 */
export function message(RED: NodeAPI, key: string, params: Record<string, string | number> = {}): string {
  const text = RED._(key, params);
  if (text !== key) return text;
  const found = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], englishCatalogue(key.split('.')[0]));
  return typeof found === 'string' ? found.replace(/__(\w+)__/g, (all, name: string) => (name in params ? String(params[name]) : all)) : key;
}
