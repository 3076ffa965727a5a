#!/usr/bin/env node
// An offline bundle for one platform: this package with every dependency inside it (bundleDependencies), carrying
// only that platform's onnxruntime and sharp binaries, in one .tgz for an air-gapped gateway.
//   node scripts/bundle.js linux-arm64 [--tgz PACKAGE.tgz] [--out DIR]
// Fetches from the npm registry only (dependencies and the platform's @img/sharp-* packages). On the gateway:
//   npm install --offline --ignore-scripts ./<bundle>.tgz     (in the Node-RED user directory)
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const PLATFORMS = { 'linux-x64': { os: 'linux', cpu: 'x64' }, 'linux-arm64': { os: 'linux', cpu: 'arm64' } };
const CUDA_PLACEHOLDERS = require('./onnxruntime-cpu-only/index.js').CUDA_LIBRARIES;

function run(cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
}

function argValue(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

function main() {
  const platform = process.argv[2];
  const target = PLATFORMS[platform];
  if (!target) throw new Error(`usage: node scripts/bundle.js ${Object.keys(PLATFORMS).join('|')} [--tgz PACKAGE.tgz] [--out DIR]`);
  const out = path.resolve(argValue('--out') ?? path.join(root, 'bundles'));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'avi-bundle-'));
  try {
    let tgz = argValue('--tgz');
    if (!tgz) tgz = path.join(work, run('npm', ['pack', '--silent', '--pack-destination', work], root).trim().split('\n').pop());
    run('tar', ['-xzf', path.resolve(tgz), '-C', work]);
    const dir = path.join(work, 'package');

    // The bundle installs with --ignore-scripts: nothing of the package's own install machinery is needed.
    const pkgFile = path.join(dir, 'package.json');
    const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
    delete pkg.devDependencies;
    delete pkg.scripts;
    pkg.bundleDependencies = Object.keys(pkg.dependencies);
    fs.writeFileSync(pkgFile, JSON.stringify(pkg, null, 2) + '\n');

    // npm picks the optional platform packages (sharp's @img/sharp-<os>-<cpu>) for the target, not this machine.
    run('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-package-lock', '--no-audit', '--no-fund',
      `--os=${target.os}`, `--cpu=${target.cpu}`, '--libc=glibc'], dir);

    // onnxruntime-node ships every platform's binaries (about 300 MB); keep the target's only.
    const napi = path.join(dir, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');
    for (const osName of fs.readdirSync(napi)) {
      for (const cpu of fs.readdirSync(path.join(napi, osName))) {
        if (osName !== target.os || cpu !== target.cpu) fs.rmSync(path.join(napi, osName, cpu), { recursive: true });
      }
      if (fs.readdirSync(path.join(napi, osName)).length === 0) fs.rmdirSync(path.join(napi, osName));
    }
    // If someone installs it with scripts after all, onnxruntime-node's postinstall finds nothing to download.
    if (target.cpu === 'x64') for (const name of CUDA_PLACEHOLDERS) fs.writeFileSync(path.join(napi, target.os, target.cpu, name), '');

    // better-sqlite3 (the audit record's SQLite) builds its binary at install; bring this machine's build when
    // it is for the same platform and version, otherwise the bundle lacks it and says so.
    const sqliteBuild = path.join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
    const sameVersion = (p) => JSON.parse(fs.readFileSync(path.join(p, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')).version;
    if (platform === `${process.platform}-${process.arch}` && fs.existsSync(path.join(root, sqliteBuild)) && sameVersion(root) === sameVersion(dir)) {
      fs.mkdirSync(path.dirname(path.join(dir, sqliteBuild)), { recursive: true });
      fs.copyFileSync(path.join(root, sqliteBuild), path.join(dir, sqliteBuild));
    } else {
      console.warn(`avi: no better-sqlite3 binary for ${platform} on this machine: the bundle's SQLite audit store will not load (build it on a ${platform} machine with Node ${process.versions.node.split('.')[0]})`);
    }

    fs.mkdirSync(out, { recursive: true });
    const packed = run('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', work], dir).trim().split('\n').pop();
    const bundle = path.join(out, packed.replace(/\.tgz$/, `-${platform}-node${process.versions.node.split('.')[0]}.tgz`));
    fs.renameSync(path.join(work, packed), bundle);
    console.log(bundle);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main();
