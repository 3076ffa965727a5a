// Runs `npm start`'s script (scripts/start-demo.js) in a temp user directory on a free port, with a flow given
// by the caller, for the browser test and the dashboard benchmark. The caller stops it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { REPO_ROOT, tempDir } from './fixtures';

export const LINE_DASHBOARD = path.join(REPO_ROOT, 'examples', 'line-dashboard.json');

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface RunningDemo {
  /** The process of scripts/start-demo.js; Node-RED is its child. */
  pid: number;
  url: string;
  brokerUrl: string;
  output: () => string;
  stop: () => Promise<void>;
}

/** The line dashboard example, changed by `edit` (node by node), as the demo's flows.json. */
export function dashboardFlow(edit: (node: any) => void = () => {}): any[] {
  const flows = JSON.parse(readFileSync(LINE_DASHBOARD, 'utf8'));
  flows.forEach(edit);
  return flows;
}

export async function startDemo(flows: any[], timeoutMs = 60_000): Promise<RunningDemo> {
  const userDir = tempDir('avi-dashboard-');
  writeFileSync(path.join(userDir.dir, 'flows.json'), JSON.stringify(flows));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), AVI_DEMO_DIR: userDir.dir };
  delete env.MQTT_URL;
  const child: ChildProcess = spawn(process.execPath, [path.join(REPO_ROOT, 'scripts', 'start-demo.js')], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    userDir.cleanup();
  };
  try {
    // Started: the broker is announced and the flows (the dashboard with them) are running.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the demo did not start within ${timeoutMs / 1000} s:\n${output}`)), timeoutMs);
      const check = () => {
        if (!/Started flows/.test(output)) return;
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve();
      };
      child.stdout!.on('data', check);
      child.once('exit', (code) => reject(new Error(`the demo exited (${code}):\n${output}`)));
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const broker = /avi: MQTT broker (mqtt:\/\/127\.0\.0\.1:\d+)/.exec(output);
  return { pid: child.pid!, url: `http://127.0.0.1:${port}`, brokerUrl: broker ? broker[1] : '', output: () => output, stop };
}
