#!/usr/bin/env node
'use strict';
// onnxruntime 1.30 reads /proc/self/cmdline while it creates a session, recursing deeper the longer it is; from
// about 30 KB of arguments (`avi detect --model M images/*.jpg` over some 800 files) the stack overflows and the
// process dies with a segmentation fault. So a long argument list is handed to a child process over IPC, and
// the child, whose own command line is short, runs the command.
const { spawn } = require('node:child_process');

const LONG_COMMAND_LINE = 8 * 1024;
const FROM_PARENT = 'AVI_ARGUMENTS_FROM_PARENT';

function run(args) {
  require('../dist/src/cli/main.js').main(args).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`avi: ${err && err.message ? err.message : err}\n`);
      process.exitCode = 1;
    },
  );
}

if (process.env[FROM_PARENT] === '1' && process.send) {
  process.once('message', (args) => {
    process.disconnect();
    run(args);
  });
} else if (process.argv.reduce((bytes, arg) => bytes + Buffer.byteLength(arg) + 1, 0) > LONG_COMMAND_LINE) {
  const child = spawn(process.execPath, [...process.execArgv, __filename], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [FROM_PARENT]: '1' },
  });
  child.send(process.argv.slice(2));
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  // Ctrl-C reaches the child too (same process group); the parent waits for its exit status.
  process.on('SIGINT', () => undefined);
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? 1;
    if (signal) process.stderr.write(`avi: stopped by ${signal}\n`);
  });
} else {
  run(process.argv.slice(2));
}
