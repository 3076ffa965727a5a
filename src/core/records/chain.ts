// The hash chain: each record holds the hash of the one before it in its chain, and its own hash covers
// everything it says, so a record changed, deleted, inserted or moved breaks the chain where it happened.
import { canonicalJson, sha256Hex } from './canonical';

/** The hash the first record of a chain points back to. */
export const GENESIS_HASH = '0'.repeat(64);

export type RecordKind = 'verdict' | 'review' | 'image-pruned' | 'user';

/** A record as it is handed to a store: everything but its place in the chain. */
export interface NewRecord {
  /** Unique id (UUID), given when the record is made, so a record spooled and retried is stored once. */
  id: string;
  /** When the record was made, ISO 8601 UTC. */
  time: string;
  kind: RecordKind;
  body: Record<string, unknown>;
}

/** A record in its chain. */
export interface ChainedRecord extends NewRecord {
  /** The gateway's chain (several gateways write to one PostgreSQL, each to its own chain). */
  chain: string;
  /** 1, 2, 3, ... within the chain. */
  seq: number;
  prevHash: string;
  hash: string;
}

/** What a record's hash covers: every field but the hash itself. */
export function recordHash(r: Omit<ChainedRecord, 'hash'>): string {
  return sha256Hex(canonicalJson({ chain: r.chain, seq: r.seq, id: r.id, time: r.time, kind: r.kind, body: r.body, prevHash: r.prevHash }));
}

/** The next record of a chain whose last record is `last` (undefined: the chain is empty). */
export function chainNext(chain: string, last: { seq: number; hash: string } | undefined, record: NewRecord): ChainedRecord {
  const linked = { ...record, chain, seq: (last?.seq ?? 0) + 1, prevHash: last?.hash ?? GENESIS_HASH };
  return { ...linked, hash: recordHash(linked) };
}

/** A row as stored: body still the stored text, so a body that is no longer JSON is reported, not thrown. */
export interface StoredRow {
  /** The store's own row number (insertion order). */
  rowId: number;
  chain: string;
  seq: number;
  id: string;
  time: string;
  kind: string;
  body: string;
  prevHash: string;
  hash: string;
}

export interface ChainBreak {
  chain: string;
  /** The row where the chain breaks, in storage order. */
  rowId: number;
  /** The seq that row claims. */
  seq: number;
  recordId: string;
  /** Which check failed: content | link | order | missing | body | signature. */
  problem: 'content' | 'link' | 'order' | 'missing' | 'body' | 'signature';
  message: string;
}

export interface ChainReport {
  chain: string;
  records: number;
  /** Hash of the last record: note it down, and a later verify can show nothing was cut off the end. */
  head: string;
  lastSeq: number;
  breaks: ChainBreak[];
}

/** Extra checks on a record whose hash is right (the review station's signatures, see signature.ts). */
export type RecordCheck = (record: ChainedRecord, earlier: (id: string) => EarlierRecord | undefined) => string | undefined;

/** What verification keeps of each record for later ones to refer to. */
export interface EarlierRecord {
  seq: number;
  kind: string;
  hash: string;
}

/**
 * Checks one chain's rows, fed in storage order. `breaks[0]` of the report is the first record that breaks
 * the chain. Keeps only seq, kind and hash of each record, for later records that refer to it.
 */
export class ChainVerifier {
  private readonly breaks: ChainBreak[] = [];
  private expectedSeq = 1;
  private prevHash = GENESIS_HASH;
  private prevId = '';
  private count = 0;
  private readonly byId = new Map<string, EarlierRecord>();

  constructor(
    readonly chain: string,
    private readonly options: { checks?: RecordCheck[]; seqsPresent?: Set<number> } = {},
  ) {}

  add(row: StoredRow): void {
    const { chain } = this;
    this.count++;
    const fail = (problem: ChainBreak['problem'], message: string) =>
      this.breaks.push({ chain, rowId: row.rowId, seq: row.seq, recordId: row.id, problem, message: `record ${chain}#${row.seq} (row ${row.rowId}, id ${row.id}): ${message}` });
    const expected = this.expectedSeq;
    this.expectedSeq = row.seq + 1;
    const prevHash = this.prevHash;
    const prevId = this.prevId;
    this.prevHash = row.hash;
    this.prevId = row.id;
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(row.body);
    } catch {
      fail('body', 'its body is not valid JSON: the stored text was changed');
      return;
    }
    const record: ChainedRecord = { chain, seq: row.seq, id: row.id, time: row.time, kind: row.kind as RecordKind, body, prevHash: row.prevHash, hash: row.hash };
    if (row.seq !== expected) {
      // A later seq where the expected one is stored elsewhere is a move, not a deletion.
      if (row.seq > expected && row.prevHash !== prevHash && !this.options.seqsPresent?.has(expected)) {
        fail('missing', `comes after #${expected - 1}, but ${row.seq - expected === 1 ? `#${expected} is` : `#${expected}..#${row.seq - 1} are`} missing: deleted`);
      } else {
        fail('order', `stands where #${expected} should: records were swapped, moved or inserted`);
      }
    } else if (row.prevHash !== prevHash) {
      fail('link', `does not point to the record before it, #${expected - 1} (id ${prevId || 'none'}): prevHash ${short(row.prevHash)}, that record's hash ${short(prevHash)}; #${expected - 1} was inserted or replaced`);
    }
    const hash = recordHash(record);
    if (hash !== row.hash) {
      fail('content', `its content does not match its hash (stored ${short(row.hash)}, content hashes to ${short(hash)}): a field was changed`);
    } else {
      for (const check of this.options.checks ?? []) {
        const problem = check(record, (id) => this.byId.get(id));
        if (problem) fail('signature', problem);
      }
    }
    this.byId.set(record.id, { seq: record.seq, kind: record.kind, hash: record.hash });
  }

  report(): ChainReport {
    return { chain: this.chain, records: this.count, head: this.prevHash, lastSeq: this.expectedSeq - 1, breaks: this.breaks };
  }
}

function short(hash: string): string {
  return `${hash.slice(0, 12)}…`;
}
