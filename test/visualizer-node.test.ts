// avi-visualizer in a real Node-RED runtime.
import { expect } from 'chai';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { VERDICT_COLOURS } from '../src/core/drawing/draw';
import type { Detection, Verdict } from '../src/core/types';
import { PREVIEW_INTERVAL_MS } from '../src/nodes/visualizer';

// node-red-node-test-helper ships no type declarations.
const helper = require('node-red-node-test-helper');
const visualizerNode = require('../../nodes/avi-visualizer.js');

helper.init(require.resolve('node-red'));

const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'shared', 'fixtures');

/** A real encoded image: a smooth colour gradient, encoded by sharp. */
async function photo(width: number, height: number, format: 'jpeg' | 'png' = 'jpeg'): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      [data[i], data[i + 1], data[i + 2]] = [60 + (x * 100) / width, 80 + (y * 100) / height, 120];
    }
  }
  const image = sharp(data, { raw: { width, height, channels: 3 } });
  return (format === 'png' ? image.png() : image.jpeg({ quality: 90 })).toBuffer();
}

async function rawPixels(encoded: Buffer): Promise<{ width: number; height: number; format?: string; at: (x: number, y: number) => number[] }> {
  const meta = await sharp(encoded).metadata();
  const { data, info } = await sharp(encoded).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    format: meta.format,
    at: (x, y) => Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)),
  };
}

const detections: Detection[] = [
  { id: 1, class: 'tablet', classId: 0, confidence: 0.97, box: { x: 40, y: 90, width: 80, height: 80 } },
  { id: 2, class: 'edge_defect', classId: 1, confidence: 0.91, box: { x: 180, y: 100, width: 90, height: 70 }, detectorClass: 'tablet' },
];
const verdict: Verdict = {
  result: 'FAIL',
  units: [
    { detectionId: 1, class: 'tablet', confidence: 0.97, result: 'PASS' },
    { detectionId: 2, class: 'edge_defect', confidence: 0.91, result: 'FAIL', reason: 'edge_defect 0.91 >= reject 0.50 (critical)' },
  ],
  counts: { total: 2, pass: 1, fail: 1, review: 0, byClass: { tablet: 1, edge_defect: 1 } },
  reasons: ['unit 2: edge_defect 0.91 >= reject 0.50 (critical)'],
};

/** Loads one visualizer wired to a helper node; returns the nodes and a function for the next message out. */
async function loadFlow(config: Record<string, unknown> = {}) {
  await helper.load(visualizerNode, [
    { id: 'vis', type: 'avi-visualizer', preview: false, ...config, wires: [['out']] },
    { id: 'out', type: 'helper' },
  ]);
  const vis = helper.getNode('vis');
  const out = helper.getNode('out');
  const next = (): Promise<any> => new Promise((resolve) => out.once('input', resolve));
  return { vis, next };
}

function nextCall(node: any, method: 'error' | 'status'): Promise<any> {
  return new Promise((resolve) => node.once(`call:${method}`, (call: any) => resolve(call)));
}

function isRed([r, g, b]: number[]): boolean {
  return r > 180 && g < 90 && b < 90;
}

/** Everything the runtime publishes to the editor on this node's preview topic. */
function previewsOf(nodeId: string): Array<{ at: number; data: any; retain: boolean }> {
  const seen: Array<{ at: number; data: any; retain: boolean }> = [];
  // The helper's runtime event bus carries RED.comms.publish calls on their way to editor websockets.
  helper._events.on('comms', (event: any) => {
    if (event.topic === `avi-visualizer/${nodeId}`) seen.push({ at: Date.now(), data: event.data, retain: event.retain });
  });
  return seen;
}

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('avi-visualizer in Node-RED', function () {
  afterEach(async () => {
    helper._events.removeAllListeners('comms');
    await helper.unload();
    helper.settings({});
  });

  it('draws a JPEG at the original size with the FAIL unit in red, and reports units, verdict and time', async () => {
    const { vis, next } = await loadFlow();
    const status = nextCall(vis, 'status');
    const input = await photo(320, 240);
    vis.receive({ payload: input, detections, verdict });
    const msg = await next();
    const img = await rawPixels(msg.payload);
    expect([img.format, img.width, img.height]).to.deep.equal(['jpeg', 320, 240]);
    // The FAIL box's left edge (x = 180) is red; the PASS box's edge is not.
    expect(img.at(180, 140), 'FAIL edge').to.satisfy(isRed);
    expect(img.at(40, 140), 'PASS edge').to.not.satisfy(isRed);
    expect(img.at(40, 140)[1]).to.be.greaterThan(150);
    // Inside the FAIL box the frame shows through.
    expect(img.at(225, 140)).to.not.satisfy(isRed);
    // Decoded here and kept for later nodes; detections and verdict pass on unchanged.
    expect([msg.image.width, msg.image.height, msg.image.format]).to.deep.equal([320, 240, 'jpeg']);
    expect(msg.detections).to.deep.equal(detections);
    expect(msg.verdict).to.deep.equal(verdict);
    const call = await status;
    expect(call.args[0].text).to.match(/^units: 2 · FAIL · \d+ ms · [\d.]+\/s · q 0$/);
    expect(call.args[0]).to.include({ fill: 'red', shape: 'ring' });
  });

  it('writes PNG when set, exactly in the verdict colours, into another property, leaving msg.image as it was', async () => {
    const { vis, next } = await loadFlow({ format: 'png', property: 'annotated' });
    const input = await photo(320, 240, 'png');
    const decoded = await sharp(input).raw().toBuffer({ resolveWithObject: true });
    const image = { width: 320, height: 240, channels: 3, data: decoded.data, encoded: input, format: 'png' };
    const before = Buffer.from(decoded.data);
    vis.receive({ payload: 'unchanged', image, detections, verdict });
    const msg = await next();
    expect(msg.payload).to.equal('unchanged');
    const img = await rawPixels(msg.annotated);
    expect([img.format, img.width, img.height]).to.deep.equal(['png', 320, 240]);
    expect(img.at(180, 140)).to.deep.equal([...VERDICT_COLOURS.FAIL]);
    expect(img.at(40, 140)).to.deep.equal([...VERDICT_COLOURS.PASS]);
    expect(msg.image.data.equals(before)).to.equal(true);
  });

  it('draws a real photo given by file path', async function () {
    const bus = path.join(FIXTURES, 'images', 'coco-samples', 'bus.jpg');
    if (!existsSync(bus)) this.skip();
    // Outside the user directory: allowed by the setting, as a user would in settings.js.
    helper.settings({ aviAllowedPaths: [path.dirname(bus)] });
    const { vis, next } = await loadFlow();
    const person: Detection = { id: 0, class: 'person', classId: 0, confidence: 0.88, box: { x: 222, y: 407, width: 121, height: 448 } };
    vis.receive({ payload: bus, detections: [person], verdict: { ...verdict, units: [{ ...verdict.units[1], detectionId: 0 }] } });
    const msg = await next();
    const img = await rawPixels(msg.payload);
    expect([img.width, img.height]).to.deep.equal([810, 1080]);
    expect(img.at(222, 600)).to.satisfy(isRed);
    expect(msg.image.path).to.equal(realpathSync(bus)); // the sandbox names a file by its real path
  });

  it('reports bad input on that message with a clear error, and draws the next message as usual', async () => {
    const { vis, next } = await loadFlow();
    const good = { payload: await photo(320, 240), detections, verdict };
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ payload: 42, detections }, /no image: expected msg.image \(a decoded frame\) or msg.payload as an encoded image Buffer or a file path, got msg.payload as a number/],
      [{ payload: Buffer.from('these bytes are not an image') }, /cannot decode image/],
      [{ payload: good.payload, detections: [{ ...detections[0], box: { x: 'left', y: 0, width: 5, height: 5 } }] }, /detections\[0\]: box must have numeric x, y, width and height/],
      [{ payload: good.payload, detections: 'none' }, /msg.detections must be an array/],
      [{ image: { width: 10, height: 10, data: Buffer.alloc(5) } }, /msg.image is not a decoded frame/],
    ];
    for (const [msg, expected] of bad) {
      const error = nextCall(vis, 'error');
      const red = nextCall(vis, 'status');
      vis.receive(msg);
      const call = await error;
      expect(String(call.args[0])).to.match(expected);
      expect(call.args[1], 'the message goes with the error, for a Catch node').to.be.an('object').with.property('_msgid');
      expect((await red).args[0]).to.include({ fill: 'red', shape: 'dot' });
    }
    vis.receive(good);
    const msg = await next();
    expect((await rawPixels(msg.payload)).at(180, 140)).to.satisfy(isRed);
  });

  it('sends the editor a small JPEG thumbnail, never the full frame, at most 4 a second, ending with the latest frame', async () => {
    const { vis, next } = await loadFlow({ preview: true, previewWidth: 160 });
    const published = previewsOf('vis');
    const greys = [20, 60, 100, 140, 180, 220];
    const started = Date.now();
    for (const grey of greys) {
      const data = Buffer.alloc(1280 * 720 * 3, grey);
      vis.receive({ image: { width: 1280, height: 720, channels: 3, data } });
      await next();
    }
    await wait(3 * PREVIEW_INTERVAL_MS);
    const elapsed = published[published.length - 1].at - started;
    expect(published.length).to.be.within(2, 1 + Math.floor(elapsed / PREVIEW_INTERVAL_MS) + 1);
    for (let i = 1; i < published.length; i++) expect(published[i].at - published[i - 1].at).to.be.at.least(PREVIEW_INTERVAL_MS - 5);
    const last = published[published.length - 1];
    expect(last.retain).to.equal(true);
    const jpeg = Buffer.from(last.data.image, 'base64');
    const thumb = await rawPixels(jpeg);
    expect([thumb.format, thumb.width, thumb.height]).to.deep.equal(['jpeg', 160, 90]);
    expect([last.data.width, last.data.height]).to.deep.equal([160, 90]);
    expect(jpeg.length).to.be.lessThan(20_000);
    // The newest frame is the one shown, even though it arrived inside the interval.
    expect(thumb.at(80, 45)[0]).to.be.within(215, 225);

    // Closing (a redeploy) clears the preview in open editors.
    await helper.unload();
    expect(published[published.length - 1]).to.deep.include({ data: {}, retain: false });
  });

  it('publishes nothing to the editor when the preview is off', async () => {
    const { vis, next } = await loadFlow({ preview: false });
    const published = previewsOf('vis');
    vis.receive({ payload: await photo(64, 48) });
    await next();
    await wait(50);
    expect(published.filter((p) => p.data.image)).to.have.length(0);
  });

  it('refuses bad settings with a clear error on each message', async () => {
    const { vis } = await loadFlow({ quality: 400 });
    const error = nextCall(vis, 'error');
    vis.receive({ payload: await photo(64, 48) });
    expect(String((await error).args[0])).to.match(/bad settings: JPEG quality must be a whole number from 1 to 100, got 400/);
  });
});
