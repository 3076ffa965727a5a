// Metrics checked against results worked out by hand in the comments (not read back from the code).
import { expect } from 'chai';
import {
  averagePrecision,
  boxIou,
  COCO_IOU_THRESHOLDS,
  evaluateClassification,
  evaluateDetections,
  type ImageResult,
  type PredictedBox,
} from '../src/core/evaluation/metrics';
import type { Box } from '../src/core/types';

const box = (x: number, y: number, width: number, height: number): Box => ({ x, y, width, height });
const pred = (classId: number, confidence: number, b: Box): PredictedBox => ({ classId, confidence, box: b });

describe('metrics: box IoU', () => {
  it('is intersection over union', () => {
    // [0,0,10,10] and [5,0,10,10]: overlap 5x10 = 50, union 100 + 100 - 50 = 150 -> 1/3.
    expect(boxIou(box(0, 0, 10, 10), box(5, 0, 10, 10))).to.be.closeTo(1 / 3, 1e-12);
    expect(boxIou(box(0, 0, 10, 10), box(10, 0, 10, 10))).to.equal(0); // touching edges share no area
  });

  it('divides by the predicted area for a crowd box, as COCO does', () => {
    // A 10x10 prediction inside a 100x100 crowd region: 100 / 100 = 1 (plain IoU would be 0.01).
    expect(boxIou(box(20, 20, 10, 10), box(0, 0, 100, 100), true)).to.equal(1);
    expect(boxIou(box(20, 20, 10, 10), box(0, 0, 100, 100))).to.be.closeTo(0.01, 1e-12);
  });

  it('uses the ten COCO thresholds 0.50 to 0.95', () => {
    expect(COCO_IOU_THRESHOLDS).to.have.length(10);
    expect(COCO_IOU_THRESHOLDS[0]).to.equal(0.5);
    expect(COCO_IOU_THRESHOLDS[9]).to.equal(0.95);
  });
});

describe('metrics: average precision (COCO 101-point)', () => {
  it('matches a hand-computed ranking TP, FP, TP, TP, FP with 4 truth boxes', () => {
    // cumulative TP 1,1,2,3,3 -> recall    .25, .25, .50, .75, .75
    // precision  1/1, 1/2, 2/3, 3/4, 3/5   -> made non-increasing from the right: 1, .75, .75, .75, .6
    // recall points 0.00..0.25 (26 points): first rank with recall >= r is rank 1 -> precision 1
    // 0.26..0.50 (25): rank 3 -> .75;  0.51..0.75 (25): rank 4 -> .75;  0.76..1.00 (25): never reached -> 0
    // AP = (26 * 1 + 50 * 0.75) / 101 = 63.5 / 101 = 0.628713
    const { ap, curve } = averagePrecision([true, false, true, true, false], 4);
    expect(ap).to.be.closeTo(63.5 / 101, 1e-12);
    expect(curve.precision[25]).to.equal(1);
    expect(curve.precision[26]).to.equal(0.75);
    expect(curve.precision[75]).to.equal(0.75);
    expect(curve.precision[76]).to.equal(0);
  });

  it('is null without truth and 0 when nothing is found', () => {
    expect(averagePrecision([false, false], 0).ap).to.equal(null);
    expect(averagePrecision([], 3).ap).to.equal(0);
  });
});

describe('metrics: detection evaluation', () => {
  // Four well-separated truth boxes of class 0 (A, B, C, D), each 20x20.
  const A = box(0, 0, 20, 20);
  const B = box(100, 0, 20, 20);
  const C = box(200, 0, 20, 20);
  const D = box(300, 0, 20, 20);
  const nowhere = box(500, 500, 20, 20);

  it('ranks matches greedily by confidence: the same ranking as above, built from boxes', () => {
    const images: ImageResult[] = [
      {
        truth: [A, B, C, D].map((b) => ({ classId: 0, box: b })),
        // Given out of order on purpose. By confidence: .9 on A (TP), .8 nowhere (FP), .7 on B (TP),
        // .6 on C (TP), .5 on A again (FP: A is taken by the .9 box).
        predictions: [pred(0, 0.6, C), pred(0, 0.5, A), pred(0, 0.9, A), pred(0, 0.7, B), pred(0, 0.8, nowhere)],
      },
    ];
    const m = evaluateDetections(images, ['scratch'], 0.75);
    // Exact boxes match at every IoU threshold, so AP50 = AP50:95 = 63.5 / 101 (worked out above).
    expect(m.perClass[0].ap50).to.be.closeTo(63.5 / 101, 1e-12);
    expect(m.perClass[0].ap50_95).to.be.closeTo(63.5 / 101, 1e-12);
    expect(m.map50).to.be.closeTo(63.5 / 101, 1e-12);
    // At confidence 0.75 only .9 (TP) and .8 (FP) count: P = 1/2, R = 1/4, F1 = 2*.5*.25/(.5+.25) = 1/3.
    expect(m.perClass[0]).to.include({ truth: 4, predictions: 2, tp: 1, fp: 1, fn: 3 });
    expect(m.precision).to.equal(0.5);
    expect(m.recall).to.equal(0.25);
    expect(m.f1).to.be.closeTo(1 / 3, 1e-12);
    expect(m.curves[0].at).to.deep.equal({ precision: 0.5, recall: 0.25 });
  });

  it('counts a box with IoU 0.72 at thresholds 0.50..0.70 only: mAP50:95 = 5/10', () => {
    // Truth 100x100, prediction 72x100 inside it: IoU = 7200 / 10000 = 0.72.
    // 0.72 >= .50, .55, .60, .65, .70 (AP 1 each) and < .75 ... .95 (AP 0 each) -> 5/10 = 0.5.
    const images: ImageResult[] = [{ truth: [{ classId: 0, box: box(0, 0, 100, 100) }], predictions: [pred(0, 0.9, box(0, 0, 72, 100))] }];
    const m = evaluateDetections(images, ['dent'], 0.25);
    expect(m.map50).to.equal(1);
    expect(m.map50_95).to.be.closeTo(0.5, 1e-12);
  });

  it('counts an IoU of exactly 0.5 as a match at 0.5 and at no other threshold', () => {
    // 50x100 inside 100x100: IoU = 5000 / 10000 = 0.5 -> AP 1 at 0.50 only -> AP50:95 = 1/10.
    const images: ImageResult[] = [{ truth: [{ classId: 0, box: box(0, 0, 100, 100) }], predictions: [pred(0, 0.9, box(0, 0, 50, 100))] }];
    const m = evaluateDetections(images, ['dent'], 0.25);
    expect(m.perClass[0].ap50).to.equal(1);
    expect(m.perClass[0].ap50_95).to.be.closeTo(0.1, 1e-12);
  });

  it('averages over classes with truth only, and a wrong class is no match', () => {
    const images: ImageResult[] = [
      {
        truth: [
          { classId: 0, box: A },
          { classId: 1, box: B },
          { classId: 1, box: C },
        ],
        predictions: [
          pred(0, 0.9, A), // class 0: 1 of 1 found first -> AP 1
          pred(1, 0.8, B), // class 1: 1 of 2 found, precision 1 up to recall .5 -> 51 of 101 points -> AP 51/101
          pred(0, 0.7, C), // class 0 on a class 1 box: a false positive for class 0 after its TP: AP stays 1
          pred(2, 0.6, D), // class 2 has no truth: its AP is null and it is left out of the means
        ],
      },
    ];
    const m = evaluateDetections(images, ['crack', 'pit', 'stain'], 0.5);
    expect(m.perClass[0].ap50).to.equal(1);
    expect(m.perClass[1].ap50).to.be.closeTo(51 / 101, 1e-12);
    expect(m.perClass[2].ap50).to.equal(null);
    // mAP50 = (1 + 51/101) / 2 = 76/101
    expect(m.map50).to.be.closeTo(76 / 101, 1e-12);
    // At conf 0.5: class 0 P = 1/2 (A TP, C FP), R = 1; class 1 P = 1, R = 1/2 -> means P = .75, R = .75.
    expect(m.precision).to.equal(0.75);
    expect(m.recall).to.equal(0.75);
    // Per-class F1: class 0 2*.5*1/1.5 = 2/3, class 1 2*1*.5/1.5 = 2/3 -> mean 2/3.
    expect(m.f1).to.be.closeTo(2 / 3, 1e-12);
    // Pooled counts include the class without truth: 4 predictions, 2 TP, 2 FP, 1 missed (C).
    expect(m.counts).to.deep.equal({ truth: 3, predictions: 4, tp: 2, fp: 2, fn: 1 });
  });

  it('neither rewards nor penalises a prediction on a crowd box', () => {
    const images: ImageResult[] = [
      {
        truth: [
          { classId: 0, box: A },
          { classId: 0, box: box(200, 200, 100, 100), crowd: true },
        ],
        predictions: [pred(0, 0.9, box(220, 220, 10, 10)), pred(0, 0.8, A)],
      },
    ];
    const m = evaluateDetections(images, ['pill'], 0.5);
    // Without the crowd rule the .9 box would be an FP ranked first and AP would be (1 TP at rank 2) 0.5.
    expect(m.perClass[0]).to.include({ truth: 1, tp: 1, fp: 0, ap50: 1 });
  });

  it('builds a confusion matrix with background for misses and false alarms', () => {
    const images: ImageResult[] = [
      {
        truth: [
          { classId: 0, box: A },
          { classId: 1, box: B },
        ],
        // On A but called class 1; in empty space as class 0; B is missed; .1 is below the confidence.
        predictions: [pred(1, 0.9, A), pred(0, 0.8, nowhere), pred(1, 0.1, B)],
      },
    ];
    const m = evaluateDetections(images, ['crack', 'pit'], 0.25);
    expect(m.confusion.labels).to.deep.equal(['crack', 'pit', 'background']);
    expect(m.confusion.matrix).to.deep.equal([
      [0, 1, 0], // truth crack: predicted pit once
      [0, 0, 1], // truth pit: missed
      [1, 0, 0], // background: a crack that is not there
    ]);
  });

  it('refuses a class id outside the classes evaluated', () => {
    expect(() => evaluateDetections([{ truth: [{ classId: 3, box: A }], predictions: [] }], ['a'], 0.25)).to.throw(/class id 3/);
  });
});

describe('metrics: classification', () => {
  it('matches a hand-computed 3-class confusion matrix', () => {
    // truth a -> predicted a, a, a, b;  truth b -> b, b, c;  truth c -> c, a, c, c, b
    const pairs: Array<[number, number]> = [
      [0, 0], [0, 0], [0, 0], [0, 1],
      [1, 1], [1, 1], [1, 2],
      [2, 2], [2, 0], [2, 2], [2, 2], [2, 1],
    ];
    const m = evaluateClassification(pairs.map(([truth, predicted]) => ({ truth, predicted })), ['a', 'b', 'c']);
    // rows truth, columns predicted
    expect(m.confusion.matrix).to.deep.equal([
      [3, 1, 0],
      [0, 2, 1],
      [1, 1, 3],
    ]);
    // accuracy = diagonal / all = (3 + 2 + 3) / 12 = 2/3
    expect(m.accuracy).to.be.closeTo(2 / 3, 1e-12);
    // precision = diagonal / column: a 3/4, b 2/4, c 3/4;  recall = diagonal / row: a 3/4, b 2/3, c 3/5
    expect(m.perClass.map((c) => c.precision)).to.deep.equal([0.75, 0.5, 0.75]);
    expect(m.perClass[0].recall).to.equal(0.75);
    expect(m.perClass[1].recall).to.be.closeTo(2 / 3, 1e-12);
    expect(m.perClass[2].recall).to.be.closeTo(0.6, 1e-12);
    expect(m.perClass.map((c) => c.support)).to.deep.equal([4, 3, 5]);
    expect(m.perClass[0].ap).to.equal(null); // no scores given
  });

  it('gives a one-vs-rest AP per class from the scores', () => {
    // Class 0 scores .9 (truth 0), .8 (truth 1), .7 (truth 0): ranking TP, FP, TP with 2 positives.
    // precision 1, 1/2, 2/3 -> non-increasing 1, 2/3, 2/3; recall .5, .5, 1
    // points 0..0.50 (51) -> 1; 0.51..1 (50) -> 2/3; AP = (51 + 100/3) / 101 = 253/303
    const m = evaluateClassification(
      [
        { truth: 0, predicted: 0, scores: [0.9, 0.1] },
        { truth: 1, predicted: 0, scores: [0.8, 0.2] },
        { truth: 0, predicted: 0, scores: [0.7, 0.3] },
      ],
      ['ok', 'defect'],
    );
    expect(m.perClass[0].ap).to.be.closeTo(253 / 303, 1e-12);
    expect(m.curves).to.have.length(2);
  });
});
