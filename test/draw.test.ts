import { expect } from 'chai';
import {
  annotate,
  autoTextScale,
  CLASS_PALETTE,
  drawLabel,
  labelSize,
  labelText,
  textColourOn,
  VERDICT_COLOURS,
  type Raster,
  type Rgb,
} from '../src/core/drawing/draw';
import { GLYPH_HEIGHT, LINE_ADVANCE, glyphRows } from '../src/core/drawing/font';
import type { Detection, Verdict, VerdictResult } from '../src/core/types';

function frame(width: number, height: number, grey = 0): Raster {
  return { width, height, data: Buffer.alloc(width * height * 3, grey) };
}

function pixel(r: Raster | { width: number; data: Buffer }, x: number, y: number): number[] {
  const i = (y * r.width + x) * 3;
  return [r.data[i], r.data[i + 1], r.data[i + 2]];
}

function det(id: number, box: Detection['box'], cls = 'scratch', classId = 0, confidence = 0.91): Detection {
  return { id, class: cls, classId, confidence, box };
}

function verdictOf(results: Array<[number, VerdictResult]>, reasons: string[] = []): Verdict {
  const count = (r: VerdictResult): number => results.filter(([, v]) => v === r).length;
  const result: VerdictResult = count('FAIL') ? 'FAIL' : count('REVIEW') ? 'REVIEW' : 'PASS';
  return {
    result,
    units: results.map(([detectionId, r]) => ({ detectionId, class: 'scratch', confidence: 0.91, result: r })),
    counts: { total: results.length, pass: count('PASS'), fail: count('FAIL'), review: count('REVIEW'), byClass: {} },
    reasons,
  };
}

/** Rows (top to bottom) in which any pixel differs between two rasters of the same size. */
function changedRows(a: Raster, b: Buffer): number[] {
  const rows: number[] = [];
  const stride = a.width * 3;
  for (let y = 0; y < a.height; y++) {
    if (!a.data.subarray(y * stride, (y + 1) * stride).equals(b.subarray(y * stride, (y + 1) * stride))) rows.push(y);
  }
  return rows;
}

const boxesOnly = { showLabels: false, showConfidences: false, showBanner: false };

describe('drawing (core)', () => {
  it('draws a box outline in its verdict colour, centred on the box edge, and leaves the inside alone', () => {
    const f = frame(200, 100);
    const out = annotate(f, [det(7, { x: 50, y: 20, width: 60, height: 40 })], verdictOf([[7, 'FAIL']]), { ...boxesOnly, thickness: 3 });
    const red = [...VERDICT_COLOURS.FAIL];
    const o = { width: 200, data: out };
    // Left edge x = 50 and right edge x = 109 (the box covers 50..109), each 3 px wide around the edge.
    for (const x of [49, 50, 51, 108, 109, 110]) expect(pixel(o, x, 40), `x ${x}`).to.deep.equal(red);
    for (const y of [19, 20, 21, 58, 59, 60]) expect(pixel(o, 80, y), `y ${y}`).to.deep.equal(red);
    for (const [x, y] of [[52, 40], [80, 40], [107, 40], [80, 22], [48, 40], [111, 40], [80, 61]]) {
      expect(pixel(o, x, y), `${x},${y}`).to.deep.equal([0, 0, 0]);
    }
    // The input frame is not drawn on.
    expect(f.data.every((v) => v === 0)).to.equal(true);
  });

  it('colours units PASS green, FAIL red, REVIEW amber, and by class when there is no verdict', () => {
    const boxes = [0, 1, 2].map((i) => det(i, { x: 10 + i * 60, y: 10, width: 40, height: 40 }, i === 2 ? 'chip' : 'scratch', i === 2 ? 1 : 0));
    const withVerdict = annotate(frame(200, 60), boxes, verdictOf([[0, 'PASS'], [1, 'FAIL'], [2, 'REVIEW']]), boxesOnly);
    const o = { width: 200, data: withVerdict };
    expect(pixel(o, 10, 30)).to.deep.equal([...VERDICT_COLOURS.PASS]);
    expect(pixel(o, 70, 30)).to.deep.equal([...VERDICT_COLOURS.FAIL]);
    expect(pixel(o, 130, 30)).to.deep.equal([...VERDICT_COLOURS.REVIEW]);

    const byClass = { width: 200, data: annotate(frame(200, 60), boxes, undefined, boxesOnly) };
    expect(pixel(byClass, 10, 30)).to.deep.equal(pixel(byClass, 70, 30));
    expect(pixel(byClass, 10, 30)).to.not.deep.equal(pixel(byClass, 130, 30));
    for (const c of CLASS_PALETTE) expect(Object.values(VERDICT_COLOURS).map(String)).to.not.include(String(c));
  });

  it('renders label text: ink in the text colour inside the filled label, different for different text', () => {
    const bg: Rgb = VERDICT_COLOURS.FAIL;
    const ink = textColourOn(bg);
    const render = (text: string): Buffer => {
      const r = frame(160, 30);
      drawLabel(r, 5, 5, text, bg, 2);
      return r.data;
    };
    const size = labelSize('edge_defect', 2);
    const out = { width: 160, data: render('edge_defect') };
    let inked = 0;
    let filled = 0;
    for (let y = 5; y < 5 + size.height; y++) {
      for (let x = 5; x < 5 + size.width; x++) {
        const p = String(pixel(out, x, y));
        if (p === String(ink)) inked++;
        else if (p === String(bg)) filled++;
        else expect.fail(`unexpected colour ${p} at ${x},${y}`);
      }
    }
    expect(inked).to.be.greaterThan(11 * 4 * 6); // at least six font pixels per character, 2 x 2 each
    expect(filled).to.be.greaterThan(inked);
    expect(pixel(out, 4, 10)).to.deep.equal([0, 0, 0]); // nothing outside the label
    expect(render('edge_defect').equals(render('edge_defekt'))).to.equal(false);
  });

  it('has a distinct glyph for every printable ASCII character and draws others as ?', () => {
    const seen = new Set<string>();
    for (let code = 32; code <= 126; code++) {
      const rows = glyphRows(String.fromCharCode(code));
      expect(rows.length).to.equal(GLYPH_HEIGHT);
      seen.add(Array.from(rows).join(','));
    }
    expect(seen.size).to.equal(95);
    expect(Array.from(glyphRows('é'))).to.deep.equal(Array.from(glyphRows('?')));
  });

  it('labels a unit with its final class and confidence, as the options ask', () => {
    const replaced: Detection = { ...det(1, { x: 0, y: 0, width: 5, height: 5 }, 'edge_defect', 2, 0.914), detectorClass: 'part', detectorConfidence: 0.8 };
    expect(labelText(replaced, true, true)).to.equal('edge_defect 0.91');
    expect(labelText(replaced, true, false)).to.equal('edge_defect');
    expect(labelText(replaced, false, true)).to.equal('0.91');
  });

  it('puts the label just above the box, in the unit colour', () => {
    const out = { width: 300, data: annotate(frame(300, 200), [det(1, { x: 100, y: 100, width: 80, height: 60 })], verdictOf([[1, 'REVIEW']]), { showBanner: false, thickness: 2, textScale: 2 }) };
    const size = labelSize('scratch 0.91', 2);
    const amber = String(VERDICT_COLOURS.REVIEW);
    // The label's top-left background pixel sits label-height above the box's outer top edge (99).
    expect(String(pixel(out, 100, 99 - size.height))).to.equal(amber);
    expect(String(pixel(out, 99 + size.width - 1, 99 - 1))).to.equal(amber);
    expect(String(pixel(out, 100, 99 - size.height - 1))).to.equal('0,0,0');
  });

  it('clips boxes and labels that reach outside the frame without throwing', () => {
    const f = frame(100, 80);
    const d = [det(1, { x: -30, y: -20, width: 60, height: 50 }), det(2, { x: 90, y: 70, width: 500, height: 500 }), det(3, { x: 400, y: 400, width: 10, height: 10 })];
    const out = annotate(f, d, verdictOf([[1, 'FAIL'], [2, 'FAIL'], [3, 'FAIL']]), { showBanner: false, thickness: 2 });
    expect(out.length).to.equal(f.data.length);
    const o = { width: 100, data: out };
    expect(String(pixel(o, 29, 25))).to.equal(String(VERDICT_COLOURS.FAIL)); // right edge of box 1 (x -30..29)
    expect(String(pixel(o, 90, 75))).to.equal(String(VERDICT_COLOURS.FAIL)); // left edge of box 2
  });

  it('with no detections draws only the banner, and nothing below it', () => {
    const f = frame(640, 480, 128);
    const out = annotate(f, [], verdictOf([], ['no units in frame (empty frame: review)']), {});
    const rows = changedRows(f, out);
    expect(rows[0]).to.equal(0);
    // One block of rows from the top: the banner, well under a fifth of the frame.
    expect(rows).to.deep.equal(Array.from({ length: rows.length }, (_, i) => i));
    expect(rows.length).to.be.within(20, 96);
    // The banner darkens the frame behind it.
    expect(pixel({ width: 640, data: out }, 639, 2)[0]).to.be.lessThan(128);
  });

  it('draws no banner when it is turned off or there is no verdict', () => {
    const f = frame(320, 240, 90);
    expect(annotate(f, [], verdictOf([[1, 'FAIL']], ['unit 1: scratch']), { showBanner: false }).equals(f.data)).to.equal(true);
    expect(annotate(f, [], undefined, {}).equals(f.data)).to.equal(true);
  });

  it('keeps the banner to three lines of reasons however many there are', () => {
    const f = frame(640, 480, 128);
    const reasons = Array.from({ length: 40 }, (_, i) => `unit ${i}: edge_defect 0.91 >= reject 0.50 (critical)`);
    const few = changedRows(f, annotate(f, [], verdictOf([[0, 'FAIL']], ['unit 0: chip']), {})).length;
    const many = changedRows(f, annotate(f, [], verdictOf([[0, 'FAIL']], reasons), {})).length;
    const line = LINE_ADVANCE * (autoTextScale(640, 480) + 1);
    expect(many).to.equal(few + 2 * line);
  });

  it('scales text with the frame, so the banner takes a similar share of a 640 px and a 4000 px frame', () => {
    const share = (w: number, h: number): number => {
      const f = frame(w, h, 128);
      return changedRows(f, annotate(f, [], verdictOf([[0, 'PASS']]), {})).length / h;
    };
    const small = share(640, 480);
    const large = share(4000, 3000);
    expect(large / small).to.be.within(0.5, 1.5);
    expect(autoTextScale(4000, 3000)).to.be.greaterThan(autoTextScale(640, 480));
  });

  it('puts the labels of overlapping units where they do not cover each other', () => {
    const d = [det(1, { x: 100, y: 100, width: 80, height: 80 }), det(2, { x: 104, y: 104, width: 80, height: 80 })];
    const out = annotate(frame(400, 300), d, verdictOf([[1, 'PASS'], [2, 'FAIL']]), { showBanner: false, thickness: 2, textScale: 2 });
    const size = labelSize('scratch 0.91', 2);
    const o = { width: 400, data: out };
    // FAIL gets the spot above its box; PASS, whose spots above and just inside would overlap it, goes below.
    expect(String(pixel(o, 103, 103 - size.height))).to.equal(String(VERDICT_COLOURS.FAIL));
    expect(String(pixel(o, 103 + size.width - 1, 102))).to.equal(String(VERDICT_COLOURS.FAIL));
    expect(String(pixel(o, 99, 180))).to.equal(String(VERDICT_COLOURS.PASS)); // box 100..179, lines 2 px: outer edge 179
    expect(String(pixel(o, 99 + size.width - 1, 180 + size.height - 1))).to.equal(String(VERDICT_COLOURS.PASS));
  });

  it('refuses a detection whose box is not four numbers, naming it', () => {
    const bad = { ...det(4, { x: 0, y: 0, width: 5, height: 5 }), box: { x: '10', y: 0, width: 5, height: 5 } } as unknown as Detection;
    expect(() => annotate(frame(20, 20), [det(1, { x: 0, y: 0, width: 5, height: 5 }), bad], undefined)).to.throw(/detections\[1\]: box must have numeric x, y, width and height/);
    expect(() => annotate(frame(20, 20), [{ id: 1 } as Detection], undefined)).to.throw(/detections\[0\]/);
    expect(() => annotate({ width: 20, height: 20, data: Buffer.alloc(10) }, [], undefined)).to.throw(/image must be a decoded frame/);
    expect(() => annotate(frame(20, 20), [], { result: 'OK' } as unknown as Verdict)).to.throw(/verdict.result must be PASS, FAIL or REVIEW/);
  });
});
