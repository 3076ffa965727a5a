// `npm run bench:fanout`: what a 20 MP frame costs when a message fans out to several wires and when a worker
// works on it. Node-RED clones a message for every wire after the first (lodash cloneDeep); a decoded frame in
// shared memory (SharedFrame) is kept by reference there and read in place by the worker.
//   - cloneMessage of a message carrying a 20 MP SharedFrame, beside one carrying the same pixels as a plain copy;
//   - a crop job on that frame in the engine (the worker reads the frame where it is), beside copying it once.
// Figures, never assertions.
import * as path from 'node:path';
import { InferenceEngine } from '../src/core/engine/engine';
import { SharedFrame, sharedCopy } from '../src/core/engine/frame';
import { DEFAULT_CROP_OPTIONS } from '../src/core/image/crop';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { cloneMessage } = require(require.resolve('@node-red/util/lib/util.js', { paths: [path.dirname(require.resolve('node-red'))] }));

const [W, H] = [5472, 3648]; // 20 MP, a common industrial camera
const ROUNDS = 7;

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

async function timed(work: () => unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    await work();
    times.push(performance.now() - t);
  }
  return median(times);
}

async function main(): Promise<void> {
  const pixels = Buffer.alloc(W * H * 3, 7);
  const frame = new SharedFrame(W, H, sharedCopy(pixels), { format: 'jpeg' });
  const detections = Array.from({ length: 20 }, (_, i) => ({ id: i, class: 'pill', classId: 0, confidence: 0.9, box: { x: 100 + i * 250, y: 1500, width: 200, height: 200 } }));
  const message = { payload: 'frame', image: frame, detections };
  const plainMessage = { ...message, image: { width: W, height: H, channels: 3, data: Buffer.from(pixels) } };
  console.log(`a ${W}x${H} frame (${((W * H * 3) / 1e6).toFixed(1)} MB of RGB), median of ${ROUNDS}:`);

  const sharedClone = await timed(() => {
    if (cloneMessage(message).image !== frame) throw new Error('the shared frame was copied');
  });
  const plainClone = await timed(() => cloneMessage(plainMessage));
  console.log(`  one more wire (Node-RED's cloneMessage): SharedFrame ${sharedClone.toFixed(2)} ms, the same pixels in a plain object ${plainClone.toFixed(2)} ms`);
  const copy = await timed(() => Buffer.from(pixels));
  console.log(`  copying the pixels once, for comparison: ${copy.toFixed(1)} ms`);

  const engine = new InferenceEngine({ defaultWorkers: 1 });
  try {
    const source = { frame: { width: W, height: H, data: frame.data } };
    await engine.run({ op: 'crop', source, detections, crop: DEFAULT_CROP_OPTIONS });
    const crop = await timed(() => engine.run({ op: 'crop', source, detections, crop: DEFAULT_CROP_OPTIONS }));
    console.log(`  20 crops cut by a worker from the frame in shared memory (posted by reference): ${crop.toFixed(1)} ms a job`);
  } finally {
    await engine.shutdown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
