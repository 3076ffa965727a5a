#!/usr/bin/env node
// npm start: Node-RED from this project's own dependencies, with a private user directory (.demo/node-red)
// in which this package is installed by a link, so the palette has the avi nodes. Offline; Ctrl-C stops it.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const userDir = path.join(root, '.demo', 'node-red');
const port = process.env.PORT || '1880';

if (!fs.existsSync(path.join(root, 'dist', 'src', 'nodes'))) {
  console.error('avi: the package is not built; run `npm install` (or `npm run build`) first');
  process.exit(1);
}
const link = path.join(userDir, 'node_modules', ...pkg.name.split('/'));
fs.mkdirSync(path.dirname(link), { recursive: true });
if (!fs.existsSync(link)) fs.symlinkSync(root, link, 'dir');
// Node-RED lists only the packages its user directory depends on.
fs.writeFileSync(
  path.join(userDir, 'package.json'),
  JSON.stringify({ name: 'avi-demo', private: true, dependencies: { [pkg.name]: `file:${root}` } }, null, 2),
);
const demoFlow = path.join(root, 'examples', 'demo-pill-line.json');
const flows = path.join(userDir, 'flows.json');
if (fs.existsSync(demoFlow) && !fs.existsSync(flows)) fs.copyFileSync(demoFlow, flows);

const red = spawn(process.execPath, [require.resolve('node-red/red.js'), '--userDir', userDir, '--port', port], { stdio: 'inherit' });
console.log(`avi: Node-RED starting at http://127.0.0.1:${port} (user directory ${path.relative(process.cwd(), userDir)})`);
const stop = () => red.kill('SIGINT');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
red.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
