// A reviewer's choices for the units of one frame, checked and turned into the decision that gets signed.
import type { ReviewDecision, UnitDecision, UnitDecisionKind } from './signature';
import type { UnitRecord } from './verdict-record';

export interface UnitChoice {
  detectionId: number;
  decision: UnitDecisionKind;
  /** For decision "class": the class the reviewer gives the unit. */
  class?: string;
  reason?: string;
}

export function decide(
  verdict: { units?: UnitRecord[] },
  options: { classes: string[]; goodClasses: string[] },
  choices: UnitChoice[],
  reason: string,
): ReviewDecision {
  if (!String(reason ?? '').trim()) throw new Error('give a reason for the decision');
  const units = verdict.units ?? [];
  const byId = new Map((Array.isArray(choices) ? choices : []).map((c) => [Number(c.detectionId), c]));
  const good = new Set(options.goodClasses);
  const decided: UnitDecision[] = units.map((unit) => {
    const choice = byId.get(unit.detectionId);
    if (!choice) throw new Error(`unit #${unit.detectionId} is not decided: decide every unit of the frame`);
    let cls: string;
    if (choice.decision === 'good') cls = good.has(unit.class) ? unit.class : options.goodClasses[0];
    else if (choice.decision === 'reject') {
      if (good.has(unit.class)) throw new Error(`unit #${unit.detectionId}: the machine called it ${unit.class}; to reject it, choose the defect class it has`);
      cls = unit.class;
    } else if (choice.decision === 'class') {
      cls = String(choice.class ?? '');
      if (!options.classes.includes(cls)) throw new Error(`unit #${unit.detectionId}: "${cls}" is not one of the classes ${options.classes.join(', ')}`);
    } else throw new Error(`unit #${unit.detectionId}: decision must be good, reject or class`);
    const reasonText = String(choice.reason ?? '').trim();
    return {
      detectionId: unit.detectionId,
      machineClass: unit.class,
      machineResult: unit.result as UnitDecision['machineResult'],
      decision: choice.decision,
      class: cls,
      result: good.has(cls) ? 'PASS' : 'FAIL',
      ...(reasonText ? { reason: reasonText } : {}),
    };
  });
  return { result: decided.some((u) => u.result === 'FAIL') ? 'FAIL' : 'PASS', units: decided, reason: reason.trim() };
}
