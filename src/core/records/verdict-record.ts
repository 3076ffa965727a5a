// The record of one machine verdict: everything needed to trace it to the frame, the models, the rules in
// force and the recipe, built from the message avi-router leaves. Pure: no I/O.
import type { Detection, Verdict } from '../types';

export interface VerdictContext {
  line?: string;
  cell?: string;
  partId?: string;
  batch?: string;
  recipe?: unknown;
  /** What is known of the frame before it is kept (the recorder adds sha256, file, bytes). */
  frame?: { format?: string; width?: number; height?: number; path?: string; kept?: boolean };
}

export interface UnitRecord {
  detectionId: number;
  box: Detection['box'] | null;
  detector: { class: string; confidence: number } | null;
  classifier: { class: string; confidence: number } | null;
  class: string;
  confidence: number;
  result: string;
  reason?: string;
  severity?: string;
}

/** One unit: its box, what the detector and the classifier said, and how the router decided it. */
function unitRecord(unit: Verdict['units'][number], detection: Detection | undefined): UnitRecord {
  const detector = detection
    ? { class: detection.detectorClass ?? detection.class, confidence: detection.detectorConfidence ?? detection.confidence }
    : null;
  const c = detection?.classification;
  return {
    detectionId: unit.detectionId,
    box: detection?.box ?? null,
    detector,
    classifier: c ? { class: c.class, confidence: c.confidence } : null,
    class: unit.class,
    confidence: unit.confidence,
    result: unit.result,
    reason: unit.reason,
    severity: unit.severity,
  };
}

export function verdictBody(verdict: Verdict, detections: Detection[] | undefined, context: VerdictContext): Record<string, unknown> {
  const byId = new Map((detections ?? []).map((d) => [d.id, d]));
  return {
    line: context.line || undefined,
    cell: context.cell || undefined,
    partId: context.partId || undefined,
    batch: context.batch || undefined,
    recipe: context.recipe ?? undefined,
    verdictTime: verdict.timestamp,
    frame: context.frame ?? {},
    result: verdict.result,
    reasons: verdict.reasons,
    severity: verdict.severity,
    counts: verdict.counts,
    units: verdict.units.map((u) => unitRecord(u, byId.get(u.detectionId))),
    models: verdict.models ?? {},
    rules: verdict.rules,
    rulesHash: verdict.rulesHash,
  };
}

/** The classes a reviewer may choose for a frame's units: the good classes, the rules' classes and those seen. */
export function reviewClasses(verdict: Verdict, extra: string[] = []): { classes: string[]; goodClasses: string[] } {
  const goodClasses = verdict.rules?.goodClasses?.length ? verdict.rules.goodClasses : ['good'];
  const classes = new Set<string>([...goodClasses, ...(verdict.rules?.classRules ?? []).map((r) => r.class), ...(verdict.units ?? []).map((u) => u.class), ...extra]);
  return { classes: [...classes].filter(Boolean), goodClasses };
}
