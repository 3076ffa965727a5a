// node-red-node-test-helper gives nodes an RED._ that returns the key; this gives them the en-US catalogue instead,
// as Node-RED does, so tests see the texts a user sees.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './fixtures';

export function withCatalog(nodeModule: (red: any) => unknown, name: string): (red: any) => unknown {
  const catalog = JSON.parse(readFileSync(path.join(REPO_ROOT, 'nodes', 'locales', 'en-US', `${name}.json`), 'utf8'));
  const translate = (key: string, subs: Record<string, unknown> = {}): string => {
    const text = key.split('.').reduce<any>((node, part) => node?.[part], catalog);
    if (typeof text !== 'string') return key;
    return text.replace(/__(\w+)__/g, (_m, k) => String(subs[k] ?? ''));
  };
  return (red: any) => {
    red._ = translate;
    return nodeModule(red);
  };
}
