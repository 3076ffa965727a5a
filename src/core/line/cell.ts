// The line-cell handshake as a state machine: pure, clock passed in, no I/O. The avi-cell node feeds it the PLC's
// tags, verdicts and failures, and sends what it asks for (tag writes, inspections, records). docs/plc-handshake.md
// is the contract; every outcome there is a branch here.
import type { Severity, UnitVerdict, VerdictResult } from '../types';
import { ALARM_CODE, ERROR_CODE, RESULT_CODE, type AlarmName, type CellTags, type ErrorName, type PlcTags } from './tags';

export type SafeResult = 'FAIL' | 'REVIEW';

export interface Recipe {
  index: number;
  name: string;
}

export interface CellOptions {
  /** Time from trigger to verdict; past it the part gets the safe result. */
  deadlineMs: number;
  safeResult: SafeResult;
  /** Time a presented result may wait for its acknowledge before the ackTimeout alarm (it stays presented). */
  ackTimeoutMs: number;
  /** No PLC tags for this long means the link is lost; 0 turns the watchdog off. */
  plcTimeoutMs: number;
  /** Parts in flight (inspecting or waiting for their acknowledge) at most; one more is an overrun. */
  maxInFlight: number;
  /** Recipe table; empty: no recipes (every part judged under none). */
  recipes: Recipe[];
  /** Class names whose position (from 1) is the ClassCode; a class not listed gets UNLISTED_CLASS_CODE. */
  classCodes: string[];
}

export const UNLISTED_CLASS_CODE = 65535;

/** What the flow's verdict says about one part. */
export interface Decision {
  result: VerdictResult;
  reasons: string[];
  units: Array<Pick<UnitVerdict, 'class' | 'confidence' | 'result' | 'severity'>>;
}

/** One part's result, as recorded (MQTT, audit) and presented to the PLC. */
export interface PartResult {
  seq: number;
  partId: number;
  result: VerdictResult;
  resultCode: number;
  /** The worst unit's class and its code; null / 0 with no unit. */
  class: string | null;
  classCode: number;
  unitCount: number;
  error: ErrorName | null;
  errorCode: number;
  reasons: string[];
  recipe: Recipe | null;
  triggeredAt: number;
  decidedAt: number;
}

export type CellEventType = 'busyTrigger' | 'overrun' | 'late' | 'ackTimeout' | 'plcRestart' | 'unacknowledged' | 'linkLost' | 'linkBack' | 'unknownRecipe';

export interface CellEvent {
  type: CellEventType;
  at: number;
  partId?: number;
  seq?: number;
  detail: string;
}

export interface Inspection {
  seq: number;
  partId: number;
  recipe: Recipe | null;
  triggeredAt: number;
  deadlineAt: number;
}

export interface Counters {
  triggers: number;
  inspected: number;
  results: number;
  pass: number;
  fail: number;
  review: number;
  acknowledged: number;
  deadlineMissed: number;
  late: number;
  errors: number;
  busyTriggers: number;
  overruns: number;
  unknownRecipes: number;
  ackTimeouts: number;
  plcRestarts: number;
  linkLosses: number;
}

/** What the cell asks the node to do after each call. */
export interface Outbox {
  inspect: Inspection[];
  results: PartResult[];
  events: CellEvent[];
  /** The tags changed: write the full image (cell.tags). */
  write: boolean;
}

interface Part extends Inspection {
  decided?: PartResult;
  presentedAt?: number;
  ackAlarmed?: boolean;
}

const UNIT_RANK: Record<VerdictResult, number> = { FAIL: 3, REVIEW: 2, PASS: 1 };
const SEVERITY_RANK: Record<Severity, number> = { critical: 3, major: 2, minor: 1 };
const U16 = 0x10000;

/** The unit that decided the frame: FAIL before REVIEW before PASS, then the worse severity, then the surer one. */
export function worstUnit<U extends Decision['units'][number]>(units: readonly U[]): U | undefined {
  let worst: U | undefined;
  const key = (u: U) => [UNIT_RANK[u.result] ?? 0, u.severity ? SEVERITY_RANK[u.severity] : 0, u.confidence];
  for (const unit of units) {
    if (!worst) {
      worst = unit;
      continue;
    }
    const [a, b] = [key(unit), key(worst)];
    const i = a.findIndex((v, k) => v !== b[k]);
    if (i >= 0 && a[i] > b[i]) worst = unit;
  }
  return worst;
}

export class Cell {
  readonly counters: Counters = {
    triggers: 0, inspected: 0, results: 0, pass: 0, fail: 0, review: 0, acknowledged: 0, deadlineMissed: 0, late: 0,
    errors: 0, busyTriggers: 0, overruns: 0, unknownRecipes: 0, ackTimeouts: 0, plcRestarts: 0, linkLosses: 0,
  };
  private readonly parts: Part[] = [];
  private seq = 0;
  private heartbeat = 0;
  private alarm: AlarmName = 'none';
  private lastPresented: PartResult | undefined;
  private plc: Partial<PlcTags> = {};
  private lastPlcAt: number;
  private linkUp = true;
  private messageRecipe: Recipe | undefined;
  private outbox: Outbox = { inspect: [], results: [], events: [], write: false };

  constructor(
    readonly options: CellOptions,
    now: number,
  ) {
    if (!(options.deadlineMs > 0)) throw new Error(`deadline must be more than 0 ms, got ${options.deadlineMs}`);
    if (!(options.maxInFlight >= 1)) throw new Error(`parts in flight must be at least 1, got ${options.maxInFlight}`);
    const seen = new Set<number>();
    for (const r of options.recipes) {
      if (!Number.isInteger(r.index) || r.index < 1 || r.index > 65535) throw new Error(`recipe index must be 1 to 65535, got ${r.index} (${r.name})`);
      if (seen.has(r.index)) throw new Error(`recipe index ${r.index} is used twice`);
      if (!r.name) throw new Error(`recipe ${r.index} has no name`);
      seen.add(r.index);
    }
    this.lastPlcAt = now;
    this.outbox.write = true;
  }

  /** What to send since the last call. */
  drain(): Outbox {
    const out = this.outbox;
    this.outbox = { inspect: [], results: [], events: [], write: false };
    return out;
  }

  /** The full tag image the cell presents. */
  get tags(): CellTags {
    const head = this.parts[0];
    const shown = head?.decided;
    const last = shown ?? this.lastPresented;
    return {
      Heartbeat: this.heartbeat,
      Ready: this.linkUp && this.parts.length === 0 ? 1 : 0,
      Busy: this.parts.some((p) => !p.decided) ? 1 : 0,
      ResultReady: shown ? 1 : 0,
      ResultPartId: last?.partId ?? 0,
      Result: shown?.resultCode ?? RESULT_CODE.none,
      ClassCode: shown?.classCode ?? 0,
      UnitCount: shown?.unitCount ?? 0,
      ErrorCode: shown?.errorCode ?? 0,
      Recipe: shown?.recipe?.index ?? 0,
      Alarm: ALARM_CODE[this.alarm],
    };
  }

  get state(): { link: 'up' | 'lost'; inFlight: number; alarm: AlarmName; recipe: Recipe | null; counters: Counters } {
    return { link: this.linkUp ? 'up' : 'lost', inFlight: this.parts.length, alarm: this.alarm, recipe: this.currentRecipe() ?? null, counters: { ...this.counters } };
  }

  /**
   * Tags read from the PLC (any subset). A restart (heartbeat back, or Trigger to 0) is handled first and once;
   * then recipe, acknowledge, trigger, in that order.
   */
  plcTags(values: Partial<PlcTags>, now: number): void {
    this.lastPlcAt = now;
    if (!this.linkUp) this.setLink(true, now, 'PLC tags arrive again');
    const before = { ...this.plc };
    Object.assign(this.plc, values);
    const beat = values.PlcHeartbeat;
    const lastBeat = before.PlcHeartbeat;
    // A drop of less than half the range is a restart; more is the counter wrapping.
    if (beat !== undefined && lastBeat !== undefined && beat < lastBeat && lastBeat - beat < U16 / 2) {
      this.plcRestart(now, `PLC heartbeat went back from ${lastBeat} to ${beat}`);
      return;
    }
    if (values.Trigger === 0 && before.Trigger) {
      this.plcRestart(now, `PLC set Trigger from ${before.Trigger} to 0`);
      return;
    }
    if (values.Ack !== undefined) {
      const head = this.parts[0];
      if (head?.decided && values.Ack === head.partId) this.acknowledge(now);
    }
    const trigger = values.Trigger;
    // The first Trigger seen (after a deploy) is a part waiting for its result unless the PLC has acknowledged it.
    if (trigger && trigger !== before.Trigger && !(before.Trigger === undefined && trigger === this.plc.Ack)) this.trigger(trigger, now);
  }

  /** A recipe chosen by a message (by index or name); used while the PLC's RecipeIndex is 0. */
  selectRecipe(which: number | string): Recipe {
    const recipe = this.options.recipes.find((r) => r.index === which || r.name === which);
    if (!recipe) throw new Error(`unknown recipe ${JSON.stringify(which)}; known: ${this.options.recipes.map((r) => `${r.index} ${r.name}`).join(', ') || 'none'}`);
    this.messageRecipe = recipe;
    return recipe;
  }

  /** The flow's verdict for an inspection this cell asked for. */
  verdict(seq: number, decision: Decision, now: number): PartResult | undefined {
    const part = this.open(seq, now);
    if (!part) return undefined;
    const worst = worstUnit(decision.units);
    const classCode = worst ? this.classCode(worst.class) : 0;
    return this.place(part, {
      seq: part.seq, partId: part.partId, result: decision.result, resultCode: RESULT_CODE[decision.result], class: worst?.class ?? null, classCode,
      unitCount: decision.units.length, error: null, errorCode: 0, reasons: decision.reasons, recipe: part.recipe, triggeredAt: part.triggeredAt, decidedAt: now,
    }, now);
  }

  /** The inspection of a part failed (bad frame, model error): the safe result, with the reason. */
  failure(seq: number, reason: string, now: number): PartResult | undefined {
    const part = this.open(seq, now);
    if (!part) return undefined;
    this.counters.errors++;
    return this.safe(part, 'inspection', `inspection failed: ${reason}`, now);
  }

  /** The link to the PLC as the protocol node reports it (connected / disconnected). */
  connection(up: boolean, now: number): void {
    if (up) this.lastPlcAt = now;
    this.setLink(up, now, up ? 'connection reported up' : 'connection reported lost');
  }

  /** Advance the cell's own heartbeat (the node calls it every heartbeat period); the image is written each time. */
  beat(): void {
    this.heartbeat = (this.heartbeat + 1) % U16;
    this.outbox.write = true;
  }

  /** Deadlines, the acknowledge timeout and the PLC watchdog, as of `now`. */
  tick(now: number): void {
    for (const part of this.parts) {
      if (!part.decided && part.deadlineAt <= now) {
        this.counters.deadlineMissed++;
        this.safe(part, 'deadline', `no verdict within the deadline of ${this.options.deadlineMs} ms`, now);
      }
    }
    const head = this.parts[0];
    if (head?.presentedAt !== undefined && !head.ackAlarmed && now - head.presentedAt >= this.options.ackTimeoutMs) {
      head.ackAlarmed = true;
      this.counters.ackTimeouts++;
      this.setAlarm('ackTimeout');
      this.event('ackTimeout', now, head, `no acknowledge for part ${head.partId} within ${this.options.ackTimeoutMs} ms; its result stays presented`);
    }
    if (this.linkUp && this.options.plcTimeoutMs > 0 && now - this.lastPlcAt >= this.options.plcTimeoutMs) {
      this.setLink(false, now, `no PLC tags for ${this.options.plcTimeoutMs} ms`);
    }
  }

  /** When tick() next has something to do; undefined when nothing is pending. */
  nextWakeup(): number | undefined {
    const times: number[] = [];
    for (const part of this.parts) if (!part.decided) times.push(part.deadlineAt);
    const head = this.parts[0];
    if (head?.presentedAt !== undefined && !head.ackAlarmed) times.push(head.presentedAt + this.options.ackTimeoutMs);
    if (this.linkUp && this.options.plcTimeoutMs > 0) times.push(this.lastPlcAt + this.options.plcTimeoutMs);
    return times.length ? Math.min(...times) : undefined;
  }

  private currentRecipe(): Recipe | undefined {
    const { recipes } = this.options;
    if (this.plc.RecipeIndex) return recipes.find((r) => r.index === this.plc.RecipeIndex);
    return this.messageRecipe ?? recipes[0];
  }

  private trigger(partId: number, now: number): void {
    this.counters.triggers++;
    const seq = ++this.seq;
    const recipe = this.currentRecipe() ?? null;
    const part: Part = { seq, partId, recipe, triggeredAt: now, deadlineAt: now + this.options.deadlineMs };
    if (this.alarm === 'plcRestart') this.setAlarm('none');
    if (this.parts.length >= this.options.maxInFlight) {
      // Bounded: the part is answered (recorded, counted, alarmed) but not queued for the PLC's tags.
      this.counters.overruns++;
      this.setAlarm('overrun');
      this.event('overrun', now, part, `part ${partId} triggered with ${this.parts.length} parts already in flight (at most ${this.options.maxInFlight}): not inspected`);
      this.record(this.safeResult(part, 'overrun', 'trigger overrun: too many parts in flight', now));
      return;
    }
    if (this.parts.length > 0) {
      this.counters.busyTriggers++;
      this.event('busyTrigger', now, part, `part ${partId} triggered while ${this.parts.length} part(s) were in flight: queued behind them`);
    }
    this.parts.push(part);
    this.outbox.write = true;
    if (this.options.recipes.length > 0 && !recipe) {
      this.counters.unknownRecipes++;
      this.event('unknownRecipe', now, part, `PLC recipe index ${this.plc.RecipeIndex} is not in the recipe table`);
      this.safe(part, 'unknownRecipe', `unknown recipe index ${this.plc.RecipeIndex}: not inspected`, now);
      return;
    }
    this.counters.inspected++;
    this.outbox.inspect.push({ seq, partId, recipe, triggeredAt: part.triggeredAt, deadlineAt: part.deadlineAt });
  }

  /** The part still waiting for this verdict; a verdict after its deadline or the PLC's restart is counted late. */
  private open(seq: number, now: number): Part | undefined {
    const part = this.parts.find((p) => p.seq === seq);
    if (part && !part.decided) return part;
    // Sequence numbers are this cell's own, counted up: one it issued that is no longer open was answered already.
    if (Number.isInteger(seq) && seq >= 1 && seq <= this.seq) {
      this.counters.late++;
      this.event('late', now, part ?? { seq }, `verdict for inspection ${seq} came after its part was given a result`);
      return undefined;
    }
    throw new Error(`no inspection ${seq} was asked for by this cell (msg.cell from another cell, or from before a redeploy)`);
  }

  private safe(part: Part, error: ErrorName, reason: string, now: number): PartResult {
    return this.place(part, this.safeResult(part, error, reason, now), now);
  }

  private safeResult(part: Inspection, error: ErrorName, reason: string, now: number): PartResult {
    const result = this.options.safeResult;
    return {
      seq: part.seq, partId: part.partId, result, resultCode: RESULT_CODE[result], class: null, classCode: 0, unitCount: 0,
      error, errorCode: ERROR_CODE[error], reasons: [reason], recipe: part.recipe, triggeredAt: part.triggeredAt, decidedAt: now,
    };
  }

  private place(part: Part, result: PartResult, now: number): PartResult {
    part.decided = result;
    this.record(result);
    if (this.parts[0] === part) part.presentedAt = now;
    this.outbox.write = true;
    return result;
  }

  private record(result: PartResult): void {
    this.counters.results++;
    this.counters[result.result === 'PASS' ? 'pass' : result.result === 'FAIL' ? 'fail' : 'review']++;
    this.outbox.results.push(result);
  }

  private acknowledge(now: number): void {
    const head = this.parts.shift()!;
    this.counters.acknowledged++;
    this.lastPresented = head.decided;
    if (this.alarm === 'ackTimeout' || this.alarm === 'overrun') this.setAlarm('none');
    const next = this.parts[0];
    if (next?.decided) next.presentedAt = now;
    this.outbox.write = true;
  }

  private plcRestart(now: number, why: string): void {
    this.counters.plcRestarts++;
    const open = this.parts.splice(0);
    for (const part of open) {
      if (!part.decided) {
        this.record(this.safeResult(part, 'plcRestart', `PLC restarted mid-cycle (${why}): result recorded, not presented`, now));
      } else {
        this.event('unacknowledged', now, part, `result for part ${part.partId} was never acknowledged: the PLC restarted (${why})`);
      }
    }
    this.event('plcRestart', now, undefined, `${why}; ${open.length} part(s) in flight were closed`);
    if (open.length > 0) this.setAlarm('plcRestart');
    this.lastPresented = undefined;
    this.outbox.write = true;
  }

  private setLink(up: boolean, now: number, why: string): void {
    if (up === this.linkUp) return;
    this.linkUp = up;
    if (!up) this.counters.linkLosses++;
    this.event(up ? 'linkBack' : 'linkLost', now, undefined, why);
    // On the way back the full image is written at once: writes made while the link was down were lost.
    this.outbox.write = true;
  }

  private setAlarm(alarm: AlarmName): void {
    if (alarm !== this.alarm) this.outbox.write = true;
    this.alarm = alarm;
  }

  private classCode(name: string): number {
    const i = this.options.classCodes.indexOf(name);
    return i >= 0 ? i + 1 : UNLISTED_CLASS_CODE;
  }

  private event(type: CellEventType, at: number, part: Partial<Inspection> | undefined, detail: string): void {
    this.outbox.events.push({ type, at, partId: part?.partId, seq: part?.seq, detail });
  }
}
