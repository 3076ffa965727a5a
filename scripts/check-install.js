#!/usr/bin/env node
// The ways this package installs on a gateway, checked for real (.ci/run runs it; a few minutes, most of it
// better-sqlite3 compiling):
//  1. a gateway that reaches only the npm registry: `npm install <tgz>` in a fresh Node-RED user directory, with
//     every host name any process of the install reaches for logged (scripts/host-log.js);
//  2. an air-gapped gateway: the linux-x64 offline bundle installs and runs the demo flow in a network namespace
//     with nothing but loopback (unshare -n, as root), and the linux-arm64 bundle carries arm64 binaries only.
// (The third way, the repository's own `npm ci`, is .ci/run itself.)
//   node scripts/check-install.js [--tgz PACKAGE.tgz] [--keep]
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
/** Hosts an install may reach for besides the registry, and why (see README, "Installing"). */
const KNOWN_FALLBACKS = {
  'github.com': "better-sqlite3's prebuild-install looks for a prebuilt binary there first, then compiles from source",
};
const DEMO_FLOW = path.join(root, 'examples', 'demo-pill-line.json');
const NODE_RED = require.resolve('node-red/red.js', { paths: [root] });

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'avi-install-'));
const report = [];
const step = (text) => console.log(`\n== ${text}`);
const seconds = (start) => `${((Date.now() - start) / 1000).toFixed(0)} s`;
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

function run(cmd, args, options = {}) {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...options });
}
function sizeOf(dir) {
  return Number(run('du', ['-sb', dir]).split('\t')[0]);
}
function freshUserDir(name) {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
  return dir;
}
function argValue(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
function check(ok, what) {
  if (!ok) throw new Error(`install check failed: ${what}`);
  console.log(`ok: ${what}`);
}
/** The machine an ELF shared object is built for, from its header. */
function elfMachine(file) {
  const header = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, header, 0, 20, 0);
  fs.closeSync(fd);
  return { 0x3e: 'x64', 0xb7: 'arm64' }[header.readUInt16LE(18)] ?? `machine ${header.readUInt16LE(18)}`;
}

function pack() {
  const given = argValue('--tgz');
  if (given) return path.resolve(given);
  const name = run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: root }).trim().split('\n').pop();
  return path.join(work, name);
}

function registryInstall(tgz) {
  step('1. npm install <tgz> in a fresh user directory, only the npm registry reachable');
  const userDir = freshUserDir('registry');
  const hostLog = path.join(work, 'hosts.log');
  const registry = new URL(run('npm', ['config', 'get', 'registry']).trim()).hostname;
  const started = Date.now();
  run('npm', ['install', '--no-audit', '--no-fund', tgz], {
    cwd: userDir,
    stdio: 'inherit',
    env: { ...process.env, NODE_OPTIONS: `--require ${path.join(__dirname, 'host-log.js')}`, AVI_HOST_LOG: hostLog },
  });
  const took = seconds(started);
  const hosts = [...new Set(fs.existsSync(hostLog) ? fs.readFileSync(hostLog, 'utf8').split('\n').filter(Boolean) : [])];
  const others = hosts.filter((h) => h !== registry && !['localhost', '127.0.0.1', '::1'].includes(h));
  for (const host of others) console.log(`note: ${host} was looked up: ${KNOWN_FALLBACKS[host] ?? 'unexpected'}`);
  check(others.every((h) => h in KNOWN_FALLBACKS), `no host reached for but ${registry}${others.length ? ` and ${others.join(', ')} (known fallbacks)` : ''}`);
  const size = sizeOf(path.join(userDir, 'node_modules'));
  report.push(`registry install: ${took}, node_modules ${mib(size)}, hosts: ${hosts.join(', ')}`);
  return userDir;
}

function bundle(platform, tgz) {
  const started = Date.now();
  const file = run(process.execPath, [path.join(__dirname, 'bundle.js'), platform, '--tgz', tgz, '--out', path.join(work, 'bundles')]).trim().split('\n').pop();
  report.push(`${platform} bundle: made in ${seconds(started)}, ${mib(fs.statSync(file).size)} (${path.basename(file)})`);
  return file;
}

/** Runs the demo flow in userDir in a network namespace with loopback only, until `frames` verdicts are written. */
async function runDemoOffline(userDir, frames) {
  const flows = JSON.parse(fs.readFileSync(DEMO_FLOW, 'utf8'));
  const verdicts = path.join(work, 'verdicts.txt');
  const router = flows.find((n) => n.type === 'avi-router');
  const tab = router.z;
  flows.push(
    { id: 'checkverdict0001', type: 'function', z: tab, func: 'return { payload: msg.verdict.result };', outputs: 1, x: 0, y: 0, wires: [['checkfile0000001']] },
    { id: 'checkfile0000001', type: 'file', z: tab, filename: verdicts, filenameType: 'str', appendNewline: true, createDir: false, overwriteFile: 'false', encoding: 'none', x: 0, y: 0, wires: [] },
  );
  router.wires = router.wires.map((port) => [...port, 'checkverdict0001']);
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flows));
  const script = `ip link set lo up && exec ${JSON.stringify(process.execPath)} ${JSON.stringify(NODE_RED)} --userDir ${JSON.stringify(userDir)} --port 0`;
  const child = spawn('unshare', ['-n', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  try {
    const deadline = Date.now() + 120000;
    while (Date.now() < deadline) {
      const lines = fs.existsSync(verdicts) ? fs.readFileSync(verdicts, 'utf8').split('\n').filter(Boolean) : [];
      if (lines.length >= frames) return lines;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`the demo flow gave no ${frames} verdicts offline; Node-RED said:\n${log.slice(-3000)}`);
  } finally {
    child.kill();
  }
}

async function offlineBundles(tgz) {
  step('2. offline bundles: linux-x64 installed and run with the network cut, linux-arm64 checked for its binaries');
  const arm = bundle('linux-arm64', tgz);
  const armFiles = run('tar', ['-tzf', arm]).split('\n');
  check(armFiles.some((f) => f.includes('onnxruntime-node/bin/napi-v6/linux/arm64/')) && !armFiles.some((f) => /napi-v6\/(?!linux\/arm64)/.test(f) && f.endsWith('.node')), 'linux-arm64 bundle: onnxruntime for linux/arm64 only');
  check(armFiles.some((f) => f.includes('@img/sharp-linux-arm64/')) && !armFiles.some((f) => f.includes('@img/sharp-linux-x64/')), 'linux-arm64 bundle: sharp for linux-arm64 only');
  const armDir = path.join(work, 'arm');
  fs.mkdirSync(armDir);
  run('tar', ['-xzf', arm, '-C', armDir, '--wildcards', '*onnxruntime_binding.node', '*sharp-linux-arm64*.node']);
  for (const f of run('find', [armDir, '-name', '*.node']).trim().split('\n')) check(elfMachine(f) === 'arm64', `${path.basename(f)} is built for arm64`);

  const x64 = bundle('linux-x64', tgz);
  const userDir = freshUserDir('offline');
  const started = Date.now();
  run('unshare', ['-n', 'npm', 'install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', x64], { cwd: userDir, stdio: 'inherit' });
  report.push(`linux-x64 bundle install, network cut: ${seconds(started)}, node_modules ${mib(sizeOf(path.join(userDir, 'node_modules')))}`);
  const demoStarted = Date.now();
  const verdicts = await runDemoOffline(userDir, 3);
  check(verdicts.every((v) => ['PASS', 'FAIL', 'REVIEW'].includes(v)), `the demo flow judged ${verdicts.length} frames with the network cut: ${verdicts.join(', ')}`);
  report.push(`demo flow offline: first ${verdicts.length} verdicts in ${seconds(demoStarted)} from Node-RED start`);
}

async function main() {
  const started = Date.now();
  try {
    const tgz = pack();
    report.push(`package: ${path.basename(tgz)}, ${mib(fs.statSync(tgz).size)}`);
    registryInstall(tgz);
    if (process.getuid?.() === 0) await offlineBundles(tgz);
    else console.log('not root: the offline bundle check (unshare -n) is skipped');
  } finally {
    if (!process.argv.includes('--keep')) fs.rmSync(work, { recursive: true, force: true });
  }
  console.log(`\n== install checks passed in ${seconds(started)}\n${report.join('\n')}`);
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
