// The demo models in models/, as the demo flow runs them (detector at the flow's confidence -> avi-crop's crops
// -> classifier), on frames of a synth seed that neither training nor evaluation used. Floors, not exact figures:
// the model cards hold the measured ones.
import { expect } from 'chai';
import path from 'node:path';
import { Classifier } from '../src/core/inference/classifier';
import { cropDetections } from '../src/core/image/crop';
import { Detector } from '../src/core/inference/detector';
import { decodeImage } from '../src/core/image/image';
import { loadModel, type Model } from '../src/core/model/model';
import { iou } from '../src/core/inference/nms';
import { CONDITIONS, synthesizeFrame, type SynthUnit } from '../src/core/synth/synth';
import type { Box, Detection } from '../src/core/types';
import { REPO_ROOT } from './support/fixtures';

const DEMO_CONFIDENCE = 0.5; // examples/demo-pill-line.json
const SEED = 4242;
const FRAMES = 12;

const corners = (b: Box) => ({ x1: b.x, y1: b.y, x2: b.x + b.width, y2: b.y + b.height, score: 0, classId: 0 });

/** Each truth unit's detection (IoU >= 0.5, best first, each detection used once), or undefined when missed. */
function match(units: SynthUnit[], detections: Detection[]): Array<Detection | undefined> {
  const free = new Set(detections);
  return units.map((u) => {
    let best: Detection | undefined;
    let bestIou = 0.5;
    for (const d of free) {
      const overlap = iou(corners(u.box), corners(d.box));
      if (overlap >= bestIou) [best, bestIou] = [d, overlap];
    }
    if (best) free.delete(best);
    return best;
  });
}

describe('demo models on unseen synthetic frames', function () {
  this.timeout(120_000);
  let detectorModel: Model;
  let classifierModel: Model;

  before(async () => {
    detectorModel = await loadModel(path.join(REPO_ROOT, 'models', 'pill-detector.onnx'));
    classifierModel = await loadModel(path.join(REPO_ROOT, 'models', 'pill-defects.onnx'));
  });
  after(async () => {
    await detectorModel?.release();
    await classifierModel?.release();
  });

  it('name their classes in their metadata', () => {
    expect(detectorModel.task).to.equal('detect');
    expect(detectorModel.info.classNames).to.deep.equal(['pill']);
    expect(classifierModel.task).to.equal('classify');
    expect(classifierModel.info.classNames).to.deep.equal([...CONDITIONS]);
    expect(classifierModel.image.dynamicBatch).to.equal(true);
  });

  it('find the units and name their condition through detector -> crop -> classifier', async () => {
    const detector = new Detector(detectorModel, { confidence: DEMO_CONFIDENCE });
    const classifier = new Classifier(classifierModel, {});
    let units = 0, found = 0, detections = 0, whole = 0, named = 0;
    const seen = new Set<string>();
    for (let index = 1; index <= FRAMES; index++) {
      const synth = await synthesizeFrame({ seed: SEED, index });
      const frame = await decodeImage(synth.jpeg);
      const result = await detector.detect(frame);
      const matched = match(synth.units, result.detections);
      units += synth.units.length;
      detections += result.detections.length;
      found += matched.filter(Boolean).length;
      const pairs = synth.units.map((u, i) => [u, matched[i]] as const).filter(([u, d]) => d && !u.truncated) as Array<[SynthUnit, Detection]>;
      const crops = cropDetections(frame, pairs.map(([, d]) => d));
      const { classifications, runs } = await classifier.classify(crops);
      expect(runs, 'one batched run per frame').to.equal(1);
      pairs.forEach(([u], i) => {
        whole++;
        seen.add(u.condition);
        if (classifications[i].class === u.condition) named++;
      });
    }
    expect(units).to.be.greaterThan(100);
    expect(seen.size, 'every condition occurs on the frames').to.equal(CONDITIONS.length);
    expect(found / units, `recall ${found}/${units}`).to.be.at.least(0.93);
    expect(found / detections, `precision ${found}/${detections}`).to.be.at.least(0.85);
    expect(named / whole, `condition right ${named}/${whole}`).to.be.at.least(0.9);
  });
});
