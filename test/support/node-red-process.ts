// A real Node-RED process in a given user directory, with this package installed by a link and the given
// flows deployed; stopped gently, or killed with SIGKILL to play a power cut.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { REPO_ROOT } from './fixtures';

export interface NodeRedProcess {
  url: string;
  output: () => string;
  stop: () => Promise<void>;
  kill9: () => Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `readyPath`: a path that answers 200 once the flows' nodes have started (the flows API answers before that). */
export async function startNodeRed(userDir: string, flows: unknown[], credentials: Record<string, unknown> = {}, readyPath?: string): Promise<NodeRedProcess> {
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
  const link = path.join(userDir, 'node_modules', ...pkg.name.split('/'));
  mkdirSync(path.dirname(link), { recursive: true });
  if (!existsSync(link)) symlinkSync(REPO_ROOT, link, 'dir');
  writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'avi-test', private: true, dependencies: { [pkg.name]: `file:${REPO_ROOT}` } }));
  writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flows));
  writeFileSync(path.join(userDir, 'flows_cred.json'), JSON.stringify(credentials));
  const port = await freePort();
  writeFileSync(
    path.join(userDir, 'settings.js'),
    `module.exports = { uiHost: '127.0.0.1', uiPort: ${port}, flowFile: 'flows.json', credentialSecret: false,
      logging: { console: { level: 'warn' } }, editorTheme: { tours: false } };`,
  );
  let output = '';
  const red: ChildProcess = spawn(process.execPath, [require.resolve('node-red/red.js'), '--userDir', userDir, '--settings', path.join(userDir, 'settings.js')], {
    cwd: userDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  red.stdout!.on('data', (chunk) => (output += chunk));
  red.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => red.once('exit', () => resolve()));
  const running = () => red.exitCode === null && red.signalCode === null;
  const stop = async () => {
    if (!running()) return;
    red.kill('SIGINT');
    const forced = setTimeout(() => red.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(forced);
  };
  const kill9 = async () => {
    if (!running()) return;
    red.kill('SIGKILL');
    await exited;
  };
  const url = `http://127.0.0.1:${port}`;
  for (const started = Date.now(); ; ) {
    if (!running()) throw new Error(`Node-RED exited (${red.exitCode}):\n${output}`);
    try {
      const response = await fetch(`${url}/flows`, { headers: { 'Node-RED-API-Version': 'v2' } });
      if (response.ok && ((await response.json()) as { flows: unknown[] }).flows.length > 0 && (!readyPath || (await fetch(`${url}${readyPath}`)).ok)) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > 60_000) {
      await stop();
      throw new Error(`Node-RED did not start within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, output: () => output, stop, kill9 };
}
