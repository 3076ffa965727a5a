// The operator's screen as an operator sees it: `npm start`'s line dashboard in Chromium (Debian's, headless),
// driven from 1 % to 8 % defective units until a CAPA alert appears, which is then acknowledged.
import { expect } from 'chai';
import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { chromium, type Browser, type Page } from 'playwright-core';
import { dashboardFlow, startDemo, type RunningDemo } from './support/demo-runner';

const CHROMIUM = '/usr/bin/chromium';
/** Subgroups of 100 units (about 5 s of the demo) instead of 140, to keep the test near a minute. */
const SUBGROUP = 100;
/** Where to keep screenshots, when set (the test writes none otherwise). */
const SCREENSHOTS = process.env.AVI_SCREENSHOT_DIR;

const numberIn = async (page: Page, testId: string): Promise<number> => Number((await page.getByTestId(testId).first().innerText()).replace(/[^\d.]/g, ''));

describe('the line dashboard in a browser', function () {
  this.timeout(180_000);
  let demo: RunningDemo;
  let browser: Browser;
  let page: Page;
  let mqtt: MqttClient;
  const acks: any[] = [];
  /** Every websocket frame the dashboard receives, by size. */
  const frames: number[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
    demo = await startDemo(dashboardFlow((n) => n.type === 'avi-spc' && (n.subgroupSize = SUBGROUP)));
    mqtt = await connectAsync(demo.brokerUrl, { connectTimeout: 5000, reconnectPeriod: 0 });
    mqtt.on('message', (_topic, payload) => acks.push(JSON.parse(payload.toString())));
    await mqtt.subscribeAsync('avi/demo/capa/ack', { qos: 1 });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
    page.on('websocket', (ws) => ws.on('framereceived', (frame) => frames.push(typeof frame.payload === 'string' ? Buffer.byteLength(frame.payload) : frame.payload.length)));
    await page.goto(`${demo.url}/dashboard`);
  });

  after(async () => {
    await browser?.close();
    await mqtt?.endAsync(true);
    await demo?.stop();
  });

  it('shows the latest annotated frame, small, with its verdict in large letters and a symbol, and it changes', async () => {
    const frame = page.getByTestId('frame');
    await frame.waitFor({ timeout: 30_000 });
    const first = await frame.getAttribute('data-time');
    const src = (await frame.getAttribute('src'))!;
    expect(src).to.match(/^data:image\/jpeg;base64,/);
    await page.waitForFunction((t) => document.querySelector('[data-testid=frame]')?.getAttribute('data-time') !== t, first, { timeout: 10_000 });
    // The example frames are 640 px wide; the image fills the group's width, scaled by the browser.
    const shown = await frame.evaluate((img: HTMLImageElement) => ({ natural: img.naturalWidth, css: img.getBoundingClientRect().width }));
    expect(shown.natural).to.equal(640);
    expect(shown.css).to.be.above(600);
    const verdict = page.getByTestId('verdict');
    const text = await verdict.innerText();
    expect(text).to.match(/^(PASS|FAIL|REVIEW)\b/);
    // Large enough to read from two metres, and a shape beside the colour.
    const fontSize = await verdict.locator('.avi-result').evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
    expect(fontSize).to.be.at.least(56);
    expect(await verdict.locator('svg polygon, svg circle').count()).to.equal(1);
  });

  it('counts pass, fail and review frames and units per class, and the counts rise', async () => {
    const total = async () => (await numberIn(page, 'count-pass')) + (await numberIn(page, 'count-fail')) + (await numberIn(page, 'count-review'));
    await page.getByTestId('shift').waitFor({ timeout: 10_000 });
    const before = await total();
    await page.waitForTimeout(3000);
    const after = await total();
    expect(after).to.be.above(before);
    expect(await numberIn(page, 'frames-in')).to.be.at.least(after);
    expect(await page.getByTestId('health').innerText()).to.match(/pill-detector\.onnx [0-9a-f]{12}/);
    expect(await page.getByTestId('recipe').innerText()).to.match(/demo pills \(1\)/);
    expect(await page.getByTestId('queue-wait').innerText()).to.match(/^\d+ ms$/);
    expect(await page.getByTestId('rate').innerText()).to.match(/^\d+\.\d units\/s$/);
  });

  it('draws the p-chart with centre line and control limits at 1 %, and no CAPA alert', async () => {
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=p-chart] [data-testid=point]').length >= 3, null, { timeout: 60_000 });
    const chart = page.getByTestId('p-chart');
    const text = await chart.innerText();
    expect(text).to.match(/CL 1\.0/);
    const ucl = Number(/UCL (\d+\.\d)/.exec(text)![1]);
    // Probability limits at p = 1 %, n from 100 to 120: 5 or 6 defective is the upper control count.
    expect(ucl).to.be.within(4, 6);
    for (const line of ['ucl', 'lcl', 'centre']) expect(await chart.getByTestId(line).count(), line).to.equal(1);
    expect(await page.getByTestId('capa-alert').count()).to.equal(0);
    if (SCREENSHOTS) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-1920x1080-in-control.png') });
    }
  });

  it('raises a CAPA alert when the defect rate goes from 1 % to 8 %, marks the point, and records its acknowledgement', async () => {
    await page.getByTestId('defect-rate-8').click();
    const alert = page.getByTestId('capa-alert').first();
    await alert.waitFor({ timeout: 60_000 });
    expect(await alert.innerText()).to.match(/CRITICAL|MAJOR/).and.to.match(/line-1/);
    expect(await page.getByTestId('p-chart').getByTestId('out-of-control').count()).to.be.at.least(1);
    // A rejected frame to look at, large.
    await page.getByTestId('reject').first().click();
    await page.getByTestId('reject-large').waitFor({ timeout: 5000 });
    expect(await page.getByTestId('reject-large').innerText()).to.match(/FAIL[\s\S]*unit \d+: \w+ 0\.\d\d >= reject/);
    if (SCREENSHOTS) {
      await page.waitForTimeout(500); // the dialog fades in
      await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-1920x1080-reject-large.png') });
    }
    await page.keyboard.press('Escape');
    await page.getByTestId('reject-large').waitFor({ state: 'detached', timeout: 5000 });
    if (SCREENSHOTS) await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-1920x1080-alert.png'), fullPage: true });

    await page.locator('.avi-operator input').fill('JD');
    await alert.getByTestId('acknowledge').click();
    await alert.getByTestId('acknowledged').waitFor({ timeout: 10_000 });
    expect(await alert.getByTestId('acknowledged').innerText()).to.match(/^acknowledged by JD at /);
    // Sent as a message (MQTT) ...
    const deadline = Date.now() + 10_000;
    while (!acks.length && Date.now() < deadline) await page.waitForTimeout(100);
    expect(acks[0]).to.include({ key: 'line-1', acknowledgedBy: 'JD' });
    expect(Date.parse(acks[0].acknowledgedAt)).to.be.within(Date.now() - 60_000, Date.now());
    // ... and kept in the flow's context, where a file-backed store would keep it across restarts.
    const tab = dashboardFlow().find((n) => n.type === 'tab').id;
    // The admin API's view of it: { <store>: { capaAlerts: { msg: <JSON>, format } } }.
    const stores = await (await fetch(`${demo.url}/context/flow/${tab}`)).json();
    const kept = JSON.parse((Object.values(stores)[0] as any).capaAlerts.msg);
    expect(kept.find((a: any) => a.id === acks[0].alert).acknowledged).to.include({ by: 'JD' });
  });

  it('works on a tablet the same way: no hover needed, nothing wider than the screen', async () => {
    const tablet = await browser.newPage({ viewport: { width: 1024, height: 768 }, hasTouch: true, isMobile: true });
    await tablet.goto(`${demo.url}/dashboard`);
    await tablet.getByTestId('frame').waitFor({ timeout: 20_000 });
    await tablet.getByTestId('capa-alert').first().waitFor({ timeout: 10_000 });
    const overflow = await tablet.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).to.be.at.most(0);
    await tablet.getByTestId('reject').first().tap();
    await tablet.getByTestId('reject-large').waitFor({ timeout: 5000 });
    await tablet.keyboard.press('Escape');
    if (SCREENSHOTS) await tablet.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-1024x768.png') });
    if (SCREENSHOTS) await tablet.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-1024x768-full.png'), fullPage: true });
    await tablet.close();
  });

  it('kept every websocket message small: frames scaled down before the websocket', () => {
    expect(frames.length).to.be.above(20);
    // The largest: the list of the last 6 rejects, 640 px JPEGs as data URLs.
    expect(Math.max(...frames)).to.be.below(600_000);
  });
});
