// The tarball as npm publishes it: what it carries, what it leaves out, and README links that work from the npm page.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './support/fixtures';

describe('the npm package', function () {
  this.timeout(60_000);
  let files: string[];
  before(() => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, encoding: 'utf8' });
    files = JSON.parse(out)[0].files.map((f: { path: string }) => f.path);
  });

  it("carries every node's entry, form, icon, and help and catalogue in en-US and de, the examples, their frames and the demo models", () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
    for (const [type, entry] of Object.entries<string>(pkg['node-red'].nodes)) {
      expect(files, type).to.include.members([entry, entry.replace(/\.js$/, '.html'), ...['en-US', 'de'].flatMap((l) => [`nodes/locales/${l}/${type}.json`, `nodes/locales/${l}/${type}.html`])]);
    }
    expect(files.filter((f) => f.startsWith('nodes/icons/') && f.endsWith('.svg')).length).to.be.above(0);
    expect(files).to.include.members(['scripts/onnxruntime-cpu-only/index.js', 'example-images/line-0001.jpg', 'models/pill-detector.onnx', 'dist/src/nodes/detector.js']);
  });

  it('lists only flows under examples/, and every frame a flow names is in the package', () => {
    const examples = files.filter((f) => f.startsWith('examples/'));
    expect(examples.filter((f) => !f.endsWith('.json'))).to.deep.equal([]);
    for (const example of examples) {
      const text = readFileSync(path.join(REPO_ROOT, example), 'utf8');
      for (const [image] of text.matchAll(/example-images\/line-\d{4}\.jpg/g)) expect(files, `${example} names ${image}`).to.include(image);
    }
  });

  it('leaves out tests, benchmarks, source maps and build leftovers', () => {
    expect(files.filter((f) => /^(dist\/(test|bench)|test|bench|src|training|\.ci)\//.test(f) || f.endsWith('.map') || f.endsWith('.tsbuildinfo'))).to.deep.equal([]);
  });

  it("links from the README only to files the package carries, or to absolute URLs", () => {
    const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const relative = [...readme.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)].map((m) => m[1]).filter((l) => !/^[a-z]+:/.test(l));
    expect(relative.filter((l) => !files.includes(l))).to.deep.equal([]);
  });
});
