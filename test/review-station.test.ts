// The review station as a reviewer uses it: a real Node-RED process serving the page, Chromium (Debian's,
// through playwright-core) signing in, deciding three units of two frames (one given another class), signing
// with user ID and password and then with the password alone; a wrong password locking an account. The
// decisions leave the node as messages, stand in the store as records linked to the machine verdicts, and
// come out of `avi audit dataset` as YOLO and COCO that the project's own dataset reader reads.
import { expect } from 'chai';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { readDataset } from '../src/core/evaluation/datasets';
import { openStore, verifyStore } from '../src/core/records/store';
import type { ReviewBody } from '../src/core/records/signature';
import { tempDir } from './support/fixtures';
import { startNodeRed, type NodeRedProcess } from './support/node-red-process';
import { avi, CHAIN, PASSWORDS, addUsers, reviewFlow } from './support/review-flow';

const CHROMIUM = '/usr/bin/chromium';
async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.AVI_SCREENS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, name), fullPage: true });
}

async function signIn(page: Page, url: string, userId: string, password: string): Promise<void> {
  await page.goto(`${url}/avi/review`);
  await page.fill('#loginUser', userId);
  await page.fill('#loginPassword', password);
  await page.click('#loginGo');
}

describe('the review station in a browser (Node-RED + Chromium)', function () {
  this.timeout(120_000);
  const tmp = tempDir('avi-review-');
  const userDir = path.join(tmp.dir, 'node-red');
  const store = path.join(userDir, 'avi-records', 'records.sqlite');
  const decisionsFile = path.join(tmp.dir, 'decisions.jsonl');
  let red: NodeRedProcess | undefined;
  let browser: Browser | undefined;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`      skipped: ${CHROMIUM} not found (.ci/run installs Debian's chromium)`);
      this.skip();
    }
    mkdirSync(userDir, { recursive: true });
    addUsers(store);
    red = await startNodeRed(userDir, reviewFlow(decisionsFile), {}, '/avi/review');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  });
  after(async () => {
    await browser?.close();
    await red?.stop();
    tmp.cleanup();
  });

  it('a reviewer signs in, decides three units (one given another class) and signs twice: ID and password, then password', async () => {
    const page = await browser!.newPage({ viewport: { width: 1360, height: 1000 } });
    await signIn(page, red!.url, 'alice', PASSWORDS.alice);
    await page.waitForSelector('#who:has-text("Alice Adams")');
    for (let i = 0; (await page.locator('.qitem').count()) < 2 && i < 50; i++) {
      await page.waitForTimeout(200);
      await page.reload();
    }
    expect(await page.locator('.qitem').count()).to.equal(2);

    await page.click('.qitem:has-text("P-0002")');
    await page.waitForSelector('.frame svg rect');
    expect(await page.locator('.unit').count()).to.equal(2);
    await page.check('input[name="unit-0"][value="good"]');
    await page.selectOption('select[data-unit="1"]', 'spot');
    expect(await page.isChecked('input[name="unit-1"][value="class"]')).to.equal(true);
    await page.fill('input.unitReason[data-unit="1"]', 'dark spot on the coating, edge intact');
    await page.fill('#frameReason', 'looked at both units under the lamp');
    await screenshot(page, 'review-frame.png');
    await page.click('#signOpen');
    expect(await page.isVisible('#signUser')).to.equal(true);
    await screenshot(page, 'review-sign-first.png');
    await page.fill('#signUser', 'alice');
    await page.fill('#signPassword', PASSWORDS.alice);
    await page.click('#signGo');
    await page.waitForSelector('#lastSigned');
    expect(await page.textContent('#lastSigned')).to.match(new RegExp(`Signed: record ${CHAIN}#\\d+ by Alice Adams`));

    await page.click('.qitem:has-text("P-0004")');
    await page.waitForSelector('.unit');
    await page.check('input[name="unit-0"][value="reject"]');
    await page.fill('#frameReason', 'crack confirmed across the capsule');
    await page.click('#signOpen');
    // A later signing in the same session: the password alone (11.200(a)(1)(i)).
    expect(await page.isVisible('#signUser')).to.equal(false);
    await page.fill('#signPassword', PASSWORDS.alice);
    await screenshot(page, 'review-sign-later.png');
    await page.click('#signGo');
    await page.waitForSelector('.empty:has-text("Nothing waiting")');
    await screenshot(page, 'review-queue-empty.png');

    const lines = () => (existsSync(decisionsFile) ? readFileSync(decisionsFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
    for (let i = 0; lines().length < 2 && i < 50; i++) await page.waitForTimeout(100);
    const [first, second] = lines();
    expect(first.topic).to.equal('P-0002');
    expect(first.payload).to.include({ result: 'FAIL', signedBy: 'Alice Adams', userId: 'alice', reason: 'looked at both units under the lamp' });
    expect(first.payload.units.map((u: any) => `${u.machineClass}->${u.class}:${u.result}`)).to.deep.equal(['good->good:PASS', 'edge_defect->spot:FAIL']);
    expect(first.review.signature.components).to.equal('user ID and password');
    expect(second.topic).to.equal('P-0004');
    expect(second.payload.units.map((u: any) => `${u.machineClass}->${u.class}:${u.result}`)).to.deep.equal(['crack->crack:FAIL']);
    expect(second.review.signature.components).to.equal('password');
    await page.close();
  });

  it('a wrong password locks the account after the set number of tries (3), and the right one then no longer opens it', async () => {
    const context = await browser!.newContext();
    const page = await context.newPage();
    await signIn(page, red!.url, 'bob', 'not-the-password');
    await page.waitForSelector('#loginError:has-text("2 tries left")');
    await page.fill('#loginPassword', 'still-wrong');
    await page.click('#loginGo');
    await page.waitForSelector('#loginError:has-text("1 try left")');
    await page.fill('#loginPassword', 'wrong-again');
    await page.click('#loginGo');
    await page.waitForSelector('#loginError:has-text("now locked after 3 failed attempts")');
    await page.fill('#loginPassword', PASSWORDS.bob);
    await page.click('#loginGo');
    await page.waitForSelector('#loginError:has-text("is locked")');
    await screenshot(page, 'review-locked.png');
    await context.close();
  });

  it('the decisions stand as signed records linked to the unchanged machine verdicts, and the chain verifies', async () => {
    await red!.stop();
    const verify = avi(['audit', 'verify', store]);
    expect(verify.status, verify.out).to.equal(0);
    const s = await openStore(store, { readonly: true });
    try {
      const reviews = await s.records({ kind: 'review' });
      expect(reviews).to.have.length(2);
      for (const review of reviews) {
        const body = review.body as unknown as ReviewBody;
        const verdict = (await s.find(body.verdictRecord.id))!;
        expect(verdict.kind).to.equal('verdict');
        expect(verdict.hash).to.equal(body.verdictRecord.hash);
        expect((verdict.body as any).result).to.equal('REVIEW');
        expect(verdict.seq).to.be.below(review.seq);
      }
      const users = await s.records({ kind: 'user' });
      expect(users.map((r) => `${(r.body as any).action}:${(r.body as any).userId}`)).to.include.members(['added:alice', 'added:bob', 'locked:bob']);
      expect((await verifyStore(s))[0].breaks).to.deep.equal([]);
    } finally {
      await s.close();
    }
    const html = path.join(tmp.dir, 'audit.html');
    const exported = avi(['audit', 'export', store, '--html', html, '--csv', path.join(tmp.dir, 'audit.csv')]);
    expect(exported.status, exported.out).to.equal(0);
    const report = readFileSync(html, 'utf8');
    expect(report).to.contain('Signed by Alice Adams');
    expect(report).to.contain('Meaning: Review: I examined this unit and reject it (FAIL)');
  });

  it('the reviewed frames export as YOLO and COCO with the reviewer\'s class, read back by the dataset reader avi eval uses', async () => {
    const out = path.join(tmp.dir, 'dataset');
    const run = avi(['audit', 'dataset', store, '--out', out]);
    expect(run.status, run.out).to.equal(0);
    expect(run.out).to.match(/^2 reviewed frames/);
    for (const format of ['yolo', 'coco']) {
      const dataset = await readDataset(path.join(out, format));
      if (dataset.task !== 'detect') throw new Error('expected a detection dataset');
      expect(dataset.images, format).to.have.length(2);
      const labels = dataset.images
        .map((image) => image.truth.map((t) => `${dataset.classNames[t.classId]}@${Math.round(t.box.x)},${Math.round(t.box.y)}`).sort().join(' '))
        .sort();
      expect(labels, format).to.deep.equal(['crack@146,400', 'good@263,258 spot@305,247']);
    }
  });
});
