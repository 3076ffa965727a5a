// Drawing and encoding cost of avi-visualizer, per frame size: `node dist/bench/visualizer.js [runs]`.
// Reports medians; compare them with the raw session.run time of the model in the same flow.
import { annotate, encodeAnnotated } from '../src/core/drawing/draw';
import type { Detection, Verdict, VerdictResult } from '../src/core/types';

const SIZES: Array<[number, number]> = [
  [640, 480],
  [1920, 1080],
  [4000, 3000],
];
const BOXES = 20;

function frame(width: number, height: number): { width: number; height: number; data: Buffer } {
  const data = Buffer.alloc(width * height * 3);
  // Smooth shading with a little texture, closer to a photo than flat colour (which any encoder finds easy).
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const grain = (x * 31 + y * 17) % 13;
      data[i] = 90 + ((x * 80) / width + grain) | 0;
      data[i + 1] = 100 + ((y * 60) / height + grain) | 0;
      data[i + 2] = 120 + grain;
    }
  }
  return { width, height, data };
}

/** BOXES units on a 5 x 4 grid with a mix of verdicts, like a tray of parts. */
function scene(width: number, height: number): { detections: Detection[]; verdict: Verdict } {
  const results: VerdictResult[] = ['PASS', 'PASS', 'PASS', 'REVIEW', 'FAIL'];
  const detections: Detection[] = [];
  for (let id = 0; id < BOXES; id++) {
    const [col, row] = [id % 5, Math.floor(id / 5)];
    const box = { x: (col + 0.1) * (width / 5), y: (row + 0.25) * (height / 4.2), width: width / 7, height: height / 6 };
    detections.push({ id, class: id % 5 === 4 ? 'edge_defect' : 'tablet', classId: id % 5 === 4 ? 1 : 0, confidence: 0.9, box });
  }
  const units = detections.map((d) => ({ detectionId: d.id, class: d.class, confidence: d.confidence, result: results[d.id % 5] }));
  const count = (r: VerdictResult): number => units.filter((u) => u.result === r).length;
  const verdict: Verdict = {
    result: 'FAIL',
    units,
    counts: { total: BOXES, pass: count('PASS'), fail: count('FAIL'), review: count('REVIEW'), byClass: {} },
    reasons: units.filter((u) => u.result === 'FAIL').map((u) => `unit ${u.detectionId}: edge_defect 0.90 >= reject 0.50 (critical)`),
  };
  return { detections, verdict };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 15);
  for (const [width, height] of SIZES) {
    const f = frame(width, height);
    const { detections, verdict } = scene(width, height);
    const draw: number[] = [];
    const jpeg: number[] = [];
    const png: number[] = [];
    for (let i = 0; i < runs; i++) {
      let t = performance.now();
      const raw = annotate(f, detections, verdict);
      draw.push(performance.now() - t);
      t = performance.now();
      await encodeAnnotated(raw, width, height, 'jpeg', 85);
      jpeg.push(performance.now() - t);
      t = performance.now();
      await encodeAnnotated(raw, width, height, 'png', 85);
      png.push(performance.now() - t);
    }
    const ms = (v: number[]): string => median(v).toFixed(1).padStart(7);
    console.log(`${`${width}x${height}`.padEnd(10)} ${BOXES} boxes  draw ${ms(draw)} ms  jpeg ${ms(jpeg)} ms  png ${ms(png)} ms`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
