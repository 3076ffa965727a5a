// avi-router: output 1 pass, 2 reject, 3 review; msg.verdict and msg.payload carry the frame's verdict.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { parseClassList, Router, DEFAULT_RULES } from '../core/decision/router';
import type { ClassRule, RouterRules, Severity, VerdictResult } from '../core/types';
import { onInput, settingsOf } from './common';
import { message } from './i18n';
import { sealedModels } from './provenance';

interface RuleRow {
  class: string;
  reject: string | number | null;
  review: string | number;
  severity: string;
}

interface RouterNodeDef extends NodeDef {
  goodClasses: string;
  goodMinConfidence: string | number;
  rules: RuleRow[];
  defaultReject: string | number;
  defaultReview: string | number;
  defaultSeverity: string;
  countMode: 'none' | 'exact' | 'range';
  countExact: string | number;
  countMin: string | number;
  countMax: string | number;
  countMismatch: string;
  emptyFrame: string;
}

const OUTPUT: Record<VerdictResult, number> = { PASS: 0, FAIL: 1, REVIEW: 2 };

/** An editor field as a number; `blank` when empty; an error naming the field when it is not a number. */
function numberField<T extends number | null>(value: unknown, what: string, blank: T): number | T {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return blank;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n)) throw new Error(`${what} must be a number, got ${JSON.stringify(value)}`);
  return n;
}

export function rulesFromConfig(config: RouterNodeDef): RouterRules {
  const d = DEFAULT_RULES;
  const rows = Array.isArray(config.rules) ? config.rules : d.classRules;
  const classRules: ClassRule[] = rows.map((row, i) => {
    const what = `rule ${i + 1} (${row.class || 'no class'})`;
    return {
      class: String(row.class ?? ''),
      reject: numberField(row.reject, `${what} reject threshold`, null),
      review: numberField(row.review, `${what} review threshold`, 0),
      severity: (row.severity || 'major') as Severity,
    };
  });
  const mode = config.countMode || 'none';
  const exact = numberField(config.countExact, 'expected unit count', null);
  return {
    goodClasses: config.goodClasses === undefined ? d.goodClasses : parseClassList(config.goodClasses),
    goodMinConfidence: numberField(config.goodMinConfidence, 'good min confidence', d.goodMinConfidence),
    classRules,
    defaultRule: {
      reject: config.defaultReject === undefined ? d.defaultRule.reject : numberField(config.defaultReject, 'default reject threshold', null),
      review: numberField(config.defaultReview, 'default review threshold', d.defaultRule.review),
      severity: (config.defaultSeverity || d.defaultRule.severity) as Severity,
    },
    count:
      mode === 'exact'
        ? { min: exact, max: exact }
        : mode === 'range'
          ? { min: numberField(config.countMin, 'minimum unit count', null), max: numberField(config.countMax, 'maximum unit count', null) }
          : { min: null, max: null },
    countMismatch: (config.countMismatch || d.countMismatch) as RouterRules['countMismatch'],
    emptyFrame: (config.emptyFrame || d.emptyFrame) as RouterRules['emptyFrame'],
  };
}

export default function (RED: NodeAPI): void {
  function AviRouterNode(this: Node, config: RouterNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const router = settingsOf(node, () => new Router(rulesFromConfig(config)));
    const frames: Record<VerdictResult, number> = { PASS: 0, FAIL: 0, REVIEW: 0 };
    let warnedUnsealed = false;

    onInput(RED, node, async (msg, send) => {
      const { models, dropped } = sealedModels(msg);
      if (dropped.length && !warnedUnsealed) {
        warnedUnsealed = true;
        node.warn(`msg.models.${dropped.join(', msg.models.')} was not set by an avi model node on this message; left out of verdict.models (warned once)`);
      }
      const verdict = router.get().route(msg.detections, { models });
      msg.verdict = verdict;
      msg.payload = verdict;
      frames[verdict.result]++;
      const outputs: Array<typeof msg | null> = [null, null, null];
      outputs[OUTPUT[verdict.result]] = msg;
      send(outputs);
      const { result, counts } = verdict;
      return { verdict: result, text: () => message(RED, 'avi-router.status.verdict', { result, units: counts.total, pass: frames.PASS, fail: frames.FAIL, review: frames.REVIEW }) };
    });
  }
  RED.nodes.registerType('avi-router', AviRouterNode);
}
