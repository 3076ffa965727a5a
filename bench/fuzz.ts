// Malformed frames through the whole demo chain (detector -> crop -> classifier -> class replace -> router ->
// visualizer) in one Node-RED runtime: every frame must end either sent on or caught, never lost, never a crash.
// Prints in / out / caught, peak RSS and the slowest frame. Not part of npm test (it takes minutes).
//   npm run build && node dist/bench/fuzz.js [frames=10000] [seed=1] [kinds, e.g. valid,truncated]
// Node-RED is embedded as a user runs it, not node-red-node-test-helper: the helper's spies keep every message sent
// (each call's arguments), frames and all, until unload.
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { startEmbeddedNodeRed } from '../test/support/embedded-node-red';
import { pngClaiming, SVG_BOMB } from '../test/support/fixtures';
import { MessageLedger } from '../test/support/message-ledger';

const ROOT = path.resolve(__dirname, '..', '..');
const IN_FLIGHT = 8;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 10000);
  const random = rng(Number(process.argv[3] ?? 1));
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
  const images = readdirSync(path.join(ROOT, 'example-images')).filter((f) => f.endsWith('.jpg')).map((f) => readFileSync(path.join(ROOT, 'example-images', f)));
  const png = await sharp(images[0]).png().toBuffer();
  const webp = await sharp(images[1]).webp().toBuffer();
  const sources = [...images, png, webp];
  const bomb = await sharp({ create: { width: 7071, height: 7071, channels: 3, background: '#555' } }).jpeg({ quality: 10 }).toBuffer(); // 50.0 MP
  const kinds: Record<string, () => Buffer | string> = {
    valid: () => pick(sources),
    truncated: () => {
      const b = pick(sources);
      return b.subarray(0, Math.floor(random() * b.length));
    },
    bitflipped: () => {
      const b = Buffer.from(pick(sources));
      for (let i = 0, n = 1 + Math.floor(random() * 64); i < n; i++) b[Math.floor(random() * b.length)] ^= 1 << Math.floor(random() * 8);
      return b;
    },
    spliced: () => {
      const [a, b] = [pick(sources), pick(sources)];
      return Buffer.concat([a.subarray(0, Math.floor(random() * a.length)), b.subarray(Math.floor(random() * b.length))]);
    },
    random: () => Buffer.from(Array.from({ length: 1 + Math.floor(random() * 4096) }, () => Math.floor(random() * 256))),
    hugeDeclared: () => pngClaiming(1 + Math.floor(random() * 100000), 1 + Math.floor(random() * 100000)),
    bomb50mp: () => bomb,
    svg: () => SVG_BOMB,
    path: () => pick(['/dev/zero', '/etc/passwd', '../../../../etc/shadow', 'example-images/line-0001.jpg', '/no/such.jpg']),
  };
  // A third argument keeps only those kinds, e.g. "valid,bitflipped".
  const names = process.argv[4] ? process.argv[4].split(',') : Object.keys(kinds);
  // A 50 MP frame takes about a second to decode and judge: one in 40, so that 10,000 frames fit in minutes.
  const draws = names.flatMap((k) => Array(k === 'bomb50mp' ? 1 : 5).fill(k) as string[]);

  const flow = JSON.parse(readFileSync(path.join(ROOT, 'examples', 'demo-pill-line.json'), 'utf8')).filter((n: { type: string }) =>
    ['tab', 'avi-model', 'avi-detector', 'avi-crop', 'avi-classifier', 'avi-class-replace', 'avi-router', 'avi-visualizer'].includes(n.type),
  );
  // Wires to the nodes left out (the demo's MQTT publishing) would send every frame nowhere.
  const kept = new Set(flow.map((n: { id: string }) => n.id));
  for (const n of flow as Array<{ wires?: string[][] }>) n.wires = n.wires?.map((w) => w.filter((id) => kept.has(id)));
  const visualizer = flow.find((n: { type: string }) => n.type === 'avi-visualizer');
  visualizer.wires = [['fuzz-out']];
  visualizer.preview = false;
  const z = visualizer.z;
  const sink = (id: string) => ({ id, type: 'debug', z, active: false, tosidebar: false, console: false, complete: 'false', wires: [] });
  flow.push(sink('fuzz-out'), { id: 'fuzz-catch', type: 'catch', z, scope: null, uncaught: false, wires: [['fuzz-caught']] }, sink('fuzz-caught'));
  const runtime = await startEmbeddedNodeRed(flow);
  const detector = runtime.RED.nodes.getNode(flow.find((n: { type: string }) => n.type === 'avi-detector').id);

  const started = new Map<number, number>();
  const byKind: Record<string, { in: number; out: number; caught: number }> = Object.fromEntries(names.map((k) => [k, { in: 0, out: 0, caught: 0 }]));
  const kindOf = new Map<number, string>();
  let out = 0;
  let caught = 0;
  let slowest = { ms: 0, kind: '' };
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const unhandled: unknown[] = [];
  process.on('unhandledRejection', (err) => unhandled.push(err));
  const ledger = new MessageLedger(runtime.RED, {
    ours: (type) => type.startsWith('avi-'),
    sinks: ['fuzz-out'],
    key: 'n',
    onEnd: (n, how) => {
      const ms = performance.now() - started.get(n)!;
      started.delete(n);
      const kind = kindOf.get(n)!;
      if (ms > slowest.ms) slowest = { ms, kind };
      byKind[kind][how]++;
      if (how === 'out') out++;
      else caught++;
    },
  });

  const t0 = performance.now();
  for (let n = 0; n < total; n++) {
    while (started.size >= IN_FLIGHT) await new Promise((r) => setImmediate(r));
    const kind = pick(draws);
    kindOf.set(n, kind);
    byKind[kind].in++;
    started.set(n, performance.now());
    detector.receive({ payload: kinds[kind](), n });
    if (n % 250 === 249) process.stderr.write(`  ${n + 1} sent, ${out} out, ${caught} caught, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB\n`);
  }
  const deadline = Date.now() + 60_000;
  while (started.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  clearInterval(sampler);
  const seconds = (performance.now() - t0) / 1000;
  const { faults, droppedByNodeRed } = ledger.summary();
  await runtime.stop();

  console.log(JSON.stringify({ in: total, out, caught, lost: started.size, droppedByNodeRed, faults: faults.length, firstFaults: faults.slice(0, 3), unhandledRejections: unhandled.length, peakRssMiB: Math.round(peakRss / 2 ** 20), slowestFrameMs: Math.round(slowest.ms), slowestKind: slowest.kind, seconds: Math.round(seconds), byKind }, null, 1));
  process.exitCode = out + caught === total && started.size === 0 && faults.length === 0 && unhandled.length === 0 ? 0 : 1;
  process.exit();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
