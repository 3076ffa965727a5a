// What the record stores (SQLite on the gateway, PostgreSQL plant-wide) offer, and what is common to them.
import { ChainVerifier, type ChainReport, type ChainedRecord, type NewRecord, type StoredRow } from './chain';
import { signatureCheck } from './signature';
import type { User } from './users';

/** A unit routed to review, waiting in the store (so the queue survives restarts). */
export interface QueueItem {
  /** The verdict record's id. */
  recordId: string;
  chain: string;
  seq: number;
  hash: string;
  /** When it was queued, ISO time. */
  queued: string;
  /** The verdict record's body: units, boxes, classes, the frame's SHA-256, rules. */
  verdict: Record<string, unknown>;
  /** The classes a reviewer may choose. */
  classes: string[];
  goodClasses: string[];
  status: 'pending' | 'decided';
}

export interface RecordFilter {
  chain?: string;
  /** ISO times, inclusive. */
  from?: string;
  to?: string;
  batch?: string;
  kind?: string;
  /** Only the latest this many records. */
  latest?: number;
}

export interface AppendOptions {
  /** A queue item (by verdict record id) that this append decides, in the same transaction. */
  resolveQueue?: string;
}

export interface AuditStore {
  readonly kind: 'sqlite' | 'postgres';
  /** The file or the URL without its password, for messages. */
  readonly location: string;
  /** Appends to the end of `chain` in one transaction; records whose id is already stored are skipped. */
  append(chain: string, records: NewRecord[], options?: AppendOptions): Promise<ChainedRecord[]>;
  chains(): Promise<string[]>;
  /** Every row of a chain in storage order, in pages. */
  eachRow(chain: string, visit: (row: StoredRow) => void): Promise<void>;
  seqs(chain: string): Promise<Set<number>>;
  find(id: string): Promise<ChainedRecord | undefined>;
  records(filter: RecordFilter): Promise<ChainedRecord[]>;
  queueAdd(item: Omit<QueueItem, 'status'>): Promise<void>;
  queuePending(): Promise<QueueItem[]>;
  queueGet(recordId: string): Promise<QueueItem | undefined>;
  getUser(userId: string): Promise<User | undefined>;
  putUser(user: User): Promise<void>;
  listUsers(): Promise<User[]>;
  close(): Promise<void>;
}

export function rowToRecord(row: StoredRow): ChainedRecord {
  return { chain: row.chain, seq: row.seq, id: row.id, time: row.time, kind: row.kind as ChainedRecord['kind'], body: JSON.parse(row.body), prevHash: row.prevHash, hash: row.hash };
}

/** Checks every chain in a store; the first break of each chain is its first element of `breaks`. */
export async function verifyStore(store: AuditStore, chains?: string[]): Promise<ChainReport[]> {
  const reports: ChainReport[] = [];
  for (const chain of chains ?? (await store.chains())) {
    const verifier = new ChainVerifier(chain, { checks: [signatureCheck], seqsPresent: await store.seqs(chain) });
    await store.eachRow(chain, (row) => verifier.add(row));
    reports.push(verifier.report());
  }
  return reports;
}

/** Opens the store a location names: a postgres:// URL, otherwise a SQLite file. */
export async function openStore(location: string, options: { readonly?: boolean } = {}): Promise<AuditStore> {
  if (/^postgres(ql)?:\/\//i.test(location)) {
    const { PostgresStore } = await import('./postgres-store');
    return PostgresStore.open(location);
  }
  const { SqliteStore } = await import('./sqlite-store');
  return SqliteStore.open(location, options);
}
