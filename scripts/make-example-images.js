#!/usr/bin/env node
// Writes the example frames the demo flows read (example-images/line-000N.jpg) and their ground
// truth (labels.json), from a fixed seed. Run after a build: `npm run build && node scripts/make-example-images.js`.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { synthesizeFrame, CONDITIONS } = require('../dist/src/core/synth/synth.js');

const SEED = 2024;
const COUNT = 6;
/** The first frames show defects; the rest are clean, so that the demo shows a pass as well as rejects. */
const DEFECT_FRAMES = 4;
const OUT = path.join(__dirname, '..', 'example-images');

/** A frame shows the demo well when most units are good but two or more kinds of defect are there. */
function isShowcase(frame) {
  const whole = frame.units.filter((u) => !u.truncated);
  const defects = new Set(whole.filter((u) => u.condition !== 'good').map((u) => u.condition));
  const good = whole.filter((u) => u.condition === 'good').length;
  return whole.length >= 8 && good >= whole.length / 2 && defects.size >= 2;
}

/** Every whole unit good, and enough of them to be a line. */
function isClean(frame) {
  const whole = frame.units.filter((u) => !u.truncated);
  return whole.length >= 8 && whole.every((u) => u.condition === 'good');
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const labels = {};
  const seen = new Set();
  for (let index = 0; Object.keys(labels).length < COUNT; index++) {
    if (index > 2000) throw new Error('not enough example frames in the first 2000 frames');
    const frame = await synthesizeFrame({ seed: SEED, index });
    const wanted = Object.keys(labels).length < DEFECT_FRAMES ? isShowcase : isClean;
    if (!wanted(frame)) continue;
    const name = `line-${String(Object.keys(labels).length + 1).padStart(4, '0')}.jpg`;
    fs.writeFileSync(path.join(OUT, name), frame.jpeg);
    labels[name] = { seed: SEED, index, width: frame.width, height: frame.height, units: frame.units };
    frame.units.forEach((u) => seen.add(u.condition));
    process.stdout.write(`${name}: frame ${index}, ${frame.units.length} units, ${(frame.jpeg.length / 1024).toFixed(0)} KB\n`);
  }
  // One unit per line: small diffs when the generator changes.
  const entries = Object.entries(labels).map(([name, { units, ...frame }]) => {
    const head = JSON.stringify(frame).slice(1, -1);
    return `  ${JSON.stringify(name)}: {${head}, "units": [\n${units.map((u) => `    ${JSON.stringify(u)}`).join(',\n')}\n  ]}`;
  });
  fs.writeFileSync(path.join(OUT, 'labels.json'), `{\n${entries.join(',\n')}\n}\n`);
  const missing = CONDITIONS.filter((c) => !seen.has(c));
  if (missing.length) process.stdout.write(`note: no ${missing.join(', ')} in the examples\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exitCode = 1;
});
