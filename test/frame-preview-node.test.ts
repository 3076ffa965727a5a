// avi-frame-preview in a real Node-RED runtime: small JPEGs of the newest frame, at most `rate` a second.
import { expect } from 'chai';
import sharp from 'sharp';
import type { Verdict } from '../src/core/types';

// node-red-node-test-helper ships no type declarations.
const helper = require('node-red-node-test-helper');
const previewNode = require('../../nodes/avi-frame-preview.js');
const catchNode = require('@node-red/nodes/core/common/25-catch.js');
const completeNode = require('@node-red/nodes/core/common/24-complete.js');

helper.init(require.resolve('node-red'));

/** A real JPEG: a gradient with a marker stripe whose brightness tells frames apart. */
async function frame(width: number, height: number, marker = 0): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 40, g: 90, b: 140 } } })
    .composite([{ input: { create: { width, height: Math.max(1, height >> 3), channels: 3, background: { r: marker, g: marker, b: marker } } }, top: 0, left: 0 }])
    .jpeg({ quality: 80 })
    .toBuffer();
}

function decodeDataUrl(url: string): Buffer {
  expect(url).to.match(/^data:image\/jpeg;base64,/);
  return Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
}

const verdict: Verdict = {
  result: 'FAIL',
  units: Array.from({ length: 50 }, (_, i) => ({ detectionId: i, class: 'crack', confidence: 0.9, result: 'FAIL' as const })),
  counts: { total: 50, pass: 0, fail: 50, review: 0, byClass: { crack: 50 } },
  reasons: Array.from({ length: 50 }, (_, i) => `unit ${i}: crack 0.90 >= reject 0.50 (critical)`),
};

async function load(config: Record<string, unknown> = {}) {
  await helper.load(
    [previewNode, catchNode, completeNode],
    [
      { id: 'tab', type: 'tab' },
      { id: 'prev', z: 'tab', type: 'avi-frame-preview', ...config, wires: [['out']] },
      { id: 'out', z: 'tab', type: 'helper' },
      { id: 'catch', z: 'tab', type: 'catch', scope: ['prev'], wires: [['caught']] },
      { id: 'caught', z: 'tab', type: 'helper' },
      { id: 'complete', z: 'tab', type: 'complete', scope: ['prev'], wires: [['completed']] },
      { id: 'completed', z: 'tab', type: 'helper' },
    ].map((n) => (n.z ? { x: 0, y: 0, ...n } : n)), // flow nodes have a position; without one they read as config nodes
  );
  const get = (id: string) => helper.getNode(id);
  const collect = (id: string): any[] => {
    const seen: any[] = [];
    get(id).on('input', (msg: any) => seen.push(msg));
    return seen;
  };
  return { prev: get('prev'), out: get('out'), collect };
}

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('avi-frame-preview in Node-RED', function () {
  afterEach(() => helper.unload());

  it('sends a 20 MP frame as a 960 px JPEG data URL in a new, small message, with the verdict but not its units', async () => {
    const { prev, out } = await load();
    const big = await frame(5472, 3648, 255);
    const raw = { width: 5472, height: 3648, channels: 3, data: Buffer.alloc(5472 * 3648 * 3), path: '/cam/line-1/f-000042.jpg' };
    const received = new Promise<any>((resolve) => out.once('input', resolve));
    prev.receive({ topic: 'line-1', payload: big, image: raw, verdict, crops: [{ data: Buffer.alloc(1000) }] });
    const msg = await received;
    const jpeg = decodeDataUrl(msg.payload);
    const meta = await sharp(jpeg).metadata();
    expect([meta.format, meta.width, meta.height, msg.width, msg.height]).to.deep.equal(['jpeg', 960, 640, 960, 640]);
    expect(msg.payload.length, 'bytes to the browser').to.be.below(150_000);
    expect(msg).to.not.have.any.keys('image', 'crops');
    expect(msg).to.include({ topic: 'line-1', frame: 'f-000042.jpg' });
    expect(msg.verdict).to.deep.include({ result: 'FAIL', counts: verdict.counts });
    expect(msg.verdict).to.not.have.key('units');
    expect(msg.verdict.reasons).to.have.length(10);
    // The marker stripe (white) survived the scaling: it is the frame sent, not another.
    const { data } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
    expect(data[0]).to.be.above(230);
  });

  it('keeps a small frame its size and takes a decoded frame from msg.image', async () => {
    const { prev, out } = await load({ width: 960 });
    const { data, info } = await sharp(await frame(320, 240, 200)).raw().toBuffer({ resolveWithObject: true });
    const received = new Promise<any>((resolve) => out.once('input', resolve));
    prev.receive({ image: { width: info.width, height: info.height, channels: 3, data } });
    const msg = await received;
    expect([msg.width, msg.height]).to.deep.equal([320, 240]);
  });

  it('lets through at most `rate` frames a second, always the newest, and finishes every frame passed over', async () => {
    const { prev, collect } = await load({ rate: 4, width: 64 });
    const shown = collect('out');
    const completed = collect('completed');
    const frames = await Promise.all(Array.from({ length: 10 }, (_, i) => frame(256, 128, 20 * i + 20)));
    // 10 frames a second for 3 s: 30 frames in, about 4 a second out.
    const started = Date.now();
    for (let i = 0; i < 30; i++) {
      prev.receive({ payload: frames[i % 10], topic: `frame-${i}` });
      await wait(100);
    }
    await wait(1000); // the last one, however busy the machine
    const seconds = (Date.now() - started) / 1000;
    expect(shown.length, `previews in ${seconds.toFixed(1)} s`).to.be.within(3, Math.ceil(4 * seconds) + 1);
    // The last frame in is the last shown; none is shown twice; order is kept.
    expect(shown[shown.length - 1].topic).to.equal('frame-29');
    const indices = shown.map((m) => Number(m.topic.split('-')[1]));
    expect(indices).to.deep.equal([...indices].sort((a, b) => a - b));
    expect(new Set(indices).size).to.equal(indices.length);
    // Every frame in is finished exactly once: the shown ones and the ones passed over.
    expect(completed).to.have.length(30);
  });

  it('ends a message without an image, or with one that does not decode, with an error a Catch node sees', async () => {
    const { prev, collect } = await load();
    const caught = collect('caught');
    const shown = collect('out');
    prev.receive({ payload: 42, topic: 'no image' });
    prev.receive({ payload: Buffer.from('certainly not a JPEG'), topic: 'garbage' });
    await wait(300);
    prev.receive({ payload: await frame(100, 50), topic: 'good' });
    await wait(700);
    expect(caught.map((m) => m.topic)).to.deep.equal(['no image', 'garbage']);
    expect(caught[0].error.message).to.match(/msg\.payload must be an encoded image/);
    expect(shown.map((m) => m.topic)).to.deep.equal(['good']);
  });

  it('reports bad settings at deploy and on each message', async () => {
    const { prev, collect } = await load({ rate: 100 });
    const caught = collect('caught');
    prev.receive({ payload: await frame(10, 10) });
    await wait(100);
    expect(caught[0].error.message).to.match(/previews per second must be a number from 0.1 to 30/);
  });
});
