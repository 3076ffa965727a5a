import { expect } from 'chai';
import {
  replaceClasses,
  validateClassReplaceOptions,
  DEFAULT_CLASS_REPLACE,
  FALLBACK_CLASS_ID,
} from '../src/core/decision/class-replace';
import type { Detection } from '../src/core/types';

const box = { x: 10, y: 20, width: 30, height: 40 };

function detection(id: number, confidence: number, classification?: { class: string; classId: number; confidence: number }): Detection {
  const d: Detection = { id, class: 'pill', classId: 0, confidence, box };
  if (classification) d.classification = { ...classification, scores: { [classification.class]: classification.confidence } };
  return d;
}

describe('class replacement (core)', () => {
  it('puts the classifier class on the detection and keeps the detector class beside it', () => {
    const input = [detection(1, 0.88, { class: 'cracked', classId: 2, confidence: 0.93 })];
    const { detections, replaced } = replaceClasses(input, DEFAULT_CLASS_REPLACE);
    expect(replaced).to.equal(1);
    expect(detections[0]).to.include({
      id: 1,
      class: 'cracked',
      classId: 2,
      confidence: 0.93,
      detectorClass: 'pill',
      detectorClassId: 0,
      detectorConfidence: 0.88,
    });
    expect(detections[0].box).to.deep.equal(box);
    expect(detections[0].classification?.class).to.equal('cracked');
    // The input message's detections are not edited in place.
    expect(input[0].class).to.equal('pill');
    expect(input[0]).to.not.have.property('detectorClass');
  });

  it('gives an unsure classification the fallback class, with the classifier confidence that made it unsure', () => {
    const options = { ...DEFAULT_CLASS_REPLACE, minConfidence: 0.6 };
    const r = replaceClasses(
      [
        detection(1, 0.9, { class: 'good', classId: 0, confidence: 0.6 }),
        detection(2, 0.9, { class: 'chipped', classId: 1, confidence: 0.41 }),
      ],
      options,
    );
    expect(r.detections.map((d) => d.class)).to.deep.equal(['good', 'unknown']);
    expect(r.detections[1]).to.include({ classId: FALLBACK_CLASS_ID, confidence: 0.41, detectorClass: 'pill' });
    expect(r.detections[1].classification?.class).to.equal('chipped');
    expect([r.replaced, r.fallback]).to.deep.equal([1, 1]);
  });

  it('keeps the detector class for unsure and unclassified detections when told to', () => {
    const options = { ...DEFAULT_CLASS_REPLACE, minConfidence: 0.6, unsure: 'detector' as const };
    const r = replaceClasses([detection(1, 0.77, { class: 'chipped', classId: 1, confidence: 0.4 }), detection(2, 0.66)], options);
    expect(r.detections.map((d) => [d.class, d.classId, d.confidence])).to.deep.equal([
      ['pill', 0, 0.77],
      ['pill', 0, 0.66],
    ]);
    expect(r.keptDetector).to.equal(2);
    expect([r.detections.length, r.fallback, r.keptDetector, r.dropped]).to.deep.equal([2, 0, 2, 0]);
  });

  it('never drops an unclassified detection by default: it gets the fallback class and the detector confidence', () => {
    const r = replaceClasses([detection(1, 0.7), detection(2, 0.8, { class: 'good', classId: 0, confidence: 0.99 })], DEFAULT_CLASS_REPLACE);
    expect(r.detections).to.have.length(2);
    expect(r.detections[0]).to.include({ class: 'unknown', classId: -1, confidence: 0.7 });
    expect(r.dropped).to.equal(0);
    expect([r.detections.length, r.fallback, r.keptDetector, r.dropped]).to.deep.equal([2, 1, 0, 0]);
  });

  it('drops only unclassified detections when asked, and counts them', () => {
    const options = { ...DEFAULT_CLASS_REPLACE, minConfidence: 0.5, dropUnclassified: true };
    const r = replaceClasses(
      [detection(1, 0.7), detection(2, 0.8, { class: 'good', classId: 0, confidence: 0.2 }), detection(3, 0.7)],
      options,
    );
    expect(r.detections.map((d) => d.id)).to.deep.equal([2]);
    expect(r.detections[0].class).to.equal('unknown');
    expect([r.detections.length, r.fallback, r.keptDetector, r.dropped]).to.deep.equal([1, 1, 0, 2]);
  });

  it('treats zero detections as a normal frame', () => {
    const r = replaceClasses([], DEFAULT_CLASS_REPLACE);
    expect(r.detections).to.deep.equal([]);
    expect([r.fallback, r.keptDetector, r.dropped]).to.deep.equal([0, 0, 0]);
  });

  it('keeps the original detector class when run a second time', () => {
    const once = replaceClasses([detection(1, 0.8, { class: 'cracked', classId: 2, confidence: 0.9 })], DEFAULT_CLASS_REPLACE);
    const twice = replaceClasses(once.detections, DEFAULT_CLASS_REPLACE);
    expect(twice.detections[0]).to.include({ class: 'cracked', detectorClass: 'pill', detectorConfidence: 0.8 });
  });

  it('rejects bad input with an error that names the detection', () => {
    expect(() => replaceClasses(undefined, DEFAULT_CLASS_REPLACE)).to.throw(/msg.detections is missing/);
    expect(() => replaceClasses({}, DEFAULT_CLASS_REPLACE)).to.throw(/must be an array.*an object/);
    const noClass = [{ id: 7, confidence: 0.5, box }];
    expect(() => replaceClasses(noClass, DEFAULT_CLASS_REPLACE)).to.throw(/detection 0 \(id 7\) has no class/);
    const textConfidence = [{ ...detection(4, 0.5), confidence: 'high' }];
    expect(() => replaceClasses(textConfidence, DEFAULT_CLASS_REPLACE)).to.throw(/id 4, class "pill".*confidence.*"high"/);
    const badClassification = [{ ...detection(5, 0.5), classification: { class: 'good', classId: 0, confidence: NaN, scores: {} } }];
    expect(() => replaceClasses(badClassification, DEFAULT_CLASS_REPLACE)).to.throw(/id 5\): classification: confidence/);
  });

  it('rejects bad settings', () => {
    expect(() => validateClassReplaceOptions({ ...DEFAULT_CLASS_REPLACE, minConfidence: 60 })).to.throw(/0 to 1, got 60/);
    expect(() => validateClassReplaceOptions({ ...DEFAULT_CLASS_REPLACE, fallbackClass: ' ' })).to.throw(/fallback class name is empty/);
    expect(validateClassReplaceOptions({ ...DEFAULT_CLASS_REPLACE, unsure: 'detector', fallbackClass: '' }).unsure).to.equal('detector');
  });
});
