#!/usr/bin/env node
// preinstall: lets this package install where only an npm registry is reachable.
// On linux/x64, onnxruntime-node's postinstall downloads its CUDA libraries (several hundred MB) from
// api.nuget.org, and fails the whole install where that host cannot be reached. It skips the download when
// the files are already there, and npm runs every package's preinstall before any postinstall, so empty
// placeholders written here keep the install to the registry; onnxruntime-node then runs on the CPU
// binaries it ships. Whoever wants CUDA says so (ONNXRUNTIME_NODE_INSTALL=cuda12), and this stands aside.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const CUDA_LIBRARIES = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_tensorrt.so'];

/** onnxruntime-node's own install switches (see its script/install-utils.js): anything but "skip" asks for a download. */
function cudaAskedFor() {
  const flags = [
    process.env.ONNXRUNTIME_NODE_INSTALL,
    process.env.npm_config_onnxruntime_node_install,
    process.env.ONNXRUNTIME_NODE_INSTALL_CUDA,
    process.env.npm_config_onnxruntime_node_install_cuda,
  ].filter(Boolean);
  return flags.some((flag) => flag !== 'skip');
}

function onnxruntimeDir() {
  try {
    // From this package's folder, wherever npm placed onnxruntime-node (hoisted or nested).
    return path.dirname(require.resolve('onnxruntime-node/package.json', { paths: [process.cwd(), path.join(__dirname, '..')] }));
  } catch {
    return undefined;
  }
}

function main() {
  if (process.platform !== 'linux' || process.arch !== 'x64') return; // onnxruntime-node downloads only there
  if (cudaAskedFor()) {
    console.log('avi: CUDA asked for: onnxruntime-node will download its CUDA libraries from api.nuget.org');
    return;
  }
  const dir = onnxruntimeDir();
  if (!dir) return;
  const binaries = path.join(dir, 'bin', 'napi-v6', 'linux', 'x64');
  if (!fs.existsSync(binaries)) return;
  for (const name of CUDA_LIBRARIES) {
    const file = path.join(binaries, name);
    if (!fs.existsSync(file)) fs.writeFileSync(file, '');
  }
}

if (require.main === module) main();
module.exports = { CUDA_LIBRARIES };
