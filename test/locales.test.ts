// The message catalogues and help as Node-RED loads them: English complete, German for every text, and every key the
// runtime code asks for present.
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './support/fixtures';

const LOCALES = path.join(REPO_ROOT, 'nodes', 'locales');
const LANGUAGES = ['en-US', 'de'];
const NODE_TYPES = Object.keys(JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'))['node-red'].nodes) as string[];

/** Every text of a catalogue by its key ("avi-detector.status.ready"). */
function texts(language: string, type: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (value: unknown, key: string): void => {
    if (typeof value === 'string') out.set(key, value);
    else for (const [k, v] of Object.entries(value as object)) walk(v, key ? `${key}.${k}` : k);
  };
  walk(JSON.parse(readFileSync(path.join(LOCALES, language, `${type}.json`), 'utf8')), '');
  return out;
}

describe('the message catalogues and help', () => {
  it('hold a catalogue and a help file for every node in every language, and nothing else', () => {
    for (const language of LANGUAGES) {
      expect(readdirSync(path.join(LOCALES, language)).sort(), language).to.deep.equal(NODE_TYPES.flatMap((t) => [`${t}.html`, `${t}.json`]).sort());
      for (const type of NODE_TYPES) {
        const help = readFileSync(path.join(LOCALES, language, `${type}.html`), 'utf8');
        expect(help, `${language}/${type}.html`).to.include(`data-help-name="${type}"`);
      }
    }
  });

  it('have the same keys in English and German, with the same __parameters__ in each text', () => {
    for (const type of NODE_TYPES) {
      const en = texts('en-US', type);
      const de = texts('de', type);
      expect([...de.keys()].filter((k) => !en.has(k)), `${type}: keys only in de`).to.deep.equal([]);
      expect([...en.keys()].filter((k) => !de.has(k)), `${type}: keys without German`).to.deep.equal([]);
      const params = (text: string) => [...text.matchAll(/__\w+__/g)].map((m) => m[0]).sort();
      for (const [key, text] of en) expect(params(de.get(key)!), `${key} in de`).to.deep.equal(params(text));
    }
  });

  it('keep palette labels in English in every language, as Node-RED names its own nodes', () => {
    for (const type of NODE_TYPES) {
      const label = texts('en-US', type).get(`${type}.paletteLabel`);
      expect(label, `${type}.paletteLabel`).to.be.a('string');
      expect(texts('de', type).get(`${type}.paletteLabel`), `${type}.paletteLabel in de`).to.equal(label);
      expect(readFileSync(path.join(REPO_ROOT, 'nodes', `${type}.html`), 'utf8'), `${type}.html`).to.include(`this._('${type}.paletteLabel')`);
    }
  });

  it('have every key the runtime code asks for', () => {
    const english = new Map(NODE_TYPES.flatMap((t) => [...texts('en-US', t)]));
    const dir = path.join(REPO_ROOT, 'src', 'nodes');
    const asked = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => {
        const source = readFileSync(path.join(dir, f), 'utf8');
        const keys = [...source.matchAll(/'(avi-[\w-]+\.(?:status|errors|shared|warnings?|text|label)\.[\w.]+)'/g)].map((m) => m[1]);
        const shared = [...source.matchAll(/sharedMessage\(RED, '(\w+)'/g)].map((m) => `avi-model.shared.${m[1]}`);
        return [...keys, ...shared].map((key) => ({ file: f, key }));
      });
    expect(asked.length).to.be.above(20);
    expect(asked.filter(({ key }) => !english.has(key))).to.deep.equal([]);
  });
});
