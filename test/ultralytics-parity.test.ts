// avi-detector's boxes against the ones Ultralytics' own preprocessing gives (cv2 decode, LetterBox,
// INTER_LINEAR, grey 114), computed once by training/ultralytics_reference.py into test/data.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { sha256 } from '../src/core/model/model';
import { decodeImage } from '../src/core/image/image';
import type { Detection } from '../src/core/types';
import { REPO_ROOT } from './support/fixtures';
import { detectorFlow, differences, helper, readReference } from './support/ultralytics-reference';

describe('parity with Ultralytics: the demo detector on the example frames', function () {
  this.timeout(60_000);
  const reference = readReference('pill-detector.json');
  const model = path.join(REPO_ROOT, 'models', reference.model);
  afterEach(() => helper.unload());

  it('is the model and the frames the reference was computed on', () => {
    expect(sha256(readFileSync(model))).to.equal(reference.modelSha256, 'models/pill-detector.onnx changed: rerun training/ultralytics_reference.py');
    for (const image of reference.images) {
      expect(sha256(readFileSync(path.join(REPO_ROOT, 'example-images', image.image))), image.image).to.equal(image.sha256);
    }
  });

  it('finds the same boxes, each side within 2 px, through avi-model and avi-detector', async () => {
    const detect = await detectorFlow(model, { confidence: reference.conf, iou: reference.iou });
    let boxes = 0;
    for (const image of reference.images) {
      const msg = await detect(path.join(REPO_ROOT, 'example-images', image.image));
      expect(differences(image.detections, msg.detections as Detection[], reference.conf, 2), image.image).to.deep.equal([]);
      boxes += msg.detections.length;
    }
    expect(boxes).to.be.at.least(90);
  });
});

describe("avi-model's colour profile setting", function () {
  this.timeout(60_000);
  afterEach(() => helper.unload());

  it('leaves an embedded profile unapplied by default and applies it when set, on the frame the detector decodes', async () => {
    const model = path.join(REPO_ROOT, 'models', 'pill-detector.onnx');
    // An example frame re-encoded as a PNG with a Display P3 profile, as a phone stores its photos.
    const p3 = await sharp(path.join(REPO_ROOT, 'example-images', 'line-0001.jpg')).withIccProfile('p3').png().toBuffer();
    const unapplied = await decodeImage(p3, { colourProfile: 'ignore' });
    const applied = await decodeImage(p3, { colourProfile: 'apply' });
    expect(unapplied.data.equals(applied.data), 'the profile must change the pixels').to.equal(false);

    const byDefault = await (await detectorFlow(model, {}))(p3);
    expect(byDefault.image.data.equals(unapplied.data)).to.equal(true);
    await helper.unload();
    const whenSet = await (await detectorFlow(model, {}, { colourProfile: 'apply' }))(p3);
    expect(whenSet.image.data.equals(applied.data)).to.equal(true);
  });

  it('refuses an unknown value with a clear error on the message', async () => {
    const detect = await detectorFlow(path.join(REPO_ROOT, 'models', 'pill-detector.onnx'), {}, { colourProfile: 'srgb' });
    try {
      await detect(path.join(REPO_ROOT, 'example-images', 'line-0001.jpg'));
      expect.fail('an unknown colour profile setting must be an error');
    } catch (err) {
      expect(String((err as Error).message ?? err)).to.match(/unknown colour profile setting "srgb"/);
    }
  });
});
