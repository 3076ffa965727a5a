// avi-cell: the line-cell handshake a PLC drives. Protocol-agnostic: PLC tags in (from an OPC UA, Modbus or MQTT
// in-node), "write these tags" out (to the matching out-node); the state machine is src/core/line/cell.ts.
import { randomUUID } from 'node:crypto';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { Cell, type CellEvent, type CellOptions, type PartResult, type Recipe, type SafeResult } from '../core/line/cell';
import {
  cellRegisters, plcTagsFromRegisters, tagNumber, CELL_BLOCK_ADDRESS, CELL_BLOCK_LENGTH, CELL_TAGS, PLC_TAGS, type CellTags, type PlcTags,
} from '../core/line/tags';
import type { Verdict } from '../core/types';
import { errorMessage, num, settingsOf, statusError, type Done, type Msg, type Send } from './common';
import { message } from './i18n';

type WriteAs = 'tags' | 'opcua' | 'modbus';

interface CellNodeDef extends NodeDef {
  topic: string;
  deadline: string | number;
  safeResult: SafeResult;
  ackTimeout: string | number;
  plcTimeout: string | number;
  maxInFlight: string | number;
  heartbeat: string | number;
  /** "1=round-white, 2=oval-blue": index = name, comma-separated. */
  recipes: string;
  classCodes: string;
  writeAs: WriteAs;
  opcuaPrefix: string;
  modbusAddress: string | number;
  modbusUnit: string | number;
  includeImage: boolean;
}

/** What avi-cell puts on each inspection message, and reads back from the verdict or the Catch node's error. */
export interface CellRef {
  instance: string;
  seq: number;
  partId: number;
  recipe: Recipe | null;
  triggeredAt: string;
}

const OPCUA_VALUE_ATTRIBUTE = 13;
const PLC_TAG_NAMES = new Set<string>(PLC_TAGS.map((t) => t.name));
const OPCUA_TYPE = Object.fromEntries(CELL_TAGS.map((t) => [t.name, t.type]));

export function optionsFromConfig(config: CellNodeDef): CellOptions {
  const positive = (value: unknown, what: string, fallback: number, min = 1): number => {
    const n = num(value, fallback);
    if (!(n >= min)) throw new Error(`${what} must be at least ${min}, got ${JSON.stringify(value)}`);
    return n;
  };
  if (config.safeResult && config.safeResult !== 'FAIL' && config.safeResult !== 'REVIEW') {
    throw new Error(`safe result must be FAIL (reject) or REVIEW, got ${JSON.stringify(config.safeResult)}`);
  }
  return {
    deadlineMs: positive(config.deadline, 'deadline (ms)', 1000),
    safeResult: config.safeResult || 'FAIL',
    ackTimeoutMs: positive(config.ackTimeout, 'acknowledge timeout (ms)', 2000),
    plcTimeoutMs: positive(config.plcTimeout, 'PLC timeout (ms)', 5000, 0),
    maxInFlight: positive(config.maxInFlight, 'parts in flight', 4),
    recipes: parseRecipes(config.recipes),
    classCodes: String(config.classCodes ?? '').split(',').map((c) => c.trim()).filter(Boolean),
  };
}

/** "1=round-white, 2=oval-blue" as a recipe table. */
export function parseRecipes(text: unknown): Recipe[] {
  return String(text ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item) => {
      const match = /^(\d+)\s*=\s*(\S.*)$/.exec(item);
      if (!match) throw new Error(`recipes: "${item}" is not index=name (e.g. 1=round-white)`);
      return { index: Number(match[1]), name: match[2].trim() };
    });
}

/** The PLC tags a message carries: a Modbus register block (array), an object of tags, or one tag named by msg.topic. */
export function plcTagsOf(msg: Msg): Partial<PlcTags> {
  const { payload } = msg;
  if (Array.isArray(payload)) return plcTagsFromRegisters(payload.map((w, i) => tagNumber(`register ${i}`, w)));
  const tags: Partial<PlcTags> = {};
  if (payload !== null && typeof payload === 'object' && !Buffer.isBuffer(payload)) {
    for (const [name, value] of Object.entries(payload)) if (PLC_TAG_NAMES.has(name)) tags[name as keyof PlcTags] = tagNumber(name, value);
    if (Object.keys(tags).length === 0) throw new Error(`msg.payload has none of the PLC tags ${[...PLC_TAG_NAMES].join(', ')}`);
    return tags;
  }
  // An OPC UA node id (ns=1;s=AVI.Cell1.Trigger) or an MQTT topic (.../plc/Trigger): the last segment names the tag.
  const name = String(msg.topic ?? '').split(/[.;=/]/).pop() ?? '';
  if (!PLC_TAG_NAMES.has(name)) {
    throw new Error(`not a PLC tag: msg.topic ${JSON.stringify(msg.topic)} names none of ${[...PLC_TAG_NAMES].join(', ')} (nor is msg.payload a register block or an object of tags)`);
  }
  tags[name as keyof PlcTags] = tagNumber(name, payload);
  return tags;
}

/** The cell's tags as the message the chosen out-node sends. */
export function writeMessage(tags: CellTags, config: Pick<CellNodeDef, 'writeAs' | 'opcuaPrefix' | 'modbusAddress' | 'modbusUnit'>, topic: string): NodeMessage {
  switch (config.writeAs) {
    case 'opcua':
      // node-red-contrib-opcua's OpcUa-Client, action "writemultiple": one Write service call, data before flags.
      return {
        topic: 'writemultiple',
        payload: CELL_TAGS.map(({ name }) => ({
          nodeId: `${config.opcuaPrefix ?? ''}${name}`,
          attributeId: OPCUA_VALUE_ATTRIBUTE,
          value: { value: { dataType: OPCUA_TYPE[name], value: OPCUA_TYPE[name] === 'Boolean' ? tags[name] === 1 : tags[name] } },
        })),
      } as unknown as NodeMessage;
    case 'modbus':
      // node-red-contrib-modbus's Modbus-Flex-Write: the whole cell block in one FC 16 write.
      return {
        topic: 'cell',
        payload: { value: cellRegisters(tags), fc: 16, unitid: num(config.modbusUnit, 1), address: num(config.modbusAddress, CELL_BLOCK_ADDRESS), quantity: CELL_BLOCK_LENGTH },
      } as NodeMessage;
    default:
      return { topic: `${topic}/handshake/cell`, payload: { ...tags }, retain: true } as NodeMessage;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export default function (RED: NodeAPI): void {
  function AviCellNode(this: Node, config: CellNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const instance = randomUUID();
    const topic = `${String(config.topic || 'site/area/line/cell').replace(/\/+$/, '')}/avi`;
    const heartbeatMs = Math.max(50, num(config.heartbeat, 1000));
    const settings = settingsOf(node, () => new Cell(optionsFromConfig(config), Date.now()));
    const cell = settings.value;
    /** What a verdict message adds to its part's record (models, counts, timings), until the record goes out. */
    const extras = new Map<number, Record<string, unknown>>();
    let wakeup: NodeJS.Timeout | undefined;
    let lastStatus = '';

    const record = (r: PartResult): NodeMessage => {
      const { triggeredAt, decidedAt, ...rest } = r;
      const extra = extras.get(r.seq) ?? {};
      extras.delete(r.seq);
      return {
        topic: `${topic}/result`,
        payload: { cell: topic.slice(0, -4), ...rest, timestamp: iso(decidedAt), ...extra, timings: { triggeredAt: iso(triggeredAt), cycleMs: decidedAt - triggeredAt, ...((extra.timings as object) ?? {}) } },
      } as NodeMessage;
    };
    const event = (e: CellEvent): NodeMessage => ({ topic: `${topic}/event`, payload: { ...e, at: iso(e.at) } }) as NodeMessage;

    const showStatus = (): void => {
      if (!cell) return;
      const s = cell.state;
      const c = s.counters;
      const tags = cell.tags;
      const state =
        s.link === 'lost' ? message(RED, 'avi-cell.status.linkLost')
        : s.alarm !== 'none' ? message(RED, 'avi-cell.status.alarm', { alarm: s.alarm })
        : message(RED, tags.Ready ? 'avi-cell.status.ready' : tags.ResultReady ? 'avi-cell.status.waitingAck' : 'avi-cell.status.busy');
      const errors = c.errors + c.overruns + c.unknownRecipes;
      const text = message(RED, 'avi-cell.status.summary', { state, parts: c.results, late: c.deadlineMissed, errors }) + (s.recipe ? ` · ${s.recipe.name}` : '');
      if (text === lastStatus) return;
      lastStatus = text;
      const fill = s.link === 'lost' ? 'red' : s.alarm !== 'none' ? 'yellow' : tags.Ready ? 'green' : 'blue';
      // A lost link is a fault (red dot, as errors are); a red ring is a FAIL frame, a normal outcome.
      node.status({ fill, shape: tags.Ready || s.link === 'lost' ? 'dot' : 'ring', text });
    };

    /** Sends what the cell asked for: tag writes (output 1), inspections (2), records, events and state (3). */
    const flush = (send: Send = (m) => node.send(m)): void => {
      if (!cell) return;
      cell.tick(Date.now());
      const out = cell.drain();
      const writes = out.write ? [writeMessage(cell.tags, config, topic)] : [];
      const inspections = out.inspect.map((i): NodeMessage => {
        const ref: CellRef = { instance, seq: i.seq, partId: i.partId, recipe: i.recipe, triggeredAt: iso(i.triggeredAt) };
        return { topic: 'inspect', payload: i.partId, partId: i.partId, recipe: i.recipe, cell: ref } as NodeMessage;
      });
      const records = [...out.results.map(record), ...out.events.map(event)];
      if (records.length) records.push({ topic: `${topic}/state`, payload: { ...cell.state, at: new Date().toISOString() }, retain: true } as NodeMessage);
      if (writes.length || inspections.length || records.length) send([writes, inspections, records]);
      schedule();
      showStatus();
    };

    const schedule = (): void => {
      clearTimeout(wakeup);
      const at = cell?.nextWakeup();
      if (at !== undefined) wakeup = setTimeout(() => flush(), Math.max(0, at - Date.now()));
    };

    const beat = setInterval(() => {
      cell?.beat();
      flush();
    }, heartbeatMs);

    node.on('input', (msg: Msg, send: Send, done: Done) => {
      try {
        const c = settings.get();
        const now = Date.now();
        const ref = msg.cell as CellRef | undefined;
        if (ref && (msg.verdict !== undefined || msg.error !== undefined)) {
          if (ref.instance !== instance) throw new Error(`msg.cell is from another avi-cell or from before a redeploy (part ${ref.partId}); not this cell's inspection`);
          if (msg.error !== undefined) {
            c.failure(ref.seq, String(msg.error?.message ?? msg.error), now);
          } else {
            const v = msg.verdict as Verdict;
            if (!v || !Array.isArray(v.units) || !['PASS', 'FAIL', 'REVIEW'].includes(v.result)) throw new Error('msg.verdict is not an avi-router verdict (result and units)');
            const result = c.verdict(ref.seq, { result: v.result, reasons: v.reasons ?? [], units: v.units }, now);
            if (result) extras.set(result.seq, verdictExtras(msg, v, config.includeImage));
          }
        } else if (msg.topic === 'recipe') {
          c.selectRecipe(typeof msg.payload === 'number' ? msg.payload : String(msg.payload));
        } else if (msg.topic === 'connection') {
          c.connection(Boolean(msg.payload), now);
        } else {
          c.plcTags(plcTagsOf(msg), now);
        }
        flush(send);
        done();
      } catch (err) {
        statusError(node, errorMessage(err));
        lastStatus = '';
        flush(send);
        done(err instanceof Error ? err : new Error(String(err)));
      }
    });

    node.on('close', () => {
      clearInterval(beat);
      clearTimeout(wakeup);
    });
    if (cell) flush();
  }
  RED.nodes.registerType('avi-cell', AviCellNode);
}

/** What a part's record keeps of the verdict: enough to trace it, never image buffers unless asked. */
function verdictExtras(msg: Msg, v: Verdict, includeImage: boolean): Record<string, unknown> {
  const models: Record<string, { name: string; sha256: string }> = {};
  const used = (v.models ?? msg.models ?? {}) as Record<string, { name: string; sha256: string }>;
  for (const [role, m] of Object.entries(used)) models[role] = { name: m.name, sha256: m.sha256 };
  const extra: Record<string, unknown> = { counts: v.counts, severity: v.severity ?? null, rulesHash: v.rulesHash ?? null, models, verdictTimestamp: v.timestamp ?? null };
  if (msg.timings && typeof msg.timings === 'object') extra.timings = msg.timings;
  if (includeImage && Buffer.isBuffer(msg.image?.encoded)) extra.image = { format: msg.image.format, base64: msg.image.encoded.toString('base64') };
  return extra;
}
