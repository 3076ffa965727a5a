// The line dashboard's cost to the line: demo throughput with the dashboard open in a browser against closed, in
// the same run. `npm run build && node dist/bench/dashboard.js [seconds per phase] [frames in flight]`.
// The demo (scripts/start-demo.js, examples/line-dashboard.json) runs flat out: each verdict (or error) sends
// the next frame, with a fixed number in flight. Phases: closed, open (Chromium at 1920x1080 on /dashboard),
// closed again. Frames/s from the verdicts on MQTT, and the CPU time of the Node-RED process (its worker threads
// included) per frame: the browser runs on this machine too and takes CPU from the line, which on a plant it
// does not (it runs on the panel), so frames/s is an upper bound on the cost and CPU per frame the line's own share.
import { readdirSync, readFileSync } from 'node:fs';
import { connectAsync } from 'mqtt';
import { chromium } from 'playwright-core';
import { dashboardFlow, startDemo } from '../test/support/demo-runner';

const seconds = Number(process.argv[2] ?? 30);
const inFlight = Number(process.argv[3] ?? 4);
const WARM_UP_S = 10;

/** The demo flow, driven by its own verdicts instead of a timer. */
function flatOut(): any[] {
  const flows = dashboardFlow();
  const tab = flows.find((n) => n.type === 'tab').id;
  const camera = flows.find((n) => n.type === 'function' && n.name.startsWith('demo camera'));
  const router = flows.find((n) => n.type === 'avi-router');
  const lineErrors = flows.find((n) => n.type === 'catch');
  for (const inject of flows.filter((n) => n.type === 'inject' && n.wires[0].includes(camera.id))) inject.repeat = '';
  const next = { id: 'bench0next000001', type: 'function', z: tab, name: 'next frame', func: 'return { topic: "bench" };', outputs: 1, x: 0, y: 0, wires: [[camera.id]] };
  const start = {
    id: 'bench0start00001', type: 'inject', z: tab, name: 'frames in flight', props: [], repeat: '', once: true, onceDelay: '2', x: 0, y: 0,
    wires: [Array.from({ length: inFlight }, () => next.id)],
  };
  router.wires = router.wires.map((w: string[]) => [...w, next.id]);
  lineErrors.wires[0].push(next.id);
  return [...flows, next, start];
}

/** user + system CPU seconds of a process, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** The Node-RED process: the child of scripts/start-demo.js. */
function childOf(parent: number): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1].split(' ')[1]) === parent) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no child process of ${parent}`);
}

async function main(): Promise<void> {
  const demo = await startDemo(flatOut());
  const nodeRed = childOf(demo.pid);
  const mqtt = await connectAsync(demo.brokerUrl, { reconnectPeriod: 0 });
  let verdicts = 0;
  mqtt.on('message', () => verdicts++);
  await mqtt.subscribeAsync('avi/demo/verdict', { qos: 0 });
  const phase = async (what: string): Promise<{ rate: number; cpuMs: number }> => {
    const [n0, t0, c0] = [verdicts, Date.now(), cpuSeconds(nodeRed)];
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const frames = verdicts - n0;
    const rate = frames / ((Date.now() - t0) / 1000);
    const cpuMs = (1000 * (cpuSeconds(nodeRed) - c0)) / frames;
    console.log(`${what.padEnd(16)} ${rate.toFixed(2)} frames/s, Node-RED ${cpuMs.toFixed(1)} ms CPU a frame`);
    return { rate, cpuMs };
  };
  try {
    await new Promise((r) => setTimeout(r, WARM_UP_S * 1000));
    console.log(`demo flat out, ${inFlight} frames in flight, ${seconds} s a phase`);
    const closedBefore = await phase('dashboard closed');
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
    const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
    let bytes = 0;
    page.on('websocket', (ws) => ws.on('framereceived', (f) => (bytes += typeof f.payload === 'string' ? Buffer.byteLength(f.payload) : f.payload.length)));
    await page.goto(`${demo.url}/dashboard`);
    await page.getByTestId('frame').waitFor({ timeout: 30_000 });
    const open = await phase('dashboard open');
    console.log(`${''.padEnd(16)} ${(bytes / seconds / 1024).toFixed(0)} KiB/s over the websocket`);
    await browser.close();
    const closedAfter = await phase('dashboard closed');
    const closedRate = (closedBefore.rate + closedAfter.rate) / 2;
    const closedCpu = (closedBefore.cpuMs + closedAfter.cpuMs) / 2;
    console.log(`open / closed    ${(open.rate / closedRate).toFixed(3)} frames/s, ${(open.cpuMs / closedCpu).toFixed(3)} Node-RED CPU a frame`);
  } finally {
    await mqtt.endAsync(true);
    await demo.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
