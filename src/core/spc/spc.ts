// Statistical process control of defect rates: subgroups, p-chart limits, run rules, EWMA, CUSUM, excursions.
// Everything a chart remembers lives in one plain JSON object (SpcState) so Node-RED context can persist it.
import { binomialTable, lowerQuantile, upperQuantile } from './binomial';
import { SEVERITIES } from '../decision/router';
import type { Severity } from '../types';

export const RULES = ['we1', 'we2', 'we3', 'we4', 'trend', 'ewma', 'cusum'] as const;
export type RuleName = (typeof RULES)[number];
export type LimitsMethod = 'probability' | 'sigma';
export type Direction = 'up' | 'down';

/** One defect class that gets a chart of its own. */
export interface ClassChartSetting {
  name: string;
  /** Centre line as a fraction (0.004 = 0.4 %); null = from the baseline. */
  targetRate: number | null;
  /** What to investigate when this class goes out of control. */
  hint: string;
}

export interface SpcSettings {
  subgroupBy: 'units' | 'time';
  /** Units per subgroup (subgroupBy 'units'); a subgroup closes at the first message that reaches it. */
  subgroupSize: number;
  /** Length of a time-window subgroup in seconds (subgroupBy 'time'). */
  subgroupSeconds: number;
  /** Subgroups that make the baseline when there is no target rate. */
  baselineSubgroups: number;
  /** Centre line of the all-defects chart as a fraction; null = from the baseline. */
  targetRate: number | null;
  limits: LimitsMethod;
  rules: Record<RuleName, boolean>;
  ewmaLambda: number;
  /** EWMA limit in standard deviations of the EWMA statistic. */
  ewmaL: number;
  /** The CUSUM is tuned to detect the rate multiplied (up) or divided (down) by this factor. */
  cusumShift: number;
  /** CUSUM decision interval, natural-log likelihood ratio (nats). */
  cusumH: number;
  /** Consecutive subgroups without any rule firing that close an excursion. */
  resolveAfter: number;
  classes: ClassChartSetting[];
  /** Investigation hint when no class hint applies. */
  defaultHint: string;
}

export const DEFAULT_SETTINGS: SpcSettings = {
  subgroupBy: 'units',
  subgroupSize: 500,
  subgroupSeconds: 60,
  baselineSubgroups: 25,
  targetRate: null,
  limits: 'probability',
  rules: { we1: true, we2: false, we3: false, we4: false, trend: false, ewma: false, cusum: true },
  ewmaLambda: 0.1,
  ewmaL: 2.8,
  cusumShift: 1.5,
  cusumH: 6,
  resolveAfter: 8,
  classes: [],
  defaultHint: '',
};

/** Bound on stream keys per node, so a key that changes on every message cannot grow the state without end. */
export const MAX_STREAMS = 200;
/** Points each chart keeps for the run rules and as the evidence of an alert. */
export const HISTORY_LENGTH = 30;

/**
 * One-sided tail probabilities of a normal distribution beyond 1, 2 and 3 standard deviations. The
 * probability limits put the binomial's zone boundaries where its own tails have these probabilities.
 */
export const ZONE_TAILS = [0.158655, 0.0227501, 0.0013499] as const;

export interface Counts {
  inspected: number;
  defective: number;
  /** Defective units of each class. */
  byClass: Record<string, number>;
}

/** A closed subgroup as the evidence of an alert shows it. */
export interface PointSummary {
  index: number;
  /** When the subgroup closed, ms since the epoch. */
  time: number;
  n: number;
  defective: number;
  /** defective / n, a fraction. */
  rate: number;
  /** Defectives by class (all-defects chart only). */
  byClass?: Record<string, number>;
}

interface HistoryEntry extends PointSummary {
  /** Above (1), below (-1) or on (0) the centre line. */
  side: -1 | 0 | 1;
  /** Beyond the 1, 2 or 3 sigma zone boundary on its side (0 = inside 1 sigma). */
  zone: 0 | 1 | 2 | 3;
}

/** A statistic with the subgroup where its current run began (the estimate of when a shift started). */
interface Run {
  value: number;
  startIndex: number | null;
  startTime: number | null;
}

interface Excursion {
  rule: RuleName;
  rules: RuleName[];
  severity: Severity;
  since: number;
  subgroups: number;
  inspected: number;
  defective: number;
  /** Subgroups in a row without a rule firing. */
  clean: number;
}

export interface ChartState {
  class: string | null;
  /** Centre line p as a fraction; null while the baseline is collected. */
  centre: number | null;
  centreSource: 'target' | 'baseline' | null;
  baseline: PointSummary[];
  baselineInfo: { subgroups: number; dropped: number; inspected: number; defective: number } | null;
  history: HistoryEntry[];
  /** Subgroups judged against the current centre line. */
  monitored: number;
  ewma: Run;
  cusumUp: Run;
  cusumDown: Run;
  excursion: Excursion | null;
}

interface OpenSubgroup {
  start: number;
  last: number;
  n: number;
  defective: number;
  byClass: Record<string, number>;
}

export interface StreamState {
  key: string;
  subgroups: number;
  open: OpenSubgroup | null;
  /** By class name; ALL_CLASSES for the all-defects chart. */
  charts: Record<string, ChartState>;
}

export interface SpcState {
  version: 1;
  /** The settings that shape the charts when this state was made (see settingsFingerprint). */
  fingerprint: string;
  streams: Record<string, StreamState>;
}

const ALL_CLASSES = '*';

export interface Violation {
  rule: RuleName;
  direction: Direction;
}

export interface ChartPoint {
  key: string;
  /** null for the all-defects chart. */
  class: string | null;
  index: number;
  /** First and last message of the subgroup (time windows: the window's start and end), ms since the epoch. */
  start: number;
  time: number;
  n: number;
  defective: number;
  rate: number;
  centre: number | null;
  ucl: number | null;
  lcl: number | null;
  phase: 'baseline' | 'monitoring';
  violations: Violation[];
  /** Standardised EWMA and its limit (when the EWMA rule is on). */
  ewma?: { value: number; limit: number };
  /** Upper and lower CUSUM in nats and the decision interval h (when the CUSUM rule is on). */
  cusum?: { up: number; down: number; h: number };
}

export interface SpcAlert {
  type: 'alert';
  key: string;
  class: string | null;
  rule: RuleName;
  rules: RuleName[];
  direction: Direction;
  severity: Severity;
  since: number;
  time: number;
  rate: number;
  centre: number;
  ucl: number;
  lcl: number;
  evidence: PointSummary[];
  hint: string;
  text: string;
}

export interface SpcResolved {
  type: 'resolved';
  key: string;
  class: string | null;
  rule: RuleName;
  rules: RuleName[];
  since: number;
  time: number;
  subgroups: number;
  inspected: number;
  defective: number;
  rate: number;
  centre: number;
  text: string;
}

export interface SpcReset {
  type: 'reset';
  /** The key that was reset; null = every key. */
  key: string | null;
  keys: string[];
  time: number;
  text: string;
}

export type SpcEvent = SpcAlert | SpcResolved | SpcReset;

export interface SpcOutput {
  points: ChartPoint[];
  events: SpcEvent[];
}

// ---------------------------------------------------------------- settings

function positive(value: number, what: string, integer: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`${what} must be a ${integer ? 'whole ' : ''}number above 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

function rate(value: number | null, what: string): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value >= 1) {
    throw new Error(`${what} must be a rate above 0 % and below 100 %, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Fills defaults and checks every setting; throws an error naming the first bad one. */
export function checkSettings(partial: Partial<SpcSettings>): SpcSettings {
  const s: SpcSettings = { ...DEFAULT_SETTINGS, ...partial, rules: { ...DEFAULT_SETTINGS.rules, ...partial.rules } };
  if (s.subgroupBy !== 'units' && s.subgroupBy !== 'time') throw new Error(`subgroup by must be "units" or "time", got ${JSON.stringify(s.subgroupBy)}`);
  positive(s.subgroupSize, 'subgroup size (units)', true);
  positive(s.subgroupSeconds, 'subgroup window (s)', false);
  positive(s.baselineSubgroups, 'baseline subgroups', true);
  rate(s.targetRate, 'target rate');
  if (s.limits !== 'probability' && s.limits !== 'sigma') throw new Error(`limits must be "probability" or "sigma", got ${JSON.stringify(s.limits)}`);
  if (!(s.ewmaLambda > 0 && s.ewmaLambda <= 1)) throw new Error(`EWMA lambda must be above 0 and at most 1, got ${s.ewmaLambda}`);
  positive(s.ewmaL, 'EWMA L', false);
  if (!(s.cusumShift > 1)) throw new Error(`CUSUM shift must be a factor above 1, got ${s.cusumShift}`);
  positive(s.cusumH, 'CUSUM h', false);
  positive(s.resolveAfter, 'subgroups to resolve', true);
  const seen = new Set<string>();
  for (const c of s.classes) {
    if (typeof c.name !== 'string' || c.name.trim() === '') throw new Error('a class chart has no class name');
    if (c.name === ALL_CLASSES) throw new Error(`"${ALL_CLASSES}" is not a class name`);
    if (seen.has(c.name)) throw new Error(`class "${c.name}" is listed twice`);
    seen.add(c.name);
    rate(c.targetRate, `target rate of class "${c.name}"`);
  }
  return s;
}

/**
 * The settings that decide what a chart's state means. State saved under other values is not
 * continued, because its subgroups and centre lines would no longer match the settings in force.
 */
export function settingsFingerprint(s: SpcSettings): string {
  return JSON.stringify({
    subgroup: s.subgroupBy === 'units' ? `${s.subgroupSize} units` : `${s.subgroupSeconds} s`,
    baselineSubgroups: s.baselineSubgroups,
    targetRate: s.targetRate,
    limits: s.limits,
    classes: s.classes.map((c) => [c.name, c.targetRate]),
  });
}

// ---------------------------------------------------------------- input

function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`${what} must be a number, got ${JSON.stringify(value)}`);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${what} must be a whole number >= 0, got ${value}`);
  return value;
}

/** Checks plain counts { inspected, defective, byClass? }; `where` names them in errors (e.g. "msg.payload"). */
export function checkCounts(value: unknown, where: string): Counts {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${where} must be { inspected, defective, byClass? } or the message must carry msg.verdict, got ${JSON.stringify(value)}`);
  }
  const v = value as Record<string, unknown>;
  const inspected = count(v.inspected, `${where}.inspected`);
  const defective = count(v.defective, `${where}.defective`);
  if (defective > inspected) throw new Error(`${where}.defective (${defective}) is greater than ${where}.inspected (${inspected})`);
  const byClass: Record<string, number> = {};
  if (v.byClass !== undefined) {
    if (v.byClass === null || typeof v.byClass !== 'object' || Array.isArray(v.byClass)) {
      throw new Error(`${where}.byClass must be an object of class name -> defective count, got ${JSON.stringify(v.byClass)}`);
    }
    for (const [name, raw] of Object.entries(v.byClass as Record<string, unknown>)) {
      const c = count(raw, `${where}.byClass.${name}`);
      if (c > defective) throw new Error(`${where}.byClass.${name} (${c}) is greater than ${where}.defective (${defective})`);
      byClass[name] = c;
    }
  }
  return { inspected, defective, byClass };
}

/** Counts from avi-router's verdict: every unit is inspected; FAIL units (and REVIEW ones if asked) are defective. */
export function countsFromVerdict(verdict: unknown, countReview: boolean): Counts {
  const units = (verdict as { units?: unknown } | null)?.units;
  if (!Array.isArray(units)) throw new Error(`msg.verdict.units must be an array of unit verdicts, got ${JSON.stringify(units)}`);
  const byClass: Record<string, number> = {};
  let defective = 0;
  units.forEach((u, i) => {
    const result = (u as { result?: unknown } | null)?.result;
    if (result !== 'PASS' && result !== 'FAIL' && result !== 'REVIEW') {
      throw new Error(`msg.verdict.units[${i}].result must be PASS, FAIL or REVIEW, got ${JSON.stringify(result)}`);
    }
    if (result === 'FAIL' || (countReview && result === 'REVIEW')) {
      defective++;
      const name = String((u as { class?: unknown }).class ?? '');
      byClass[name] = (byClass[name] ?? 0) + 1;
    }
  });
  return { inspected: units.length, defective, byClass };
}

// ---------------------------------------------------------------- limits

interface Thresholds {
  /** A count above upper[k-1] is beyond the k-sigma zone boundary (k = 1, 2, 3) above the centre. */
  upper: [number, number, number];
  /** A count below lower[k-1] is beyond the k-sigma zone boundary below the centre. */
  lower: [number, number, number];
}

const thresholdCache = new Map<string, Thresholds>();
const THRESHOLD_CACHE_SIZE = 2000;

/** Zone boundaries, in defective counts, for a subgroup of n units at centre rate p. */
export function thresholds(n: number, p: number, method: LimitsMethod): Thresholds {
  const id = `${method}|${n}|${p}`;
  const cached = thresholdCache.get(id);
  if (cached) return cached;
  let result: Thresholds;
  if (method === 'sigma') {
    const sd = Math.sqrt(n * p * (1 - p));
    const mean = n * p;
    result = { upper: [mean + sd, mean + 2 * sd, mean + 3 * sd], lower: [mean - sd, mean - 2 * sd, mean - 3 * sd] };
  } else {
    const table = binomialTable(n, p);
    result = {
      upper: [upperQuantile(table, ZONE_TAILS[0]), upperQuantile(table, ZONE_TAILS[1]), upperQuantile(table, ZONE_TAILS[2])],
      lower: [lowerQuantile(table, ZONE_TAILS[0]), lowerQuantile(table, ZONE_TAILS[1]), lowerQuantile(table, ZONE_TAILS[2])],
    };
  }
  if (thresholdCache.size >= THRESHOLD_CACHE_SIZE) thresholdCache.clear();
  thresholdCache.set(id, result);
  return result;
}

/** Control limits as rates (fractions) for a subgroup of n units; the lower limit is never below 0. */
export function controlLimits(n: number, p: number, method: LimitsMethod): { ucl: number; lcl: number } {
  const t = thresholds(n, p, method);
  return { ucl: t.upper[2] / n, lcl: Math.max(0, t.lower[2] / n) };
}

function classify(n: number, defective: number, p: number, method: LimitsMethod): Pick<HistoryEntry, 'side' | 'zone'> {
  const t = thresholds(n, p, method);
  const mean = n * p;
  const side = defective > mean + 1e-9 ? 1 : defective < mean - 1e-9 ? -1 : 0;
  const bounds = side > 0 ? t.upper : t.lower;
  let zone: HistoryEntry['zone'] = 0;
  for (let k = 3; k >= 1 && side !== 0; k--) {
    if (side > 0 ? defective > bounds[k - 1] : defective < bounds[k - 1]) {
      zone = k as 1 | 2 | 3;
      break;
    }
  }
  return { side, zone };
}

/**
 * Phase I: the centre from the baseline subgroups, dropping those beyond the control limits of the
 * centre they give and recomputing until none is beyond (never dropping more than half). Null when the
 * baseline has no defect at all: a centre of 0 cannot make limits.
 */
export function baselineCentre(points: PointSummary[], method: LimitsMethod): { centre: number; kept: PointSummary[] } | null {
  let kept = points;
  for (;;) {
    const n = kept.reduce((a, p) => a + p.n, 0);
    const d = kept.reduce((a, p) => a + p.defective, 0);
    if (d === 0 || n === 0) return null;
    const centre = d / n;
    if (d === n) return { centre, kept };
    const inControl = kept.filter((p) => classify(p.n, p.defective, centre, method).zone < 3);
    if (inControl.length === kept.length || inControl.length < points.length / 2) return { centre, kept };
    kept = inControl;
  }
}

// ---------------------------------------------------------------- state

function emptyRun(): Run {
  return { value: 0, startIndex: null, startTime: null };
}

function newChart(name: string | null, target: number | null): ChartState {
  return {
    class: name,
    centre: target,
    centreSource: target === null ? null : 'target',
    baseline: [],
    baselineInfo: null,
    history: [],
    monitored: 0,
    ewma: emptyRun(),
    cusumUp: emptyRun(),
    cusumDown: emptyRun(),
    excursion: null,
  };
}

export function createState(settings: SpcSettings): SpcState {
  return { version: 1, fingerprint: settingsFingerprint(settings), streams: {} };
}

/** Whether a value read back from a context store is state this node can continue. */
export function isContinuable(value: unknown, settings: SpcSettings): value is SpcState {
  const v = value as SpcState | null;
  return !!v && typeof v === 'object' && v.version === 1 && v.fingerprint === settingsFingerprint(settings) && typeof v.streams === 'object';
}

/** Makes the stream's charts match the settings: the all-defects chart plus one per listed class. */
function syncCharts(stream: StreamState, settings: SpcSettings): void {
  const wanted = new Map<string, number | null>([[ALL_CLASSES, settings.targetRate]]);
  for (const c of settings.classes) wanted.set(c.name, c.targetRate);
  for (const id of Object.keys(stream.charts)) if (!wanted.has(id)) delete stream.charts[id];
  for (const [id, target] of wanted) {
    if (!stream.charts[id]) stream.charts[id] = newChart(id === ALL_CLASSES ? null : id, target);
  }
}

function streamFor(state: SpcState, settings: SpcSettings, key: string): StreamState {
  let stream = state.streams[key];
  if (!stream) {
    if (Object.keys(state.streams).length >= MAX_STREAMS) {
      throw new Error(`already ${MAX_STREAMS} stream keys; "${key}" would be one more. Is the stream key a line or press, not something that changes per frame?`);
    }
    stream = { key, subgroups: 0, open: null, charts: {} };
    state.streams[key] = stream;
  }
  syncCharts(stream, settings);
  return stream;
}

// ---------------------------------------------------------------- the chart

function summary(e: PointSummary): PointSummary {
  const s: PointSummary = { index: e.index, time: e.time, n: e.n, defective: e.defective, rate: e.rate };
  if (e.byClass) s.byClass = { ...e.byClass };
  return s;
}

function windowRules(h: HistoryEntry[], rules: Record<RuleName, boolean>): Array<Violation & { evidence: HistoryEntry[] }> {
  const found: Array<Violation & { evidence: HistoryEntry[] }> = [];
  const cur = h[h.length - 1];
  const direction: Direction = cur.side > 0 ? 'up' : 'down';
  const lastN = (k: number): HistoryEntry[] => h.slice(-k);
  const beyond = (entries: HistoryEntry[], zone: number): number => entries.filter((e) => e.side === cur.side && e.zone >= zone).length;
  if (rules.we1 && cur.zone === 3) found.push({ rule: 'we1', direction, evidence: [cur] });
  if (rules.we2 && cur.zone >= 2 && beyond(lastN(3), 2) >= 2) found.push({ rule: 'we2', direction, evidence: lastN(3) });
  if (rules.we3 && cur.zone >= 1 && beyond(lastN(5), 1) >= 4) found.push({ rule: 'we3', direction, evidence: lastN(5) });
  if (rules.we4 && cur.side !== 0 && h.length >= 8 && lastN(8).every((e) => e.side === cur.side)) found.push({ rule: 'we4', direction, evidence: lastN(8) });
  if (rules.trend && h.length >= 6) {
    const last = lastN(6);
    const rising = last.every((e, i) => i === 0 || e.rate > last[i - 1].rate);
    const falling = last.every((e, i) => i === 0 || e.rate < last[i - 1].rate);
    if (rising || falling) found.push({ rule: 'trend', direction: rising ? 'up' : 'down', evidence: last });
  }
  return found;
}

/** Steps a run statistic; a run starts where the statistic leaves 0 (CUSUM) or crosses 0 (EWMA). */
function stepRun(run: Run, value: number, restarted: boolean, entry: HistoryEntry): void {
  if (restarted) {
    run.startIndex = entry.index;
    run.startTime = entry.time;
  }
  run.value = value;
}


function severityOf(v: Violation): Severity {
  if (v.direction === 'down') return 'minor';
  return v.rule === 'we1' ? 'critical' : 'major';
}

export function percent(fraction: number): string {
  if (fraction === 0) return '0%';
  const pct = fraction * 100;
  return `${pct >= 0.01 ? Number(pct.toPrecision(2)) : pct.toExponential(1)}%`;
}

const RULE_TEXT: Record<RuleName, (d: Direction) => string> = {
  we1: (d) => `a subgroup ${d === 'up' ? 'above the upper' : 'below the lower'} control limit`,
  we2: (d) => `2 of 3 subgroups beyond 2 sigma ${d === 'up' ? 'above' : 'below'} the centre line`,
  we3: (d) => `4 of 5 subgroups beyond 1 sigma ${d === 'up' ? 'above' : 'below'} the centre line`,
  we4: (d) => `8 subgroups in a row ${d === 'up' ? 'above' : 'below'} the centre line`,
  trend: (d) => `6 subgroups in a row ${d === 'up' ? 'rising' : 'falling'}`,
  ewma: (d) => `EWMA ${d === 'up' ? 'above' : 'below'} its limit (a small sustained shift)`,
  cusum: (d) => `CUSUM ${d === 'up' ? 'upper' : 'lower'} sum beyond h (a small sustained shift)`,
};

function label(key: string, cls: string | null): string {
  return cls === null ? key : `${key} ${cls}`;
}

function hintFor(chart: ChartState, evidence: PointSummary[], settings: SpcSettings): string {
  const hints = new Map(settings.classes.filter((c) => c.hint.trim() !== '').map((c) => [c.name, c.hint.trim()]));
  if (chart.class !== null) return hints.get(chart.class) ?? settings.defaultHint;
  // On the all-defects chart, the class behind most of the evidence's defects says where to look.
  const totals = new Map<string, number>();
  for (const e of evidence) for (const [c, k] of Object.entries(e.byClass ?? {})) totals.set(c, (totals.get(c) ?? 0) + k);
  const top = [...totals].sort((a, b) => b[1] - a[1])[0];
  if (top && hints.has(top[0])) return `${top[0]}: ${top[1]} of the defects. ${hints.get(top[0])}`;
  return settings.defaultHint;
}

interface Closed {
  index: number;
  start: number;
  time: number;
  n: number;
  defective: number;
  byClass?: Record<string, number>;
}

function updateChart(chart: ChartState, key: string, sub: Closed, settings: SpcSettings, events: SpcEvent[]): ChartPoint {
  const entry: PointSummary = { index: sub.index, time: sub.time, n: sub.n, defective: sub.defective, rate: sub.defective / sub.n };
  if (sub.byClass) entry.byClass = sub.byClass;
  const point: ChartPoint = {
    key,
    class: chart.class,
    index: sub.index,
    start: sub.start,
    time: sub.time,
    n: sub.n,
    defective: sub.defective,
    rate: entry.rate,
    centre: null,
    ucl: null,
    lcl: null,
    phase: 'baseline',
    violations: [],
  };

  if (chart.centre === null) {
    chart.baseline.push(entry);
    if (chart.baseline.length >= settings.baselineSubgroups) {
      const found = baselineCentre(chart.baseline, settings.limits);
      if (found) {
        chart.centre = found.centre;
        chart.centreSource = 'baseline';
        chart.baselineInfo = {
          subgroups: found.kept.length,
          dropped: chart.baseline.length - found.kept.length,
          inspected: found.kept.reduce((a, p) => a + p.n, 0),
          defective: found.kept.reduce((a, p) => a + p.defective, 0),
        };
        chart.baseline = [];
        Object.assign(point, { centre: found.centre }, controlLimits(sub.n, found.centre, settings.limits));
      } else {
        // No defect in the whole baseline yet: keep the most recent subgroups and wait for one.
        chart.baseline.shift();
      }
    }
    return point;
  }

  const p = chart.centre;
  point.phase = 'monitoring';
  point.centre = p;
  Object.assign(point, controlLimits(sub.n, p, settings.limits));
  const judged: HistoryEntry = { ...entry, ...classify(sub.n, sub.defective, p, settings.limits) };
  chart.history.push(judged);
  if (chart.history.length > HISTORY_LENGTH) chart.history.shift();
  chart.monitored++;

  const found = windowRules(chart.history, settings.rules);
  const runEvidence = (run: Run): HistoryEntry[] => chart.history.filter((e) => run.startIndex !== null && e.index >= run.startIndex);

  if (settings.rules.ewma) {
    // Standardised so that subgroups of different n weigh alike; exact variance for the first subgroups.
    const lambda = settings.ewmaLambda;
    const x = (sub.defective - sub.n * p) / Math.sqrt(sub.n * p * (1 - p));
    const asymptotic = settings.ewmaL * Math.sqrt(lambda / (2 - lambda));
    const limit = asymptotic * Math.sqrt(1 - Math.pow(1 - lambda, 2 * chart.monitored));
    const previous = chart.ewma.value;
    // Held within twice the limit so that it comes back inside soon after the process does.
    const z = Math.max(-2 * asymptotic, Math.min(2 * asymptotic, lambda * x + (1 - lambda) * previous));
    stepRun(chart.ewma, z, Math.sign(z) !== Math.sign(previous) || chart.ewma.startIndex === null, judged);
    point.ewma = { value: z, limit };
    if (Math.abs(z) > limit) found.push({ rule: 'ewma', direction: z > 0 ? 'up' : 'down', evidence: runEvidence(chart.ewma) });
  }

  if (settings.rules.cusum) {
    // Log-likelihood ratio of the subgroup's count under p1 against p (binomial), summed Page-style.
    const h2 = 2 * settings.cusumH;
    const step = (run: Run, p1: number): number => {
      const llr = sub.defective * Math.log(p1 / p) + (sub.n - sub.defective) * Math.log((1 - p1) / (1 - p));
      const value = Math.min(h2, Math.max(0, run.value + llr));
      stepRun(run, value, run.value === 0 && value > 0, judged);
      return value;
    };
    const up = step(chart.cusumUp, Math.min(settings.cusumShift * p, (1 + p) / 2));
    const down = step(chart.cusumDown, p / settings.cusumShift);
    point.cusum = { up, down, h: settings.cusumH };
    if (up > settings.cusumH) found.push({ rule: 'cusum', direction: 'up', evidence: runEvidence(chart.cusumUp) });
    if (down > settings.cusumH) found.push({ rule: 'cusum', direction: 'down', evidence: runEvidence(chart.cusumDown) });
  }

  point.violations = found.map(({ rule, direction }) => ({ rule, direction }));
  trackExcursion(chart, key, point, found, settings, events);
  return point;
}

function trackExcursion(
  chart: ChartState,
  key: string,
  point: ChartPoint,
  found: Array<Violation & { evidence: HistoryEntry[] }>,
  settings: SpcSettings,
  events: SpcEvent[],
): void {
  const ex = chart.excursion;
  if (ex) {
    ex.subgroups++;
    ex.inspected += point.n;
    ex.defective += point.defective;
    for (const f of found) if (!ex.rules.includes(f.rule)) ex.rules.push(f.rule);
    ex.clean = found.length > 0 ? 0 : ex.clean + 1;
    if (ex.clean >= settings.resolveAfter) {
      const exRate = ex.defective / ex.inspected;
      events.push({
        type: 'resolved',
        key,
        class: chart.class,
        rule: ex.rule,
        rules: ex.rules,
        since: ex.since,
        time: point.time,
        subgroups: ex.subgroups,
        inspected: ex.inspected,
        defective: ex.defective,
        rate: exRate,
        centre: point.centre!,
        text:
          `${label(key, chart.class)} back in control: ${settings.resolveAfter} subgroups in a row without a rule firing. ` +
          `The excursion (${ex.rules.join(', ')}) lasted ${ex.subgroups} subgroups since ${new Date(ex.since).toISOString()}, ` +
          `defect rate ${percent(exRate)} (${ex.defective}/${ex.inspected}) against centre ${percent(point.centre!)}.`,
      });
      chart.excursion = null;
    }
    return;
  }
  if (found.length === 0) return;
  const primary = [...found].sort(
    (a, b) => SEVERITIES.indexOf(severityOf(a)) - SEVERITIES.indexOf(severityOf(b)) || RULES.indexOf(a.rule) - RULES.indexOf(b.rule),
  )[0];
  const evidence = primary.evidence.map(summary);
  const run = primary.rule === 'ewma' ? chart.ewma : primary.rule === 'cusum' ? (primary.direction === 'up' ? chart.cusumUp : chart.cusumDown) : null;
  const since = run?.startTime ?? evidence[0].time;
  const severity = severityOf(primary);
  const rules = [...new Set(found.map((f) => f.rule))];
  const hint = hintFor(chart, evidence, settings);
  chart.excursion = { rule: primary.rule, rules, severity, since, subgroups: 1, inspected: point.n, defective: point.defective, clean: 0 };
  events.push({
    type: 'alert',
    key,
    class: chart.class,
    rule: primary.rule,
    rules,
    direction: primary.direction,
    severity,
    since,
    time: point.time,
    rate: point.rate,
    centre: point.centre!,
    ucl: point.ucl!,
    lcl: point.lcl!,
    evidence,
    hint,
    text:
      `${label(key, chart.class)} defect rate out of control (${severity}): ${RULE_TEXT[primary.rule](primary.direction)} [${primary.rule}]. ` +
      `Last subgroup ${percent(point.rate)} (${point.defective}/${point.n}), centre ${percent(point.centre!)}, UCL ${percent(point.ucl!)}; ` +
      `since ${new Date(since).toISOString()}.${hint ? ` ${hint}` : ''}`,
  });
}

// ---------------------------------------------------------------- subgroups

function closeSubgroup(stream: StreamState, settings: SpcSettings, out: SpcOutput): void {
  const open = stream.open;
  stream.open = null;
  if (!open || open.n === 0) return;
  stream.subgroups++;
  const end = settings.subgroupBy === 'time' ? open.start + settings.subgroupSeconds * 1000 : open.last;
  for (const [id, chart] of Object.entries(stream.charts)) {
    const all = id === ALL_CLASSES;
    const sub: Closed = {
      index: stream.subgroups,
      start: open.start,
      time: end,
      n: open.n,
      defective: all ? open.defective : (open.byClass[id] ?? 0),
    };
    if (all) sub.byClass = { ...open.byClass };
    out.points.push(updateChart(chart, stream.key, sub, settings, out.events));
  }
}

/**
 * Adds one message's counts to the stream `key` at `time` (ms since the epoch) and returns the chart
 * points of every subgroup that closed, and any alerts. Changes `state` in place; checks everything
 * that could fail before it changes anything.
 */
export function addCounts(state: SpcState, settings: SpcSettings, key: string, counts: Counts, time: number): SpcOutput {
  if (typeof key !== 'string' || key === '') throw new Error(`stream key must be a non-empty string, got ${JSON.stringify(key)}`);
  if (!Number.isFinite(time)) throw new Error(`time must be ms since the epoch, got ${time}`);
  const stream = streamFor(state, settings, key);
  const out: SpcOutput = { points: [], events: [] };
  const windowMs = settings.subgroupSeconds * 1000;
  if (settings.subgroupBy === 'time' && stream.open && time >= stream.open.start + windowMs) {
    const start = stream.open.start + Math.floor((time - stream.open.start) / windowMs) * windowMs;
    closeSubgroup(stream, settings, out);
    stream.open = { start, last: time, n: 0, defective: 0, byClass: {} };
  }
  if (!stream.open) stream.open = { start: time, last: time, n: 0, defective: 0, byClass: {} };
  const open = stream.open;
  open.last = Math.max(open.last, time);
  open.n += counts.inspected;
  open.defective += counts.defective;
  for (const [c, k] of Object.entries(counts.byClass)) if (k > 0) open.byClass[c] = (open.byClass[c] ?? 0) + k;
  if (settings.subgroupBy === 'units' && open.n >= settings.subgroupSize) closeSubgroup(stream, settings, out);
  return out;
}

/** Forgets one key's charts (or every key's, when key is null): baselines, windows, statistics, excursions. */
export function resetState(state: SpcState, key: string | null, time: number): SpcReset {
  const keys = key === null ? Object.keys(state.streams) : key in state.streams ? [key] : [];
  const open = keys.reduce((a, k) => a + Object.values(state.streams[k].charts).filter((c) => c.excursion).length, 0);
  for (const k of keys) delete state.streams[k];
  const what = key === null ? (keys.length ? `every key (${keys.join(', ')})` : 'every key (none had a chart)') : keys.length ? key : `${key} (it had no chart)`;
  return {
    type: 'reset',
    key,
    keys,
    time,
    text: `reset ${what}: subgroups, baselines, statistics${open ? ` and ${open} open excursion${open > 1 ? 's' : ''}` : ''} cleared.`,
  };
}

/** What the status says of a chart point (the node words it in the editor's language). */
export function statusFigures(point: ChartPoint, state: SpcState, settings: SpcSettings): { where: string; baseline: string | null; p: string; ucl: string | null; n: number } {
  const where = label(point.key, point.class);
  if (point.phase === 'baseline' && point.centre === null) {
    const chart = state.streams[point.key]?.charts[point.class ?? ALL_CLASSES];
    return { where, baseline: `${chart?.baseline.length ?? 0}/${settings.baselineSubgroups}`, p: percent(point.rate), ucl: null, n: point.n };
  }
  return { where, baseline: null, p: percent(point.rate), ucl: percent(point.ucl!), n: point.n };
}

/** Open excursions across every key, for the status. */
export function openExcursions(state: SpcState): Array<{ key: string; class: string | null; rule: RuleName; severity: Severity }> {
  const found: Array<{ key: string; class: string | null; rule: RuleName; severity: Severity }> = [];
  for (const stream of Object.values(state.streams)) {
    for (const chart of Object.values(stream.charts)) {
      if (chart.excursion) found.push({ key: stream.key, class: chart.class, rule: chart.excursion.rule, severity: chart.excursion.severity });
    }
  }
  return found;
}
