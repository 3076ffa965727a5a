// avi-spc: defect counts in, one chart point per subgroup on output 1, CAPA alerts on output 2; state kept in context.
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import {
  addCounts,
  checkCounts,
  checkSettings,
  countsFromVerdict,
  createState,
  isContinuable,
  openExcursions,
  resetState,
  RULES,
  statusFigures,
  type ChartPoint,
  type RuleName,
  type SpcEvent,
  type SpcSettings,
  type SpcState,
} from '../core/spc/spc';
import { errorMessage, onInput, settingsOf, statusError } from './common';
import { message } from './i18n';

type RuleSwitches = { [R in RuleName]?: boolean };

interface SpcNodeDef extends NodeDef, RuleSwitches {
  keyProperty: string;
  subgroupBy: SpcSettings['subgroupBy'];
  subgroupSize: string | number;
  subgroupSeconds: string | number;
  baselineSubgroups: string | number;
  /** Percent, blank for a baseline. */
  targetRate: string | number;
  limits: SpcSettings['limits'];
  ewmaLambda: string | number;
  ewmaL: string | number;
  cusumShift: string | number;
  cusumH: string | number;
  resolveAfter: string | number;
  countReview: boolean;
  classes: Array<{ name: string; targetRate: string | number; hint: string }>;
  defaultHint: string;
  /** Context store name; blank for the default store. */
  store: string;
}

/** Context key the charts are saved under. */
const CONTEXT_KEY = 'spc';
/** Count messages are small and quick to handle; a burst of them (a replay, a backlog) may wait. */
const MAX_QUEUE = 1000;

function blank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

function numberSetting(value: unknown, what: string, fallback: number): number {
  if (blank(value)) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`${what} must be a number, got ${JSON.stringify(value)}`);
  return n;
}

/** A rate typed in percent in the editor, as a fraction; null when left blank. */
function percentSetting(value: unknown, what: string): number | null {
  return blank(value) ? null : numberSetting(value, what, 0) / 100;
}

function settingsFromConfig(config: SpcNodeDef): SpcSettings {
  const d = checkSettings({});
  const rules = Object.fromEntries(RULES.map((r) => [r, typeof config[r] === 'boolean' ? config[r] : d.rules[r]])) as Record<RuleName, boolean>;
  return checkSettings({
    subgroupBy: config.subgroupBy || d.subgroupBy,
    subgroupSize: numberSetting(config.subgroupSize, 'subgroup size', d.subgroupSize),
    subgroupSeconds: numberSetting(config.subgroupSeconds, 'subgroup window', d.subgroupSeconds),
    baselineSubgroups: numberSetting(config.baselineSubgroups, 'baseline subgroups', d.baselineSubgroups),
    targetRate: percentSetting(config.targetRate, 'target rate (%)'),
    limits: config.limits || d.limits,
    rules,
    ewmaLambda: numberSetting(config.ewmaLambda, 'EWMA lambda', d.ewmaLambda),
    ewmaL: numberSetting(config.ewmaL, 'EWMA L', d.ewmaL),
    cusumShift: numberSetting(config.cusumShift, 'CUSUM shift', d.cusumShift),
    cusumH: numberSetting(config.cusumH, 'CUSUM h', d.cusumH),
    resolveAfter: numberSetting(config.resolveAfter, 'subgroups to resolve', d.resolveAfter),
    classes: (Array.isArray(config.classes) ? config.classes : []).map((c) => ({
      name: String(c.name ?? '').trim(),
      targetRate: percentSetting(c.targetRate, `target rate (%) of class "${c.name}"`),
      hint: String(c.hint ?? ''),
    })),
    defaultHint: String(config.defaultHint ?? ''),
  });
}

function streamKey(value: unknown, property: string): string {
  const key = typeof value === 'number' && Number.isFinite(value) ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (key === '') {
    throw new Error(
      `stream key msg.${property} is missing or not text (got ${JSON.stringify(value)}): set it to the line or press this message comes from, or change the node's stream key`,
    );
  }
  return key;
}

function messageTime(msg: Record<string, unknown>): number {
  if (msg.timestamp === undefined) return Date.now();
  if (typeof msg.timestamp !== 'number' || !Number.isFinite(msg.timestamp)) {
    throw new Error(`msg.timestamp must be ms since the epoch (a number), got ${JSON.stringify(msg.timestamp)}`);
  }
  return msg.timestamp;
}

function topicOf(item: { key: string | null; class?: string | null }): string {
  return item.class ? `${item.key}/${item.class}` : (item.key ?? '');
}

export default function (RED: NodeAPI): void {
  /** The status suffix for open excursions: " · open alerts: 2", or nothing. */
  const openAlerts = (open: number): string => (open ? ` · ${message(RED, 'avi-spc.status.openAlerts', { count: open })}` : '');

  function AviSpcNode(this: Node, config: SpcNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const keyProperty = (config.keyProperty || 'topic').trim();
    const store = blank(config.store) ? undefined : config.store.trim();
    const context = node.context();
    const checked = settingsOf(node, () => settingsFromConfig(config));
    const settings = checked.value;

    const save = (state: SpcState): Promise<void> =>
      new Promise((resolve, reject) => context.set(CONTEXT_KEY, state, store as string, (err?: Error) => (err ? reject(err) : resolve())));

    const showStatus = (state: SpcState, point: ChartPoint): void => {
      const open = openExcursions(state);
      const figures = statusFigures(point, state, settings!);
      const text = message(RED, figures.baseline ? 'avi-spc.status.baseline' : 'avi-spc.status.chart', { ...figures, baseline: figures.baseline ?? '', ucl: figures.ucl ?? '' }) + openAlerts(open.length);
      if (open.length) node.status({ fill: open.some((o) => o.severity !== 'minor') ? 'red' : 'yellow', shape: 'ring', text });
      else node.status({ fill: point.centre === null ? 'blue' : 'green', shape: point.centre === null ? 'ring' : 'dot', text });
    };

    // The charts are read back once, when the node starts; every message then saves them.
    const load = async (s: SpcSettings): Promise<SpcState> => {
      let saved: unknown;
      try {
        saved = await new Promise((resolve, reject) => context.get(CONTEXT_KEY, store as string, (err: Error, value: unknown) => (err ? reject(err) : resolve(value))));
      } catch (err) {
        throw new Error(`could not read the saved charts: ${errorMessage(err)}`);
      }
      if (isContinuable(saved, s)) {
        const keys = Object.keys(saved.streams).length;
        const open = openExcursions(saved).length;
        node.status({ fill: open ? 'red' : 'green', shape: 'ring', text: message(RED, 'avi-spc.status.restored', { count: keys }) + openAlerts(open) });
        return saved;
      }
      if (saved !== undefined) node.warn('saved charts were made under other subgroup, baseline, target, limits or class settings: starting new charts');
      node.status({ fill: 'grey', shape: 'ring', text: message(RED, 'avi-spc.status.waiting') });
      return createState(s);
    };
    const ready = settings ? load(settings) : undefined;
    ready?.catch((err: Error) => {
      node.error(err.message);
      statusError(node, err.message);
    });

    onInput(RED, node, async (msg, send) => {
      if (!settings || !ready) return void checked.get();
      const state = await ready;
      const time = messageTime(msg);
      const keyValue = RED.util.getMessageProperty(msg, keyProperty);

      if (msg.reset !== undefined && msg.reset !== false) {
        const key = blank(keyValue) ? null : streamKey(keyValue, keyProperty);
        const report = resetState(state, key, time);
        await save(state);
        node.status({ fill: 'blue', shape: 'ring', text: message(RED, 'avi-spc.status.reset', { keys: report.keys.join(', ') || '-' }) });
        send([null, { topic: topicOf(report), payload: report }]);
        return;
      }

      const key = streamKey(keyValue, keyProperty);
      const counts = msg.verdict !== undefined ? countsFromVerdict(msg.verdict, config.countReview === true) : checkCounts(msg.payload, 'msg.payload');
      const out = addCounts(state, settings, key, counts, time);
      await save(state);
      const toMessage = (item: ChartPoint | SpcEvent): NodeMessage => ({ topic: topicOf(item), payload: item });
      const shown = out.points.find((p) => p.class === null) ?? out.points[0];
      if (shown) showStatus(state, shown);
      else if (state.streams[key].subgroups === 0) {
        const open = state.streams[key].open!;
        const size = settings.subgroupBy === 'units' ? `/${settings.subgroupSize}` : '';
        node.status({ fill: 'grey', shape: 'ring', text: message(RED, 'avi-spc.status.firstSubgroup', { key, n: `${open.n}${size}` }) });
      }
      if (out.points.length || out.events.length) send([out.points.map(toMessage), out.events.map(toMessage)]);
    }, { maxQueue: MAX_QUEUE });
  }
  RED.nodes.registerType('avi-spc', AviSpcNode);
}
