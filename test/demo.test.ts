// `npm start` as a user runs it: Node-RED with the demo flow and an embedded MQTT broker, verdicts on MQTT,
// the editor on PORT, and Ctrl-C (SIGINT to the whole process group, as a terminal sends it) stopping everything.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { REPO_ROOT, tempDir } from './support/fixtures';

const MODELS = ['models/pill-detector.onnx', 'models/pill-defects.onnx'];
const DEMO_CLASSES = ['good', 'edge_defect', 'crack', 'spot', 'broken', 'unknown'];
const TOPIC = 'avi/demo/verdict';
const BROKER_LINE = /avi: MQTT broker (mqtt:\/\/127\.0\.0\.1:(\d+)) \(embedded\); verdicts on topic (\S+)/;

/** Listens on `port` on 127.0.0.1; undefined when the port is taken. */
function listen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => {
      // A client left reconnecting to 1883 by another spec would hold close() open: the blocker only refuses.
      socket.destroy();
    });
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(undefined) : reject(err)));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const close = (server: net.Server) => new Promise((resolve) => server.close(resolve));

async function freePort(): Promise<number> {
  const server = (await listen(0))!;
  const { port } = server.address() as net.AddressInfo;
  await close(server);
  return port;
}

/** Whether any process of the group is still alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

describe('npm start: the pill-line demo', function () {
  const userDir = tempDir('avi-demo-');
  let demo: ChildProcess;
  let output = '';
  let blocker: net.Server;
  let blockedPort: number;
  let brokerUrl: string;
  let brokerPort: number;
  let editorPort: number;
  let client: MqttClient | undefined;

  before(async function () {
    for (const model of MODELS) {
      expect(existsSync(path.join(REPO_ROOT, model)), `${model} is missing: the demo cannot run without it`).to.equal(true);
    }
    // The first free port from 1883 is taken here, so the demo has to move on to a later one.
    for (let port = 1883; !blocker; port++) {
      const server = await listen(port);
      if (server) [blocker, blockedPort] = [server, port];
    }
    editorPort = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(editorPort), AVI_DEMO_DIR: userDir.dir };
    delete env.MQTT_URL;
    // Its own process group, so that SIGINT reaches npm, the script and Node-RED at once, as Ctrl-C does.
    demo = spawn('npm', ['start'], { cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    demo.stdout!.on('data', (chunk) => (output += chunk));
    demo.stderr!.on('data', (chunk) => (output += chunk));
    const announced = await new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no broker line within 30 s:\n${output}`)), 30_000);
      const check = () => {
        const match = BROKER_LINE.exec(output);
        if (!match) return;
        clearTimeout(timer);
        demo.stdout!.off('data', check);
        resolve(match);
      };
      demo.stdout!.on('data', check);
      demo.once('exit', (code) => reject(new Error(`npm start exited (${code}) before announcing its broker:\n${output}`)));
    });
    [, brokerUrl] = announced;
    brokerPort = Number(announced[2]);
    expect(announced[3]).to.equal(TOPIC);
  });

  after(async () => {
    await client?.endAsync(true);
    if (demo?.pid && groupAlive(demo.pid)) process.kill(-demo.pid, 'SIGKILL');
    if (blocker) await close(blocker);
    userDir.cleanup();
  });

  it('embeds its broker on the next free port when 1883 (or the first free one) is taken', () => {
    expect(brokerPort).to.be.greaterThan(blockedPort);
    // The demo flow in the private user directory publishes to that broker.
    const flows = JSON.parse(readFileSync(path.join(userDir.dir, 'flows.json'), 'utf8'));
    expect(flows.find((n: any) => n.type === 'mqtt-broker')).to.include({ broker: brokerUrl });
  });

  it('publishes a verdict for an example frame to avi/demo/verdict, traceable to both models', async () => {
    client = await connectAsync(brokerUrl, { connectTimeout: 5000, reconnectPeriod: 0 });
    const message = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no verdict within 45 s:\n${output}`)), 45_000);
      client!.once('message', (_topic, payload) => {
        clearTimeout(timer);
        resolve(payload);
      });
    });
    await client.subscribeAsync(TOPIC, { qos: 1 });
    const payload = await message;
    expect(payload.length, 'a compact verdict, no image data').to.be.below(8192);
    const verdict = JSON.parse(payload.toString());

    expect(verdict.frame).to.match(/^line-000[1-6]\.jpg$/);
    expect(verdict.line).to.equal('line-1');
    expect(['PASS', 'FAIL', 'REVIEW']).to.include(verdict.result);
    const { total, pass, fail, review, byClass } = verdict.counts;
    expect(pass + fail + review).to.equal(total);
    expect(Object.values(byClass).reduce((a: number, b) => a + (b as number), 0)).to.equal(total);
    // Every unit carries the classifier's condition (or "unknown"), not the detector's "pill".
    expect(DEMO_CLASSES).to.include.members(Object.keys(byClass));
    // The demo's rules: any defect rejects; an unsure unit or an empty frame goes to review.
    const expected = fail > 0 ? 'FAIL' : review > 0 || total === 0 ? 'REVIEW' : 'PASS';
    expect(verdict.result).to.equal(expected);
    expect(verdict.reasons).to.have.length(fail + review + (total === 0 ? 1 : 0));

    expect(verdict.models.detector).to.deep.equal({ name: 'pill-detector.onnx', sha256: sha256(path.join(REPO_ROOT, MODELS[0])) });
    expect(verdict.models.classifier).to.deep.equal({ name: 'pill-defects.onnx', sha256: sha256(path.join(REPO_ROOT, MODELS[1])) });
    expect(verdict.rulesHash).to.match(/^[0-9a-f]{64}$/);
    expect(Date.now() - Date.parse(verdict.timestamp)).to.be.within(0, 60_000);
  });

  it('serves the Node-RED editor on PORT', async () => {
    const response = await fetch(`http://127.0.0.1:${editorPort}/`);
    expect(response.status).to.equal(200);
    expect(await response.text()).to.include('Node-RED');
  });

  it('listens on 127.0.0.1 only, and says how to open the editor to the network with adminAuth', async function () {
    const external = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal);
    if (!external) this.skip(); // a machine with loopback only has nothing else to listen on
    const reached = await fetch(`http://${external!.address}:${editorPort}/`).then(
      () => true,
      () => false,
    );
    expect(reached, `the editor answers on ${external!.address}`).to.equal(false);
    expect(output).to.match(/listens on this machine only[\s\S]*adminAuth[\s\S]*HOST=0\.0\.0\.0/);
  });

  it('stops Node-RED and the broker on Ctrl-C, leaving no process behind', async () => {
    await client?.endAsync(true);
    client = undefined;
    const started = Date.now();
    // 'close': npm has exited and every process writing to its output (the script, Node-RED) has let go of it.
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => demo.once('close', (code, signal) => resolve({ code, signal })));
    process.kill(-demo.pid!, 'SIGINT');
    const { code, signal } = await exited;
    expect(code === 0 || signal === 'SIGINT', `exit code ${code}, signal ${signal}:\n${output}`).to.equal(true);
    // The rest of the group (the script, Node-RED) is gone too.
    while (groupAlive(demo.pid!) && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 100));
    expect(groupAlive(demo.pid!), 'a process of npm start is still running').to.equal(false);
    expect(Date.now() - started).to.be.below(10_000);
    const reuse = await listen(brokerPort);
    expect(reuse, `broker port ${brokerPort} still taken`).to.not.equal(undefined);
    await close(reuse!);
    expect(output).to.include('Stopped flows');
  });
});
