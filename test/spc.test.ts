import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Random, binomialSampler } from '../src/core/synth/random';
import {
  addCounts,
  baselineCentre,
  checkCounts,
  checkSettings,
  ChartPoint,
  controlLimits,
  countsFromVerdict,
  createState,
  isContinuable,
  MAX_STREAMS,
  resetState,
  RuleName,
  SpcAlert,
  SpcEvent,
  SpcResolved,
  SpcSettings,
  SpcState,
  statusFigures,
} from '../src/core/spc/spc';
import type { Verdict } from '../src/core/types';

const ROOT = path.resolve(__dirname, '..', '..');
const NO_RULES: Record<RuleName, boolean> = { we1: false, we2: false, we3: false, we4: false, trend: false, ewma: false, cusum: false };

/**
 * The ARL figures docs/spc.md and the help state for p0 = 1 %, n = 500 (from bench/spc-arl.ts),
 * zero state: the rate is shifted from the first monitored subgroup on.
 */
const STATED = { defaultsArl0: 780, cusumArl1At1_5: 11.2, ewmaArl1At1_5: 6.4 };

/** P(X > c) for X ~ Binomial(n, p), by the pmf recurrence from 0: independent of the code under test. */
function upperTail(n: number, p: number, c: number): number {
  let pmf = Math.pow(1 - p, n);
  let cdf = 0;
  for (let k = 0; k <= c; k++) {
    cdf += pmf;
    pmf *= ((n - k) / (k + 1)) * (p / (1 - p));
  }
  return 1 - cdf;
}

function counts(inspected: number, defective: number, byClass: Record<string, number> = {}) {
  return { inspected, defective, byClass };
}

/** Feeds subgroups of n units drawn at rate p; returns every point and event. */
function feed(state: SpcState, settings: SpcSettings, key: string, n: number, p: number, subgroups: number, rng: Random, t0 = 0) {
  const draw = binomialSampler(n, p);
  const points: ChartPoint[] = [];
  const events: SpcEvent[] = [];
  for (let i = 0; i < subgroups; i++) {
    const out = addCounts(state, settings, key, counts(n, draw(rng)), t0 + i * 1000);
    points.push(...out.points);
    events.push(...out.events);
  }
  return { points, events };
}

/** Subgroups until `rule` first fires, with the rate at p from the first monitored subgroup on. */
function runLength(settings: SpcSettings, rule: RuleName, p: number, rng: Random, cap = 100_000): number {
  const draw = binomialSampler(500, p);
  const state = createState(settings);
  for (let i = 1; i <= cap; i++) {
    const { points } = addCounts(state, settings, 'line', counts(500, draw(rng)), i);
    if (points[0].violations.some((v) => v.rule === rule)) return i;
  }
  return cap;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

describe('spc core: limits', () => {
  it('puts the probability limit at the smallest count whose upper tail is at most 0.00135', () => {
    const { ucl, lcl } = controlLimits(500, 0.01, 'probability');
    const c = Math.round(ucl * 500);
    expect(upperTail(500, 0.01, c)).to.be.at.most(0.00135);
    expect(upperTail(500, 0.01, c - 1)).to.be.above(0.00135);
    // P(X = 0) = 0.99^500 = 0.0066 > 0.00135: no count is improbably low, so there is no lower limit.
    expect(lcl).to.equal(0);
  });

  it('gives textbook 3-sigma limits for each subgroup n, the lower one not below 0', () => {
    for (const [n, p] of [[500, 0.01], [400, 0.01], [5000, 0.05]]) {
      const sd = Math.sqrt((p * (1 - p)) / n);
      const { ucl, lcl } = controlLimits(n, p, 'sigma');
      expect(ucl).to.be.closeTo(p + 3 * sd, 1e-12);
      expect(lcl).to.be.closeTo(Math.max(0, p - 3 * sd), 1e-12);
    }
    expect(controlLimits(500, 0.01, 'sigma').lcl).to.equal(0);
    expect(controlLimits(5000, 0.05, 'sigma').lcl).to.be.above(0);
  });

  it('keeps the false-alarm probability at most 0.00135 where n p is small, where 3 sigma does not', () => {
    for (const [n, p] of [[50, 0.002], [200, 0.005], [100, 0.02], [1000, 0.001]]) {
      const probability = Math.round(controlLimits(n, p, 'probability').ucl * n);
      expect(upperTail(n, p, probability), `n ${n} p ${p}`).to.be.at.most(0.00135);
      const sigma = Math.floor(controlLimits(n, p, 'sigma').ucl * n + 1e-9);
      expect(upperTail(n, p, sigma), `3 sigma, n ${n} p ${p}`).to.be.above(0.00135);
    }
  });

  it('uses each subgroup its own n for the limits', () => {
    const settings = checkSettings({ targetRate: 0.01, subgroupSize: 1 });
    const state = createState(settings);
    const small = addCounts(state, settings, 'A', counts(200, 1), 0).points[0];
    const large = addCounts(state, settings, 'A', counts(2000, 20), 1).points[0];
    expect(small.ucl).to.equal(controlLimits(200, 0.01, 'probability').ucl);
    expect(large.ucl).to.equal(controlLimits(2000, 0.01, 'probability').ucl);
    expect(small.ucl).to.be.above(large.ucl!);
  });
});

describe('spc core: simulated streams', () => {
  // About 160 and 310 expected alarms: a 20 % band is then more than 2.5 standard errors wide.
  for (const [method, subgroups] of [['probability', 250_000], ['sigma', 60_000]] as const) {
    it(`rule we1 alone with ${method} limits alarms as often as its limits imply (p 1 %, n 500)`, () => {
      const settings = checkSettings({ targetRate: 0.01, subgroupSize: 500, limits: method, rules: { ...NO_RULES, we1: true } });
      // A subgroup signals when its count is above n * UCL: the implied rate is P(X > floor(n * UCL)).
      const implied = upperTail(500, 0.01, Math.floor(controlLimits(500, 0.01, method).ucl * 500 + 1e-9));
      const { points } = feed(createState(settings), settings, 'press-1', 500, 0.01, subgroups, new Random(method === 'sigma' ? 7 : 11));
      const observed = points.filter((p) => p.violations.some((v) => v.rule === 'we1')).length / points.length;
      expect(points).to.have.length(subgroups);
      expect(observed / implied, `observed ${observed}, implied ${implied}`).to.be.within(0.8, 1.2);
    });
  }

  it('flags a shift from 1 % to 8 % at the first subgroup after it, from a baseline', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const settings = checkSettings({ subgroupSize: 500, baselineSubgroups: 25 });
      const state = createState(settings);
      const rng = new Random(seed);
      const before = feed(state, settings, 'press-3', 500, 0.01, 75, rng);
      expect(before.points[24].centre, 'baseline set at subgroup 25').to.be.a('number');
      const alreadyOpen = before.events.filter((e) => e.type === 'alert').length > before.events.filter((e) => e.type === 'resolved').length;
      const after = feed(state, settings, 'press-3', 500, 0.08, 1, rng, 75_000);
      expect(after.points[0].violations, `seed ${seed}`).to.deep.include({ rule: 'we1', direction: 'up' });
      if (!alreadyOpen) {
        const alert = after.events[0] as SpcAlert;
        expect(alert.type).to.equal('alert');
        expect(alert.severity).to.equal('critical');
        expect(alert.evidence.map((e) => e.index)).to.deep.equal([76]);
      }
    }
  });

  it(`flags 1 % -> 1.5 % by CUSUM with the defaults within the stated ARL (${STATED.cusumArl1At1_5} subgroups)`, () => {
    const settings = checkSettings({ targetRate: 0.01, subgroupSize: 500 });
    const rng = new Random(2024);
    const lengths = Array.from({ length: 400 }, () => runLength(settings, 'cusum', 0.015, rng));
    expect(median(lengths)).to.be.at.most(STATED.cusumArl1At1_5);
    expect(mean(lengths) / STATED.cusumArl1At1_5).to.be.within(0.85, 1.15);
  });

  it(`flags 1 % -> 1.5 % by EWMA (lambda 0.1, L 2.8) within the stated ARL (${STATED.ewmaArl1At1_5} subgroups)`, () => {
    const settings = checkSettings({ targetRate: 0.01, subgroupSize: 500, rules: { ...NO_RULES, ewma: true } });
    const rng = new Random(77);
    const lengths = Array.from({ length: 400 }, () => runLength(settings, 'ewma', 0.015, rng));
    expect(median(lengths)).to.be.at.most(STATED.ewmaArl1At1_5);
    expect(mean(lengths) / STATED.ewmaArl1At1_5).to.be.within(0.85, 1.15);
  });

  it(`raises a false alarm about once in ${STATED.defaultsArl0} subgroups with the defaults in control`, () => {
    const settings = checkSettings({ targetRate: 0.01, subgroupSize: 500 });
    const rng = new Random(99);
    const draw = binomialSampler(500, 0.01);
    const lengths = Array.from({ length: 200 }, () => {
      const state = createState(settings);
      for (let i = 1; ; i++) {
        if (addCounts(state, settings, 'line', counts(500, draw(rng)), i).points[0].violations.length > 0) return i;
      }
    });
    expect(mean(lengths) / STATED.defaultsArl0).to.be.within(0.8, 1.2);
  });

  it('states those figures in the docs and the help', () => {
    const docs = fs.readFileSync(path.join(ROOT, 'docs', 'spc.md'), 'utf8');
    const help = fs.readFileSync(path.join(ROOT, 'nodes', 'locales', 'en-US', 'avi-spc.html'), 'utf8');
    for (const figure of Object.values(STATED)) {
      expect(docs, `docs/spc.md states ${figure}`).to.include(String(figure));
      expect(help, `help states ${figure}`).to.include(String(figure));
    }
  });
});

describe('spc core: baseline and excursions', () => {
  it('drops out-of-control baseline subgroups from the centre line', () => {
    const points = Array.from({ length: 25 }, (_, i) => ({ index: i + 1, time: i, n: 500, defective: i === 4 || i === 17 ? 60 : 5, rate: 0 }));
    const found = baselineCentre(points, 'probability')!;
    expect(found.kept).to.have.length(23);
    expect(found.centre).to.equal((23 * 5) / (23 * 500));
  });

  it('waits for a defect before it sets a centre line, keeping only the latest subgroups', () => {
    const settings = checkSettings({ subgroupSize: 100, baselineSubgroups: 5 });
    const state = createState(settings);
    for (let i = 0; i < 12; i++) expect(addCounts(state, settings, 'L', counts(100, 0), i).points[0].centre).to.equal(null);
    const point = addCounts(state, settings, 'L', counts(100, 1), 12).points[0];
    expect(point.centre).to.equal(1 / 500);
    expect(state.streams.L.charts['*'].baselineInfo).to.deep.equal({ subgroups: 5, dropped: 0, inspected: 500, defective: 1 });
  });

  it('sends one alert per excursion and one resolved message when back in control', () => {
    const settings = checkSettings({ targetRate: 0.01, subgroupSize: 500, resolveAfter: 8 });
    const state = createState(settings);
    const events: SpcEvent[] = [];
    const add = (d: number, t: number) => events.push(...addCounts(state, settings, 'P', counts(500, d), t).events);
    for (let t = 0; t < 5; t++) add(5, t);
    for (let t = 5; t < 10; t++) add(40, t);
    expect(events.map((e) => e.type)).to.deep.equal(['alert']);
    const alert = events[0] as SpcAlert;
    expect(alert).to.include({ key: 'P', class: null, rule: 'we1', direction: 'up', severity: 'critical', since: 5, time: 5 });
    expect(alert.rules).to.have.members(['we1', 'cusum']);
    expect(alert.text).to.match(/^P defect rate out of control \(critical\): a subgroup above the upper control limit \[we1\]/);
    // Back to 1 %: the CUSUM, held at most 2h, falls below h, then 8 clean subgroups close the excursion.
    let t = 10;
    while (events.length === 1 && t < 200) add(5, t++);
    const resolved = events[1] as SpcResolved;
    expect(resolved).to.include({ type: 'resolved', rule: 'we1', since: 5, inspected: 500 * (t - 5), defective: 40 * 5 + 5 * (t - 10) });
    expect(t - 10).to.be.within(9, 40);
    add(60, t);
    expect(events.map((e) => e.type)).to.deep.equal(['alert', 'resolved', 'alert']);
  });

  it('dates a CUSUM alert from where the sum left zero and gives those points as evidence', () => {
    const settings = checkSettings({ targetRate: 0.01, subgroupSize: 500, rules: { ...NO_RULES, cusum: true } });
    const state = createState(settings);
    for (let t = 0; t < 10; t++) addCounts(state, settings, 'P', counts(500, 3), t);
    const events: SpcEvent[] = [];
    for (let t = 10; t < 40 && events.length === 0; t++) events.push(...addCounts(state, settings, 'P', counts(500, 10), t).events);
    const alert = events[0] as SpcAlert;
    expect(alert.rule).to.equal('cusum');
    expect(alert.since).to.equal(10);
    expect(alert.evidence[0].time).to.equal(10);
    expect(alert.evidence.every((e) => e.defective === 10)).to.equal(true);
  });

  it('alerts with low severity when the defects vanish (an inspection that stopped seeing them)', () => {
    const settings = checkSettings({ targetRate: 0.01, subgroupSize: 500 });
    const state = createState(settings);
    const events: SpcEvent[] = [];
    for (let t = 0; t < 10 && events.length === 0; t++) events.push(...addCounts(state, settings, 'P', counts(500, 0), t).events);
    expect(events[0]).to.include({ type: 'alert', rule: 'cusum', direction: 'down', severity: 'minor', time: 3 });
  });
});

describe('spc core: run rules', () => {
  // Sigma limits at p 10 %, n 100: centre 10 defectives, sd 3, zone boundaries 13, 16 and 19.
  const fire = (rule: RuleName, defectives: number[]): number[] => {
    const settings = checkSettings({ targetRate: 0.1, subgroupSize: 100, limits: 'sigma', rules: { ...NO_RULES, [rule]: true } });
    const state = createState(settings);
    return defectives.flatMap((d, i) => (addCounts(state, settings, 'R', counts(100, d), i).points[0].violations.length ? [i] : []));
  };

  it('we1: beyond 3 sigma', () => expect(fire('we1', [10, 19, 20, 1, 0])).to.deep.equal([2, 4]));
  it('we2: 2 of 3 beyond 2 sigma on one side', () => {
    expect(fire('we2', [17, 10, 17])).to.deep.equal([2]);
    expect(fire('we2', [17, 10, 10, 17, 3])).to.deep.equal([]);
  });
  it('we3: 4 of 5 beyond 1 sigma on one side', () => {
    expect(fire('we3', [14, 14, 10, 14, 14])).to.deep.equal([4]);
    expect(fire('we3', [14, 14, 10, 6, 14, 14])).to.deep.equal([]);
  });
  it('we4: 8 in a row on one side', () => {
    expect(fire('we4', [11, 11, 11, 11, 11, 11, 11, 11])).to.deep.equal([7]);
    expect(fire('we4', [11, 11, 11, 10, 11, 11, 11, 11, 11])).to.deep.equal([]);
  });
  it('trend: 6 in a row rising or falling', () => {
    expect(fire('trend', [6, 7, 8, 9, 11, 12])).to.deep.equal([5]);
    expect(fire('trend', [12, 11, 9, 8, 7, 6, 6])).to.deep.equal([5]);
    expect(fire('trend', [6, 7, 8, 8, 9, 11])).to.deep.equal([]);
  });
});

describe('spc core: subgroups, classes and input', () => {
  it('closes a unit subgroup at the first message that reaches the size', () => {
    const settings = checkSettings({ subgroupSize: 500, targetRate: 0.01 });
    const state = createState(settings);
    const ns = [100, 100, 100, 100, 150, 700].flatMap((n, t) => addCounts(state, settings, 'A', counts(n, 1), t).points.map((p) => [p.n, p.defective, p.start, p.time]));
    expect(ns).to.deep.equal([[550, 5, 0, 4], [700, 1, 5, 5]]);
  });

  it('closes a time-window subgroup at the first message after its end, skipping empty windows', () => {
    const settings = checkSettings({ subgroupBy: 'time', subgroupSeconds: 60, targetRate: 0.01 });
    const state = createState(settings);
    const at = (s: number, n: number) => addCounts(state, settings, 'A', counts(n, 1), 1_000_000 + s * 1000).points;
    expect(at(0, 50)).to.deep.equal([]);
    expect(at(59, 50)).to.deep.equal([]);
    const [first] = at(60, 30);
    expect(first).to.include({ n: 100, defective: 2, start: 1_000_000, time: 1_060_000 });
    const [second] = at(200, 10);
    expect(second).to.include({ n: 30, start: 1_060_000, time: 1_120_000 });
    expect(state.streams.A.open).to.include({ start: 1_180_000, n: 10 });
  });

  it('counts FAIL units of a verdict as defective, REVIEW only when asked, by class', () => {
    const unit = (result: 'PASS' | 'FAIL' | 'REVIEW', cls: string, i: number) => ({ detectionId: i, class: cls, confidence: 0.9, result });
    const verdict: Verdict = {
      result: 'FAIL',
      units: [unit('PASS', 'good', 0), unit('FAIL', 'edge_defect', 1), unit('FAIL', 'edge_defect', 2), unit('FAIL', 'chipped', 3), unit('REVIEW', 'unknown', 4)],
      counts: { total: 5, pass: 1, fail: 3, review: 1, byClass: {} },
      reasons: [],
    };
    expect(countsFromVerdict(verdict, false)).to.deep.equal({ inspected: 5, defective: 3, byClass: { edge_defect: 2, chipped: 1 } });
    expect(countsFromVerdict(verdict, true)).to.deep.equal({ inspected: 5, defective: 4, byClass: { edge_defect: 2, chipped: 1, unknown: 1 } });
    expect(() => countsFromVerdict({ units: 'x' }, false)).to.throw(/msg.verdict.units must be an array/);
  });

  it('keeps a chart per listed class and gives its hint in the alert', () => {
    const settings = checkSettings({
      subgroupSize: 500,
      targetRate: 0.02,
      classes: [{ name: 'edge_defect', targetRate: 0.01, hint: 'check punch faces and compression tooling' }],
      defaultHint: 'walk the line',
    });
    const state = createState(settings);
    const { points, events } = addCounts(state, settings, 'press-3', counts(500, 41, { edge_defect: 31, chipped: 10 }), 0);
    expect(points.map((p) => [p.class, p.defective, p.centre])).to.deep.equal([[null, 41, 0.02], ['edge_defect', 31, 0.01]]);
    const [all, edge] = events as SpcAlert[];
    expect(edge.text).to.match(/^press-3 edge_defect defect rate out of control .* check punch faces and compression tooling$/);
    expect(all.hint).to.equal('edge_defect: 31 of the defects. check punch faces and compression tooling');
    const quiet = addCounts(createState(settings), settings, 'press-4', counts(500, 40, { chipped: 40 }), 0).events[0] as SpcAlert;
    expect(quiet.hint).to.equal('walk the line');
  });

  it('rejects bad counts with a clear error', () => {
    expect(() => checkCounts({ inspected: 10, defective: -1 }, 'msg.payload')).to.throw('msg.payload.defective must be a whole number >= 0, got -1');
    expect(() => checkCounts({ inspected: 10, defective: 12 }, 'msg.payload')).to.throw('msg.payload.defective (12) is greater than msg.payload.inspected (10)');
    expect(() => checkCounts({ inspected: '10', defective: 1 }, 'msg.payload')).to.throw('msg.payload.inspected must be a number, got "10"');
    expect(() => checkCounts({ inspected: 10, defective: 1.5 }, 'msg.payload')).to.throw(/whole number/);
    expect(() => checkCounts({ inspected: 10, defective: 2, byClass: { chip: 3 } }, 'msg.payload')).to.throw('msg.payload.byClass.chip (3) is greater than msg.payload.defective (2)');
    expect(() => checkCounts(7, 'msg.payload')).to.throw(/must be \{ inspected, defective, byClass\? \}/);
  });

  it('leaves the state as it was when a message is rejected', () => {
    const settings = checkSettings({ subgroupSize: 500 });
    const state = createState(settings);
    addCounts(state, settings, 'A', counts(100, 1), 0);
    const before = JSON.stringify(state);
    expect(() => addCounts(state, settings, '', counts(100, 1), 1)).to.throw(/stream key/);
    expect(() => addCounts(state, settings, 'A', counts(100, 1), NaN)).to.throw(/time/);
    expect(JSON.stringify(state)).to.equal(before);
  });

  it(`refuses a stream key beyond ${MAX_STREAMS}`, () => {
    const settings = checkSettings({ subgroupSize: 500 });
    const state = createState(settings);
    for (let i = 0; i < MAX_STREAMS; i++) addCounts(state, settings, `k${i}`, counts(1, 0), 0);
    expect(() => addCounts(state, settings, 'one-more', counts(1, 0), 0)).to.throw(/already 200 stream keys/);
  });

  it('rejects bad settings by name', () => {
    expect(() => checkSettings({ subgroupSize: 0 })).to.throw(/subgroup size/);
    expect(() => checkSettings({ targetRate: 1.5 })).to.throw(/target rate must be a rate above 0 % and below 100 %/);
    expect(() => checkSettings({ cusumShift: 1 })).to.throw(/CUSUM shift/);
    expect(() => checkSettings({ classes: [{ name: 'a', targetRate: null, hint: '' }, { name: 'a', targetRate: null, hint: '' }] })).to.throw(/listed twice/);
  });
});

describe('spc core: state', () => {
  it('continues identically from a JSON copy of its state', () => {
    const settings = checkSettings({ subgroupSize: 500, baselineSubgroups: 20, rules: { ...NO_RULES, we1: true, ewma: true, cusum: true, we4: true } });
    const state = createState(settings);
    feed(state, settings, 'L', 500, 0.01, 60, new Random(5));
    const copy = JSON.parse(JSON.stringify(state)) as SpcState;
    const a = feed(state, settings, 'L', 500, 0.02, 40, new Random(6), 60_000);
    const b = feed(copy, settings, 'L', 500, 0.02, 40, new Random(6), 60_000);
    expect(b).to.deep.equal(a);
    expect(a.points.filter((p) => p.violations.length > 0).length).to.be.above(5);
  });

  it('continues saved state only under the settings that made it', () => {
    const settings = checkSettings({ subgroupSize: 500 });
    const saved = JSON.parse(JSON.stringify(createState(settings)));
    expect(isContinuable(saved, checkSettings({ subgroupSize: 500, ewmaL: 3, defaultHint: 'x' }))).to.equal(true);
    expect(isContinuable(saved, checkSettings({ subgroupSize: 400 }))).to.equal(false);
    expect(isContinuable(saved, checkSettings({ subgroupSize: 500, targetRate: 0.01 }))).to.equal(false);
    expect(isContinuable(undefined, settings)).to.equal(false);
  });

  it('resets one key or every key and says what it cleared', () => {
    const settings = checkSettings({ subgroupSize: 500, targetRate: 0.01 });
    const state = createState(settings);
    addCounts(state, settings, 'A', counts(500, 50), 0);
    addCounts(state, settings, 'B', counts(500, 5), 0);
    expect(resetState(state, 'A', 10)).to.deep.equal({ type: 'reset', key: 'A', keys: ['A'], time: 10, text: 'reset A: subgroups, baselines, statistics and 1 open excursion cleared.' });
    expect(Object.keys(state.streams)).to.deep.equal(['B']);
    expect(resetState(state, 'Z', 11).text).to.equal('reset Z (it had no chart): subgroups, baselines, statistics cleared.');
    expect(resetState(state, null, 12)).to.include({ key: null, text: 'reset every key (B): subgroups, baselines, statistics cleared.' });
    expect(state.streams).to.deep.equal({});
  });

  it('says p, UCL and n in the status', () => {
    const settings = checkSettings({ subgroupSize: 500, baselineSubgroups: 2 });
    const state = createState(settings);
    const first = addCounts(state, settings, 'press-3', counts(500, 6), 0).points[0];
    expect(statusFigures(first, state, settings)).to.deep.equal({ where: 'press-3', baseline: '1/2', p: '1.2%', ucl: null, n: 500 });
    addCounts(state, settings, 'press-3', counts(500, 4), 1);
    const point = addCounts(state, settings, 'press-3', counts(500, 6), 2).points[0];
    expect(statusFigures(point, state, settings)).to.deep.equal({ where: 'press-3', baseline: null, p: '1.2%', ucl: '2.6%', n: 500 });
  });
});
