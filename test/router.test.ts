import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { parseClassList, Router, DEFAULT_RULES } from '../src/core/decision/router';
import type { Detection, RouterRules } from '../src/core/types';

let nextId = 0;
function unit(cls: string, confidence: number): Detection {
  return { id: nextId++, class: cls, classId: 0, confidence, box: { x: 0, y: 0, width: 10, height: 10 } };
}
function goods(n: number): Detection[] {
  return Array.from({ length: n }, () => unit('good', 0.95));
}

const pharma: RouterRules = {
  ...DEFAULT_RULES,
  goodClasses: ['good', 'pill'],
  classRules: [
    ...DEFAULT_RULES.classRules,
    { class: 'edge_defect', reject: 0.5, review: 0.25, severity: 'critical' },
    { class: 'discoloured', reject: 0.8, review: 0.3, severity: 'minor' },
  ],
};

describe('router (core)', () => {
  beforeEach(() => {
    nextId = 0;
  });

  describe('one unit', () => {
    const router = new Router(pharma);
    const decide = (cls: string, p: number) => router.decideUnit(unit(cls, p), 0);

    it('passes a good class at or above good min, and sends an unsure good unit to review', () => {
      expect(decide('pill', 0.5)).to.include({ result: 'PASS', reason: 'pill 0.50 >= good min 0.50' });
      expect(decide('good', 0.42)).to.include({ result: 'REVIEW', reason: 'good 0.42 < good min 0.50' });
      expect(decide('good', 0.42)).to.not.have.property('severity');
    });

    it('fails, reviews, or passes as noise a defect class by its own thresholds', () => {
      expect(decide('edge_defect', 0.91)).to.include({
        result: 'FAIL',
        reason: 'edge_defect 0.91 >= reject 0.50 (critical)',
        severity: 'critical',
      });
      expect(decide('edge_defect', 0.3)).to.include({
        result: 'REVIEW',
        reason: 'edge_defect 0.30 >= review 0.25, < reject 0.50 (critical)',
      });
      expect(decide('edge_defect', 0.1)).to.include({
        result: 'PASS',
        reason: 'edge_defect 0.10 < review 0.25: passed as noise (critical)',
      });
      expect(decide('discoloured', 0.6).result).to.equal('REVIEW');
    });

    it('never passes the fallback class "unknown", however low or high its confidence', () => {
      for (const p of [0, 0.3, 0.99, 1]) expect(decide('unknown', p).result).to.equal('REVIEW');
      expect(decide('unknown', 0.99).reason).to.equal('unknown 0.99 >= review 0.00, no reject threshold (major)');
    });

    it('applies the default rule to a class nobody wrote a rule for: FAIL when confident, otherwise REVIEW', () => {
      expect(decide('dent', 0.7)).to.include({ result: 'FAIL', reason: 'dent 0.70 >= reject 0.50 (default rule, major)' });
      expect(decide('dent', 0.05).result).to.equal('REVIEW');
    });

    it('prints enough decimals that a value just under a threshold does not read as equal', () => {
      expect(decide('edge_defect', 0.4999).reason).to.equal('edge_defect 0.4999 >= review 0.2500, < reject 0.5000 (critical)');
    });
  });

  describe('the frame', () => {
    it('is FAIL when any unit fails, even beside review units, and counts units by final class', () => {
      const v = new Router(pharma).route([...goods(3), unit('edge_defect', 0.3), unit('edge_defect', 0.9), unit('discoloured', 0.95)]);
      expect(v.result).to.equal('FAIL');
      expect(v.counts).to.deep.equal({ total: 6, pass: 3, fail: 2, review: 1, byClass: { good: 3, edge_defect: 2, discoloured: 1 } });
      // The worst severity among the failed units.
      expect(v.severity).to.equal('critical');
      expect(v.reasons).to.deep.equal([
        'unit 3: edge_defect 0.30 >= review 0.25, < reject 0.50 (critical)',
        'unit 4: edge_defect 0.90 >= reject 0.50 (critical)',
        'unit 5: discoloured 0.95 >= reject 0.80 (minor)',
      ]);
    });

    it('is REVIEW when no unit fails but one needs review, and PASS with no reasons when all pass', () => {
      const router = new Router(pharma);
      const review = router.route([...goods(2), unit('good', 0.3)]);
      expect(review.result).to.equal('REVIEW');
      expect(review.severity).to.equal(undefined);
      const pass = router.route([...goods(4), unit('edge_defect', 0.1)]);
      expect(pass.result).to.equal('PASS');
      expect(pass.reasons).to.deep.equal([]);
      expect(pass.units.map((u) => u.result)).to.deep.equal(['PASS', 'PASS', 'PASS', 'PASS', 'PASS']);
    });

    it('fails a blister pack missing a tablet, even when every tablet found is good', () => {
      const router = new Router({ ...pharma, count: { min: 10, max: 10 } });
      const v = router.route(goods(9));
      expect(v.result).to.equal('FAIL');
      expect(v.reasons).to.deep.equal(['expected 10 units, found 9']);
      expect(router.route(goods(10)).result).to.equal('PASS');
      expect(router.route(goods(11)).reasons).to.deep.equal(['expected 10 units, found 11']);
    });

    it('sends a wrong count to review when told to, and checks a range', () => {
      const router = new Router({ ...pharma, count: { min: 8, max: 12 }, countMismatch: 'review' });
      expect(router.route(goods(7))).to.include({ result: 'REVIEW' });
      expect(router.route(goods(7)).reasons).to.deep.equal(['expected 8 to 12 units, found 7']);
      expect(router.route(goods(12)).result).to.equal('PASS');
      expect(new Router({ ...pharma, count: { min: 1, max: null } }).route([]).reasons).to.deep.equal(['expected at least 1 unit, found 0']);
      expect(new Router({ ...pharma, count: { min: 0, max: 3 } }).route(goods(4)).reasons).to.deep.equal(['expected at most 3 units, found 4']);
    });

    it('sends an empty frame to review by default, and passes it with a reason when set to pass', () => {
      const v = new Router(pharma).route([]);
      expect(v.result).to.equal('REVIEW');
      expect(v.reasons).to.deep.equal(['no units in frame (empty frame: review)']);
      expect(v.counts.total).to.equal(0);
      const pass = new Router({ ...pharma, emptyFrame: 'pass' }).route([]);
      expect(pass.result).to.equal('PASS');
      expect(pass.reasons).to.deep.equal(['no units in frame (empty frame: pass)']);
      expect(new Router({ ...pharma, emptyFrame: 'reject' }).route([]).result).to.equal('FAIL');
    });

    it('lets the minimum count, not the empty-frame setting, decide an empty frame', () => {
      const v = new Router({ ...pharma, emptyFrame: 'pass', count: { min: 10, max: 10 } }).route([]);
      expect(v.result).to.equal('FAIL');
      expect(v.reasons).to.deep.equal(['expected 10 units, found 0']);
    });
  });

  describe('provenance', () => {
    it('records the time, the rules in force and their hash, and the model', () => {
      const router = new Router(pharma);
      const models = {
        detector: { name: 'd.onnx', path: '/m/d.onnx', sha256: 'ab12', format: 'yolov8', inputWidth: 640, inputHeight: 640, executionProvider: 'cpu' },
      };
      const v = router.route(goods(1), { now: new Date(Date.UTC(2025, 0, 2, 3, 4, 5)), models });
      expect(v.timestamp).to.equal('2025-01-02T03:04:05.000Z');
      expect(v.rules).to.deep.equal(pharma);
      expect(v.rulesHash).to.equal(createHash('sha256').update(JSON.stringify(v.rules)).digest('hex'));
      expect(v.models).to.equal(models);
      expect(new Router(pharma).route([]).rulesHash).to.equal(v.rulesHash);
      const stricter = { ...pharma, goodMinConfidence: 0.6 };
      expect(new Router(stricter).route([]).rulesHash).to.not.equal(v.rulesHash);
    });

    it('cannot have its rules changed through a verdict', () => {
      const router = new Router(pharma);
      router.route(goods(1)).rules!.goodMinConfidence = 0.99;
      expect(router.route([unit('good', 0.6)]).result).to.equal('PASS');
    });
  });

  describe('bad input and settings', () => {
    const router = new Router(pharma);
    it('names what is wrong with msg.detections', () => {
      expect(() => router.route(undefined)).to.throw(/msg.detections is missing: avi-router needs/);
      expect(() => router.route('pill')).to.throw(/must be an array of detections, got "pill"/);
      expect(() => router.route([unit('good', 0.9), { id: 1, confidence: 0.9 }])).to.throw(/detection 1 \(id 1\) has no class/);
      expect(() => router.route([{ ...unit('good', 0.9), confidence: '0.9' }])).to.throw(/class "good"\): confidence must be a number from 0 to 1, got "0.9"/);
      expect(() => router.route([unit('good', 91)])).to.throw(/got number 91/);
    });

    it('refuses contradictory or out-of-range settings', () => {
      const bad = (rules: Partial<RouterRules>) => () => new Router({ ...pharma, ...rules });
      expect(bad({ classRules: [{ class: 'x', reject: 0.3, review: 0.6, severity: 'major' }] })).to.throw(/review threshold 0.6 is above reject threshold 0.3/);
      expect(bad({ classRules: [{ class: 'good', reject: 0.5, review: 0.2, severity: 'major' }] })).to.throw(/"good" is a good class and also has a rule/);
      expect(bad({ classRules: [pharma.classRules[1], pharma.classRules[1]] })).to.throw(/"edge_defect" has two rules/);
      expect(bad({ classRules: [{ class: 'x', reject: 1.5, review: 0.2, severity: 'major' }] })).to.throw(/reject threshold must be a confidence from 0 to 1/);
      expect(bad({ defaultRule: { reject: 0.5, review: 0, severity: 'fatal' as 'major' } })).to.throw(/severity must be one of critical, major, minor/);
      expect(bad({ count: { min: 12, max: 10 } })).to.throw(/minimum unit count 12 is above maximum 10/);
      expect(bad({ count: { min: 2.5, max: null } })).to.throw(/whole number/);
    });

    it('reads a comma-separated class list', () => {
      expect(parseClassList(' good, pill ,,')).to.deep.equal(['good', 'pill']);
    });
  });
});
