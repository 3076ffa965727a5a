// The line-cell handshake's tags and Modbus register map, written once: docs/plc-handshake.md describes these
// tables, the avi-cell node reads and writes them, and the tests' PLCs use them.

/** What the PLC writes and the cell reads. */
export interface PlcTags {
  /** The part to inspect: a new non-zero value is a trigger for that part; 0 means no part (a PLC just started). */
  Trigger: number;
  /** The part whose result the PLC has taken: equal to the cell's ResultPartId acknowledges that result. */
  Ack: number;
  /** The recipe for the next triggers; 0 leaves the choice to a recipe message (or the first recipe). */
  RecipeIndex: number;
  /** Counted up by the PLC; a lower value than the last one (other than a wrap) means the PLC restarted. */
  PlcHeartbeat: number;
}

/** What the cell writes and the PLC reads. */
export interface CellTags {
  /** Counted up by the cell every heartbeat period, wrapping at 65535. */
  Heartbeat: number;
  /** 1: nothing in flight, no result waiting; the next Trigger is inspected at once. */
  Ready: number;
  /** 1: at least one part is being inspected. */
  Busy: number;
  /** 1: Result, ClassCode, UnitCount, ErrorCode, Recipe are valid for ResultPartId, until the PLC acknowledges. */
  ResultReady: number;
  ResultPartId: number;
  /** RESULT_CODE: 0 none, 1 pass, 2 reject, 3 review. */
  Result: number;
  /** Code of the class of the worst unit (position in the cell's class list, from 1); 0 when there is no unit. */
  ClassCode: number;
  UnitCount: number;
  /** ERROR_CODE of the presented result; 0 for a plain inspection. */
  ErrorCode: number;
  /** Index of the recipe the presented result was judged under (0 when none). */
  Recipe: number;
  /** ALARM_CODE: what needs a person now, independent of the presented result. */
  Alarm: number;
}

export type TagType = 'Boolean' | 'UInt16' | 'UInt32';

export interface TagSpec<K extends string> {
  name: K;
  type: TagType;
  /** Modbus holding register, offset from the block's start; a UInt32 takes two (high word first). */
  register: number;
}

export const PLC_TAGS: ReadonlyArray<TagSpec<keyof PlcTags>> = [
  { name: 'Trigger', type: 'UInt32', register: 0 },
  { name: 'Ack', type: 'UInt32', register: 2 },
  { name: 'RecipeIndex', type: 'UInt16', register: 4 },
  { name: 'PlcHeartbeat', type: 'UInt16', register: 5 },
];

export const CELL_TAGS: ReadonlyArray<TagSpec<keyof CellTags>> = [
  { name: 'Heartbeat', type: 'UInt16', register: 0 },
  { name: 'Ready', type: 'Boolean', register: 1 },
  { name: 'Busy', type: 'Boolean', register: 2 },
  { name: 'ResultReady', type: 'Boolean', register: 3 },
  { name: 'ResultPartId', type: 'UInt32', register: 4 },
  { name: 'Result', type: 'UInt16', register: 6 },
  { name: 'ClassCode', type: 'UInt16', register: 7 },
  { name: 'UnitCount', type: 'UInt16', register: 8 },
  { name: 'ErrorCode', type: 'UInt16', register: 9 },
  { name: 'Recipe', type: 'UInt16', register: 10 },
  { name: 'Alarm', type: 'UInt16', register: 11 },
];

/** Registers in each block. */
export const PLC_BLOCK_LENGTH = 6;
export const CELL_BLOCK_LENGTH = 12;
/** Default start addresses (holding registers, 0-based): PLC block at 0, cell block at 100. */
export const PLC_BLOCK_ADDRESS = 0;
export const CELL_BLOCK_ADDRESS = 100;

export const RESULT_CODE = { none: 0, PASS: 1, FAIL: 2, REVIEW: 3 } as const;

export const ERROR_CODE = {
  none: 0,
  /** No verdict by the part's deadline: the safe result was given. */
  deadline: 1,
  /** The frame or the models failed on this part (a Catch node reported it): the safe result was given. */
  inspection: 2,
  /** The PLC asked for a recipe the cell does not have: not inspected, the safe result was given. */
  unknownRecipe: 3,
  /** Triggered while the cell already held its maximum of parts in flight: not inspected, the safe result. */
  overrun: 4,
  /** The PLC restarted while the part was in flight: the safe result goes to the record only (the PLC forgot the part). */
  plcRestart: 5,
} as const;

export const ALARM_CODE = {
  none: 0,
  /** A result has waited longer than the ack timeout; it stays presented until the PLC acknowledges it. */
  ackTimeout: 1,
  /** A trigger found the cell full (see ERROR_CODE.overrun); cleared by the next acknowledge. */
  overrun: 2,
  /** The PLC restarted while parts were in flight; their results went to the record only. Cleared by the next trigger. */
  plcRestart: 3,
} as const;

export type ErrorName = keyof typeof ERROR_CODE;
export type AlarmName = keyof typeof ALARM_CODE;

const U16 = 0x10000;

/** The cell's tags as the Modbus holding registers of its block. */
export function cellRegisters(tags: CellTags): number[] {
  const words = new Array<number>(CELL_BLOCK_LENGTH).fill(0);
  for (const spec of CELL_TAGS) writeWords(words, spec, tags[spec.name]);
  return words;
}

/** The PLC's tags from the Modbus holding registers of its block (as read by a Modbus-Read node). */
export function plcTagsFromRegisters(words: readonly number[]): PlcTags {
  if (words.length < PLC_BLOCK_LENGTH) throw new Error(`the PLC block is ${PLC_BLOCK_LENGTH} registers, got ${words.length}`);
  const tags = {} as PlcTags;
  for (const spec of PLC_TAGS) tags[spec.name] = readWords(words, spec);
  return tags;
}

/** The reverse of each, for a PLC (the tests' simulated one, or a gateway that bridges). */
export function plcRegisters(tags: PlcTags): number[] {
  const words = new Array<number>(PLC_BLOCK_LENGTH).fill(0);
  for (const spec of PLC_TAGS) writeWords(words, spec, tags[spec.name]);
  return words;
}
export function cellTagsFromRegisters(words: readonly number[]): CellTags {
  const tags = {} as CellTags;
  for (const spec of CELL_TAGS) tags[spec.name] = readWords(words, spec);
  return tags;
}

function writeWords(words: number[], spec: TagSpec<string>, value: number): void {
  if (spec.type === 'UInt32') {
    words[spec.register] = Math.floor(value / U16) % U16;
    words[spec.register + 1] = value % U16;
  } else {
    words[spec.register] = value % U16;
  }
}

function readWords(words: readonly number[], spec: TagSpec<string>): number {
  const word = (i: number) => Number(words[i]) & 0xffff;
  return spec.type === 'UInt32' ? word(spec.register) * U16 + word(spec.register + 1) : word(spec.register);
}

/** A tag value as a number: booleans 1/0, numeric strings parsed; anything else is an error naming the tag. */
export function tagNumber(name: string, value: unknown): number {
  const n = typeof value === 'boolean' ? Number(value) : typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new Error(`PLC tag ${name} must be a whole number from 0 to 4294967295, got ${JSON.stringify(value)}`);
  }
  return n;
}
