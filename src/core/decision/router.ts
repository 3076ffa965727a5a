// Pass / reject / review: per-class thresholds decide each unit, then the units and the count rule decide the frame.
import { createHash } from 'node:crypto';
import { checkDetections } from './class-replace';
import type { ClassRule, Detection, RouterRules, Severity, UnitVerdict, Verdict, VerdictResult } from '../types';

export const SEVERITIES: readonly Severity[] = ['critical', 'major', 'minor'];

export const DEFAULT_RULES: RouterRules = {
  goodClasses: ['good'],
  goodMinConfidence: 0.5,
  // Pairs with avi-class-replace's fallback: a unit the classifier was unsure of goes to a person, never passes.
  classRules: [{ class: 'unknown', reject: null, review: 0, severity: 'major' }],
  // A class nobody wrote a rule for is never passed: FAIL when confident, REVIEW otherwise.
  defaultRule: { reject: 0.5, review: 0, severity: 'major' },
  count: { min: null, max: null },
  countMismatch: 'reject',
  emptyFrame: 'review',
};

/** "good, pill" -> ["good", "pill"]. */
export function parseClassList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function checkThreshold(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new Error(`${what} must be a confidence from 0 to 1, got ${JSON.stringify(value)}`);
  }
  return value;
}

function checkRule(rule: Omit<ClassRule, 'class'>, what: string): Omit<ClassRule, 'class'> {
  const reject = rule.reject === null ? null : checkThreshold(rule.reject, `${what}: reject threshold`);
  const review = checkThreshold(rule.review, `${what}: review threshold`);
  if (reject !== null && review > reject) {
    throw new Error(`${what}: review threshold ${review} is above reject threshold ${reject}`);
  }
  if (!SEVERITIES.includes(rule.severity)) {
    throw new Error(`${what}: severity must be one of ${SEVERITIES.join(', ')}, got ${JSON.stringify(rule.severity)}`);
  }
  return { reject, review, severity: rule.severity };
}

function checkCount(value: number | null, what: string): number | null {
  // 0 and null both mean "no bound", as the editor says.
  if (value === null || value === 0) return null;
  if (!Number.isInteger(value) || value < 0) throw new Error(`${what} must be a whole number of units, got ${value}`);
  return value;
}

/** Checks every setting and returns the rules in a fixed key order (so the hash is stable). Throws on a bad setting. */
export function validateRules(rules: RouterRules): RouterRules {
  const goodClasses = rules.goodClasses.map((c) => c.trim()).filter((c) => c !== '');
  const goodMinConfidence = checkThreshold(rules.goodMinConfidence, 'good min confidence');
  const seen = new Set<string>();
  const classRules = rules.classRules.map((r, i) => {
    const name = typeof r.class === 'string' ? r.class.trim() : '';
    if (name === '') throw new Error(`rule ${i + 1} has no class name`);
    if (seen.has(name)) throw new Error(`class "${name}" has two rules`);
    if (goodClasses.includes(name)) throw new Error(`class "${name}" is a good class and also has a rule: pick one`);
    seen.add(name);
    return { class: name, ...checkRule(r, `rule for "${name}"`) };
  });
  const defaultRule = checkRule(rules.defaultRule, 'default rule');
  const min = checkCount(rules.count.min, 'minimum unit count');
  const max = checkCount(rules.count.max, 'maximum unit count');
  if (min !== null && max !== null && min > max) throw new Error(`minimum unit count ${min} is above maximum ${max}`);
  if (rules.countMismatch !== 'reject' && rules.countMismatch !== 'review') {
    throw new Error(`count mismatch must go to "reject" or "review", got ${JSON.stringify(rules.countMismatch)}`);
  }
  if (!['pass', 'review', 'reject'].includes(rules.emptyFrame)) {
    throw new Error(`empty frame must be "pass", "review" or "reject", got ${JSON.stringify(rules.emptyFrame)}`);
  }
  return {
    goodClasses,
    goodMinConfidence,
    classRules,
    defaultRule,
    count: { min, max },
    countMismatch: rules.countMismatch,
    emptyFrame: rules.emptyFrame,
  };
}

/** Decimals enough that a value printed beside a threshold does not read as equal to it (0.4999 vs 0.50). */
function decimals(value: number, thresholds: number[]): number {
  let digits = 2;
  while (digits < 6 && thresholds.some((t) => t !== value && t.toFixed(digits) === value.toFixed(digits))) digits++;
  return digits;
}

/** "edge_defect 0.91 >= reject 0.50", with further comparisons of the same value appended: ", < reject 0.50". */
function compare(cls: string, value: number, ...tests: Array<[op: '>=' | '<', name: string, threshold: number]>): string {
  const digits = decimals(value, tests.map(([, , t]) => t));
  const parts = tests.map(([op, name, t]) => `${op} ${name} ${t.toFixed(digits)}`);
  return `${cls} ${value.toFixed(digits)} ${parts.join(', ')}`;
}

export interface RouteContext {
  /** Time of the verdict; now when left out. */
  now?: Date;
  /** Model provenance to carry on the verdict (msg.models). */
  models?: Verdict['models'];
}

export class Router {
  readonly rules: RouterRules;
  readonly rulesHash: string;
  private readonly good: Set<string>;
  private readonly byClass: Map<string, ClassRule>;

  /** Throws on a bad setting, naming it. */
  constructor(rules: RouterRules) {
    this.rules = validateRules(rules);
    this.rulesHash = createHash('sha256').update(JSON.stringify(this.rules)).digest('hex');
    this.good = new Set(this.rules.goodClasses);
    this.byClass = new Map(this.rules.classRules.map((r) => [r.class, r]));
  }

  decideUnit(detection: Detection, index: number): UnitVerdict {
    const { class: cls, confidence } = detection;
    const detectionId = Number.isFinite(detection.id) ? detection.id : index;
    const unit = (result: VerdictResult, reason: string, severity?: Severity): UnitVerdict =>
      severity === undefined
        ? { detectionId, class: cls, confidence, result, reason }
        : { detectionId, class: cls, confidence, result, reason, severity };

    if (this.good.has(cls)) {
      const min = this.rules.goodMinConfidence;
      return confidence >= min
        ? unit('PASS', compare(cls, confidence, ['>=', 'good min', min]))
        : unit('REVIEW', compare(cls, confidence, ['<', 'good min', min]));
    }
    const own = this.byClass.get(cls);
    const rule = own ?? this.rules.defaultRule;
    const tag = own ? rule.severity : `default rule, ${rule.severity}`;
    if (rule.reject !== null && confidence >= rule.reject) {
      return unit('FAIL', `${compare(cls, confidence, ['>=', 'reject', rule.reject])} (${tag})`, rule.severity);
    }
    if (confidence >= rule.review) {
      const reason =
        rule.reject === null
          ? `${compare(cls, confidence, ['>=', 'review', rule.review])}, no reject threshold`
          : compare(cls, confidence, ['>=', 'review', rule.review], ['<', 'reject', rule.reject]);
      return unit('REVIEW', `${reason} (${tag})`, rule.severity);
    }
    // Only reachable when the user set a review threshold above 0: weaker detections are noise by their choice.
    return unit('PASS', `${compare(cls, confidence, ['<', 'review', rule.review])}: passed as noise (${tag})`, rule.severity);
  }

  /** Validates msg.detections and returns the frame's verdict. Throws on bad input, naming the bad detection. */
  route(input: unknown, context: RouteContext = {}): Verdict {
    const detections = checkDetections(input, 'avi-router');
    const units = detections.map((d, i) => this.decideUnit(d, i));
    const counts = { total: units.length, pass: 0, fail: 0, review: 0, byClass: {} as Record<string, number> };
    const reasons: string[] = [];
    let fail = false;
    let review = false;
    let severity: Severity | undefined;
    for (const u of units) {
      counts.byClass[u.class] = (counts.byClass[u.class] ?? 0) + 1;
      if (u.result === 'PASS') {
        counts.pass++;
        continue;
      }
      reasons.push(`unit ${u.detectionId}: ${u.reason}`);
      if (u.result === 'FAIL') {
        counts.fail++;
        fail = true;
        if (severity === undefined || SEVERITIES.indexOf(u.severity!) < SEVERITIES.indexOf(severity)) severity = u.severity;
      } else {
        counts.review++;
        review = true;
      }
    }

    const countProblem = this.checkCount(units.length);
    if (countProblem) {
      reasons.push(countProblem);
      if (this.rules.countMismatch === 'reject') fail = true;
      else review = true;
    }
    if (units.length === 0 && this.rules.count.min === null) {
      reasons.push(`no units in frame (empty frame: ${this.rules.emptyFrame})`);
      if (this.rules.emptyFrame === 'reject') fail = true;
      if (this.rules.emptyFrame === 'review') review = true;
    }

    const verdict: Verdict = {
      result: fail ? 'FAIL' : review ? 'REVIEW' : 'PASS',
      units,
      counts,
      reasons,
    };
    if (severity !== undefined) verdict.severity = severity;
    verdict.timestamp = (context.now ?? new Date()).toISOString();
    // A copy per verdict, so a downstream node that edits it cannot change the rules in force.
    verdict.rules = structuredClone(this.rules);
    verdict.rulesHash = this.rulesHash;
    if (context.models !== undefined) verdict.models = context.models;
    return verdict;
  }

  /** The count rule's complaint about `found` units, or undefined when it holds (or there is none). */
  private checkCount(found: number): string | undefined {
    const { min, max } = this.rules.count;
    const ok = (min === null || found >= min) && (max === null || found <= max);
    if (ok) return undefined;
    const expected =
      min !== null && max !== null
        ? min === max
          ? `${min}`
          : `${min} to ${max}`
        : min !== null
          ? `at least ${min}`
          : `at most ${max}`;
    return `expected ${expected} unit${expected.endsWith(' 1') || expected === '1' ? '' : 's'}, found ${found}`;
  }
}
