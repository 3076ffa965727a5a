// Detector overhead as a ratio of the raw session.run time of the same model, same input, same run.
// Usage: npm run build && node dist/bench/detector.js MODEL.onnx IMAGE [iterations]
import * as ort from 'onnxruntime-node';
import { Detector } from '../src/core/inference/detector';
import { decodeImage } from '../src/core/image/image';
import { loadModel } from '../src/core/model/model';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const [modelPath, imagePath, iterations = '20'] = process.argv.slice(2);
  if (!modelPath || !imagePath) throw new Error('usage: node dist/bench/detector.js MODEL.onnx IMAGE [iterations]');
  const model = await loadModel(modelPath);
  const detector = new Detector(model);
  const frame = await decodeImage(imagePath);
  const { inputWidth: w, inputHeight: h } = model.info;
  const raw = new ort.Tensor('float32', new Float32Array(3 * w * h).fill(0.5), [1, 3, h, w]);
  const rawMs: number[] = [];
  const detectMs: number[] = [];
  const decodeMs: number[] = [];
  for (let i = 0; i < Number(iterations) + 2; i++) {
    let t = performance.now();
    await model.session.run({ [model.image.name]: raw });
    const r = performance.now() - t;
    t = performance.now();
    const f = await decodeImage(frame.encoded!);
    const dec = performance.now() - t;
    t = performance.now();
    await detector.detect(f);
    const d = performance.now() - t;
    if (i >= 2) {
      rawMs.push(r);
      decodeMs.push(dec);
      detectMs.push(d);
    }
  }
  const run = median(rawMs);
  console.log(`${model.info.name} on ${frame.width}x${frame.height}, ${iterations} iterations, medians:`);
  console.log(`  raw session.run      ${run.toFixed(1)} ms  (1.00)`);
  console.log(`  detect (resize+run+decode+NMS) ${median(detectMs).toFixed(1)} ms  (${(median(detectMs) / run).toFixed(2)})`);
  console.log(`  image decode         ${median(decodeMs).toFixed(1)} ms  (${(median(decodeMs) / run).toFixed(2)})`);
  await model.release();
}

main().catch((err) => {
  console.error(err.message);
  process.exitCode = 1;
});
