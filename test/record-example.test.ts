// examples/record-and-review.json as a user imports it: the demo line with real models, every verdict recorded,
// units under review queued for the review station, the chain intact.
import { expect } from 'chai';
import { mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { REPO_ROOT, tempDir } from './support/fixtures';
import { startNodeRed } from './support/node-red-process';
import { avi } from './support/review-flow';

describe('examples/record-and-review.json in Node-RED', function () {
  this.timeout(120_000);
  const tmp = tempDir('avi-example-');
  after(() => tmp.cleanup());

  it('records every frame of the demo line, queues the units under review and serves the review page', async () => {
    const flow = JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', 'record-and-review.json'), 'utf8'));
    const userDir = path.join(tmp.dir, 'node-red');
    mkdirSync(userDir, { recursive: true });
    const red = await startNodeRed(userDir, flow, {}, '/avi/review');
    const file = path.join(userDir, 'avi-records', 'records.sqlite');
    let counts = { verdicts: 0, queued: 0, results: '' };
    try {
      // Six example frames, one a second: pass, reject and review among them.
      for (let waited = 0; (counts.verdicts < 6 || counts.queued < 1) && waited < 90_000; waited += 500) {
        await new Promise((r) => setTimeout(r, 500));
        try {
          const db = new Database(file, { readonly: true, fileMustExist: true });
          const results = db.prepare("SELECT json_extract(body, '$.result') AS r FROM avi_records WHERE kind = 'verdict'").pluck().all() as string[];
          counts = { verdicts: results.length, queued: (db.prepare('SELECT count(*) FROM avi_review_queue').pluck().get() as number), results: [...new Set(results)].sort().join(',') };
          db.close();
        } catch {
          // not created yet
        }
      }
      expect(counts.verdicts, red.output()).to.be.at.least(6);
      expect(counts.results).to.equal('FAIL,PASS,REVIEW');
      expect(counts.queued).to.be.at.least(1);
      const page = await fetch(`${red.url}/avi/review`);
      expect(page.status).to.equal(200);
      expect(await page.text()).to.contain('AVI review station');
    } finally {
      await red.stop();
    }
    const verify = avi(['audit', 'verify', file]);
    expect(verify.status, verify.out).to.equal(0);
  });
});
