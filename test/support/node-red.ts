// A real Node-RED process, as a user runs it: this package installed in a private user directory by a link, the
// given flows deployed, the plant's node packages (node-red-contrib-opcua, -modbus) found beside Node-RED.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, tempDir } from './fixtures';
import { freePort } from './plc';

export interface NodeRed {
  port: number;
  userDir: string;
  output: () => string;
  stop: () => Promise<void>;
}

/** An example flow from examples/, parsed, for the test to patch its endpoints. */
export function exampleFlow(name: string): any[] {
  return JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', name), 'utf8'));
}

export async function startNodeRed(flows: unknown[], startTimeoutMs = 60_000): Promise<NodeRed> {
  const dir = tempDir('avi-node-red-');
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
  const link = path.join(dir.dir, 'node_modules', ...pkg.name.split('/'));
  mkdirSync(path.dirname(link), { recursive: true });
  symlinkSync(REPO_ROOT, link, 'dir');
  writeFileSync(path.join(dir.dir, 'package.json'), JSON.stringify({ name: 'avi-test', private: true, dependencies: { [pkg.name]: `file:${REPO_ROOT}` } }));
  writeFileSync(path.join(dir.dir, 'flows.json'), JSON.stringify(flows));
  const port = await freePort();
  writeFileSync(
    path.join(dir.dir, 'settings.js'),
    `module.exports = { uiHost: '127.0.0.1', uiPort: ${port}, flowFile: 'flows.json', credentialSecret: false, httpAdminRoot: '/', httpNodeRoot: '/',
      logging: { console: { level: 'warn' } }, editorTheme: { tours: false } };`,
  );
  let output = '';
  const red: ChildProcess = spawn(process.execPath, [require.resolve('node-red/red.js'), '--userDir', dir.dir, '--settings', path.join(dir.dir, 'settings.js')], {
    cwd: dir.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  red.stdout!.on('data', (chunk) => (output += chunk));
  red.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => red.once('exit', () => resolve()));
  const stop = async () => {
    if (red.exitCode === null && red.signalCode === null) {
      red.kill('SIGINT');
      const forced = setTimeout(() => red.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(forced);
    }
    dir.cleanup();
  };
  // Ready when the admin API answers with the flows deployed.
  const started = Date.now();
  for (;;) {
    if (red.exitCode !== null) throw new Error(`Node-RED exited (${red.exitCode}):\n${output}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/flows`, { headers: { 'Node-RED-API-Version': 'v2' } });
      if (response.ok && ((await response.json()) as { flows: unknown[] }).flows.length > 0) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > startTimeoutMs) {
      await stop();
      throw new Error(`Node-RED did not start within ${startTimeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { port, userDir: dir.dir, output: () => output, stop };
}
