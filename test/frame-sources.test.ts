// Frames in: examples/frame-sources.json in a real Node-RED (endpoints patched only), with the demo models: a camera
// drop folder, an HTTP upload answered with the verdict, an MQTT image topic and a camera stream through ffmpeg
// (reading a file the test makes). avi-camera's trigger mode and reconnects in a Node-RED test runtime.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, writeFileSync, appendFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { JpegStreamParser, ffmpegArgs, splitArgs } from '../src/core/sources/jpeg-stream';
import { CompleteFiles, filePattern } from '../src/core/sources/folder';
import { REPO_ROOT, tempDir } from './support/fixtures';
import { exampleFlow, startNodeRed, type NodeRed } from './support/node-red';
import { freePort } from './support/plc';

const helper = require('node-red-node-test-helper');
const cameraNode = require('../../nodes/avi-camera.js');

const UNS = 'site/area/line1/cell1';
const FRAME = readFileSync(path.join(REPO_ROOT, 'example-images', 'line-0002.jpg'));

/** A short test video made by ffmpeg itself (its testsrc pattern), MJPEG in AVI: 2 s at 10 frames a second. */
function testVideo(dir: string, seconds = 2): string {
  const file = path.join(dir, 'testsrc.avi');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc=size=320x240:rate=10`, '-t', String(seconds), '-c:v', 'mjpeg', '-q:v', '5', '-y', file]);
  return file;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('frame sources: parsing and file completeness', () => {
  it('splits an MJPEG pipe into whole JPEGs across any chunking, and drops a frame past the bound', () => {
    const a = Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(50, 1), Buffer.from([0xff, 0xd9])]);
    const b = Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(70, 2), Buffer.from([0xff, 0xd9])]);
    const stream = Buffer.concat([Buffer.from('junk'), a, b]);
    for (const size of [1, 2, 3, 7, 200]) {
      const parser = new JpegStreamParser(1000);
      const frames: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) frames.push(...parser.push(stream.subarray(i, i + size)));
      expect(frames.map((f) => f.length)).to.deep.equal([a.length, b.length]);
      expect(frames[1].equals(b)).to.equal(true);
    }
    const small = new JpegStreamParser(40);
    expect(small.push(a)).to.have.length(0);
    expect(small.oversized).to.be.above(0);
    expect(small.push(Buffer.concat([Buffer.from([0xff, 0xd8, 0, 0xff, 0xd9])]))).to.have.length(1);
  });

  it('builds ffmpeg arguments: RTSP over TCP, the fps filter, MJPEG on the pipe', () => {
    const args = ffmpegArgs({ input: 'rtsp://10.0.0.5/s1', inputOptions: '-stimeout "5000000"', fps: 2, quality: 3, width: 640 });
    expect(args.join(' ')).to.equal('-hide_banner -loglevel error -nostdin -rtsp_transport tcp -stimeout 5000000 -i rtsp://10.0.0.5/s1 -an -vf fps=2,scale=640:-2 -f image2pipe -c:v mjpeg -q:v 3 pipe:1');
    expect(splitArgs('-f v4l2  -video_size 1280x720')).to.deep.equal(['-f', 'v4l2', '-video_size', '1280x720']);
  });

  it('takes a file only once its size and time have held still, once, and forgets it when it is gone', () => {
    const files = new CompleteFiles(1000);
    expect(files.update([{ name: 'a.jpg', size: 10, mtimeMs: 1 }], 0)).to.deep.equal([]);
    expect(files.update([{ name: 'a.jpg', size: 20, mtimeMs: 2 }], 900)).to.deep.equal([]);
    expect(files.update([{ name: 'a.jpg', size: 20, mtimeMs: 2 }], 1800)).to.deep.equal([]);
    expect(files.update([{ name: 'a.jpg', size: 20, mtimeMs: 2 }], 1900).map((f) => f.name)).to.deep.equal(['a.jpg']);
    files.taken('a.jpg');
    expect(files.update([{ name: 'a.jpg', size: 20, mtimeMs: 2 }], 5000)).to.deep.equal([]);
    files.update([], 6000);
    files.update([{ name: 'a.jpg', size: 20, mtimeMs: 2 }], 7000);
    expect(files.update([{ name: 'a.jpg', size: 20, mtimeMs: 2 }], 8000)).to.have.length(1);
    expect(files.update([{ name: 'empty.jpg', size: 0, mtimeMs: 2 }], 8000)).to.deep.equal([]);
    const image = filePattern('*.jpg, *.PNG');
    expect(['a.JPG', 'b.png', 'a.jpg.part', 'x.txt'].map(image)).to.deep.equal([true, true, false, false]);
  });
});

describe('frame sources: examples/frame-sources.json in Node-RED', function () {
  this.timeout(120_000);
  const dir = tempDir('avi-sources-');
  const drop = path.join(dir.dir, 'drop');
  let red: NodeRed | undefined;
  let client: MqttClient;
  let closeBroker: () => Promise<void>;
  const verdicts: any[] = [];
  let counts: any = {};

  before(async () => {
    const { Aedes } = await import('aedes');
    const broker = await Aedes.createBroker();
    const server = net.createServer(broker.handle);
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    closeBroker = () => new Promise((resolve) => broker.close(() => server.close(() => resolve())));
    client = await connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    client.on('message', (topic, payload) => {
      if (topic === `${UNS}/avi/verdict`) verdicts.push(JSON.parse(payload.toString()));
      if (topic === `${UNS}/avi/sources`) counts = JSON.parse(payload.toString());
    });
    await client.subscribeAsync(`${UNS}/avi/+`, { qos: 1 });

    const flows = exampleFlow('frame-sources.json');
    for (const n of flows) {
      if (n.type === 'mqtt-broker') Object.assign(n, { broker: '127.0.0.1', port: String(port) });
      if (n.type === 'avi-folder') n.folder = drop;
      if (n.type === 'avi-camera') n.input = testVideo(dir.dir);
    }
    execFileSync('mkdir', ['-p', drop]);
    red = await startNodeRed(flows);
  });

  after(async () => {
    await red?.stop();
    await client?.endAsync(true);
    await closeBroker?.();
    dir.cleanup();
  });

  it('folder: a file written slowly, and one renamed when complete, are each inspected once, then moved to done/', async () => {
    const slow = path.join(drop, 'slow.jpg');
    writeFileSync(slow, FRAME.subarray(0, 1000));
    for (let i = 1000; i < FRAME.length; i += 4000) {
      await sleep(300);
      appendFileSync(slow, FRAME.subarray(i, i + 4000));
    }
    writeFileSync(path.join(drop, 'renamed.jpg.part'), FRAME);
    await sleep(1500);
    // The .part file is not a frame until its final name.
    expect(verdicts.filter((v) => v.file === 'renamed.jpg')).to.have.length(0);
    renameSync(path.join(drop, 'renamed.jpg.part'), path.join(drop, 'renamed.jpg'));
    writeFileSync(path.join(drop, 'broken.jpg'), Buffer.from('not an image at all'));
    await until(() => ['slow.jpg', 'renamed.jpg'].every((f) => verdicts.some((v) => v.file === f)), 30_000, 'both folder verdicts');
    await until(() => counts.folder?.skipped === 1, 30_000, 'the broken file counted as skipped');
    await sleep(1500);
    for (const file of ['slow.jpg', 'renamed.jpg']) {
      const mine = verdicts.filter((v) => v.file === file);
      expect(mine, file).to.have.length(1);
      expect(['PASS', 'FAIL', 'REVIEW']).to.include(mine[0].result);
      expect(mine[0].source).to.equal('folder');
      expect(readFileSync(path.join(drop, 'done', file)).equals(FRAME), `${file} moved whole`).to.equal(true);
    }
    expect(readdirSync(drop).filter((f) => f !== 'done')).to.deep.equal([]);
    expect(counts.folder).to.deep.equal({ received: 3, inspected: 2, skipped: 1 });
  });

  it('HTTP: a multipart upload and a raw body are answered with the verdict; a request without an image gets 422', async () => {
    const url = `http://127.0.0.1:${red!.port}/avi/inspect`;
    const form = new FormData();
    form.append('image', new Blob([FRAME], { type: 'image/jpeg' }), 'frame.jpg');
    const multipart = await fetch(url, { method: 'POST', body: form });
    expect(multipart.status, await multipart.clone().text()).to.equal(200);
    const verdict = (await multipart.json()) as any;
    expect(verdict).to.include({ source: 'http' });
    expect(['PASS', 'FAIL', 'REVIEW']).to.include(verdict.result);
    expect(verdict.models.detector.sha256).to.match(/^[0-9a-f]{64}$/);
    const raw = await fetch(`${url}/raw`, { method: 'POST', body: FRAME, headers: { 'Content-Type': 'image/jpeg' } });
    expect(raw.status, await raw.clone().text()).to.equal(200);
    expect(((await raw.json()) as any).result).to.equal(verdict.result);
    const bad = await fetch(`${url}/raw`, { method: 'POST', body: 'hello', headers: { 'Content-Type': 'text/plain' } });
    expect(bad.status).to.equal(422);
    expect(((await bad.json()) as any).error).to.match(/no image/);
    await until(() => counts.http?.skipped === 1, 5000, 'the http counts');
    expect(counts.http).to.deep.equal({ received: 3, inspected: 2, skipped: 1 });
  });

  it('MQTT: an image published to the camera topic gets its verdict on the UNS', async () => {
    const before = verdicts.filter((v) => v.source === 'mqtt').length;
    await client.publishAsync(`${UNS}/camera/image`, FRAME, { qos: 1 });
    await until(() => verdicts.filter((v) => v.source === 'mqtt').length === before + 1, 20_000, 'the MQTT verdict');
    // The counts are published on their own topic and may arrive after the verdict.
    await until(() => counts.mqtt?.inspected === 1, 5000, 'the MQTT counts');
    expect(counts.mqtt).to.include({ received: 1, inspected: 1 });
  });

  it('camera: ffmpeg frames at the set rate are inspected, and the stream is reopened after it ends', async () => {
    // The 2 s test file gives about 2 frames at 1 frame/s, then ffmpeg ends; more frames mean it was reopened.
    await until(() => verdicts.filter((v) => v.source === 'camera').length >= 5, 60_000, 'camera verdicts from at least three runs of ffmpeg');
    const frames = verdicts.filter((v) => v.source === 'camera').map((v) => v.frame);
    expect(frames).to.deep.equal([...frames].sort((a, b) => a - b));
    expect(new Set(frames).size).to.equal(frames.length);
    expect(counts.camera.received).to.be.at.least(5);
  });
});

describe('avi-camera in Node-RED: one frame per trigger', function () {
  this.timeout(30_000);
  const dir = tempDir('avi-camera-');
  afterEach(() => helper.unload());
  after(() => dir.cleanup());

  async function load(config: Record<string, unknown>) {
    await helper.load([cameraNode], [
      { id: 'camera', type: 'avi-camera', mode: 'trigger', fps: 10, quality: 5, width: 0, reconnect: 300, frameTimeout: 3000, ffmpeg: 'ffmpeg', maxFrameMB: 20, inputOptions: '', ...config, wires: [['out']] },
      { id: 'out', type: 'helper' },
    ]);
    const out: any[] = [];
    helper.getNode('out').on('input', (msg: any) => out.push(msg));
    return { camera: helper.getNode('camera'), out };
  }

  it('gives each trigger its own fresh JPEG, keeps the trigger message, counts the frames nobody asked for', async () => {
    const video = testVideo(dir.dir, 3);
    const { camera, out } = await load({ input: video, inputOptions: '-re -stream_loop -1' });
    const statuses: any[] = [];
    camera.on('call:status', (call: any) => statuses.push(call.args[0]));
    await sleep(1500);
    for (const partId of [1, 2, 3]) camera.receive({ payload: partId, partId, cell: { seq: partId } });
    await until(() => out.length === 3, 10_000, 'three frames');
    expect(out.map((m) => m.partId)).to.deep.equal([1, 2, 3]);
    for (const m of out) {
      expect(m.payload.subarray(0, 2).equals(Buffer.from([0xff, 0xd8]))).to.equal(true);
      expect(m.cell).to.be.an('object');
    }
    expect(new Set(out.map((m) => m.camera.frame)).size).to.equal(3);
    await sleep(400);
    const last = statuses.at(-1)?.text ?? '';
    expect(last).to.match(/streaming/);
    const skipped = Number(/(\d+) skipped/.exec(last)?.[1]);
    expect(skipped).to.be.above(0);
  });

  it('no stream: the trigger gets a clear error after the frame timeout, and ffmpeg is retried', async () => {
    const { camera } = await load({ input: path.join(dir.dir, 'missing.avi'), frameTimeout: 1500 });
    const statuses: any[] = [];
    camera.on('call:status', (call: any) => statuses.push(call.args[0]));
    const error = new Promise<any>((resolve) => camera.once('call:error', resolve));
    camera.receive({ payload: 1 });
    const call = await error;
    expect(String(call.args[0])).to.match(/no frame within 1500 ms.*missing\.avi/);
    const reconnects = Math.max(...statuses.map((s) => Number(/(\d+) reconnects/.exec(s.text)?.[1] ?? 0)));
    expect(reconnects, 'ffmpeg started again after the failure').to.be.at.least(1);
    expect(statuses.at(-1).fill).to.not.equal('green');
  });

  it('a deploy ends the triggers still waiting for a frame with an error the Catch node sees', async () => {
    // The Catch node comes first, so Node-RED stops it before the camera: an error reported at the camera's close is lost.
    const flow = [
      { id: 'f1', type: 'tab' },
      { id: 'catch', type: 'catch', scope: null, uncaught: false, wires: [[]] },
      { id: 'camera', type: 'avi-camera', mode: 'trigger', input: path.join(dir.dir, 'missing.avi'), frameTimeout: 20_000, reconnect: 300, ffmpeg: 'ffmpeg', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ].map((n) => (n.type === 'tab' ? n : { ...n, z: 'f1', x: 0, y: 0 }));
    await helper.load([cameraNode, require('@node-red/nodes/core/common/25-catch.js')], flow);
    const caught: any[] = [];
    helper.getNode('catch').on('input', (msg: any) => caught.push(msg));
    helper.getNode('camera').receive({ payload: 1, partId: 7 });
    await helper._redNodes.setFlows(flow, {}, 'full');
    expect(caught.map((m) => m.partId)).to.deep.equal([7]);
    expect(caught[0].error.message).to.match(/node closed before a frame came/);
  });
});
