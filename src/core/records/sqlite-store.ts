// The gateway's record store: one SQLite file (WAL, synchronous=FULL: a committed record survives power
// loss). better-sqlite3 is synchronous, so Node-RED runs this store in a worker thread (recorder-worker.ts).
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chainNext, type ChainedRecord, type NewRecord, type StoredRow } from './chain';
import { rowToRecord, type AppendOptions, type AuditStore, type QueueItem, type RecordFilter } from './store';
import type { User } from './users';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS avi_records (
  row_id INTEGER PRIMARY KEY AUTOINCREMENT,
  chain TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL UNIQUE, time TEXT NOT NULL, kind TEXT NOT NULL,
  body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
  UNIQUE (chain, seq));
CREATE INDEX IF NOT EXISTS avi_records_time ON avi_records (time);
-- Append-only: the store itself refuses to change or remove a record (the hash chain finds it if someone
-- with the file drops these triggers first).
CREATE TRIGGER IF NOT EXISTS avi_records_no_update BEFORE UPDATE ON avi_records
  BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS avi_records_no_delete BEFORE DELETE ON avi_records
  BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TABLE IF NOT EXISTS avi_review_queue (
  record_id TEXT PRIMARY KEY, chain TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, queued TEXT NOT NULL,
  verdict TEXT NOT NULL, classes TEXT NOT NULL, good_classes TEXT NOT NULL, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS avi_users (
  user_id TEXT PRIMARY KEY, printed_name TEXT NOT NULL, role TEXT NOT NULL, password_hash TEXT NOT NULL,
  failed_attempts INTEGER NOT NULL, locked_at TEXT, disabled INTEGER NOT NULL);
`;

const ROW = 'row_id AS rowId, chain, seq, id, time, kind, body, prev_hash AS prevHash, hash';

export class SqliteStore implements AuditStore {
  readonly kind = 'sqlite' as const;
  private constructor(
    readonly location: string,
    private readonly db: Database.Database,
  ) {}

  static open(file: string, options: { readonly?: boolean } = {}): SqliteStore {
    // "readonly" (the CLI): the file must exist and its schema is left as it is. Opened read-write all the
    // same, since SQLite reads a WAL database only with its -shm file, which it may have to create.
    if (!options.readonly) mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const db = new Database(file, { fileMustExist: !!options.readonly });
    db.pragma('busy_timeout = 5000');
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec(SCHEMA);
    }
    return new SqliteStore(file, db);
  }

  async append(chain: string, records: NewRecord[], options: AppendOptions = {}): Promise<ChainedRecord[]> {
    return this.appendNow(chain, records, options);
  }

  /** The synchronous append (the worker's fast path). */
  appendNow(chain: string, records: NewRecord[], options: AppendOptions = {}): ChainedRecord[] {
    const db = this.db;
    const last = db.prepare('SELECT seq, hash FROM avi_records WHERE chain = ? ORDER BY seq DESC LIMIT 1');
    const exists = db.prepare('SELECT 1 FROM avi_records WHERE id = ?');
    const insert = db.prepare('INSERT INTO avi_records (chain, seq, id, time, kind, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    // IMMEDIATE: the write lock is taken before the last record is read, so two processes cannot chain onto the same record.
    return db.transaction(() => {
      let tail = last.get(chain) as { seq: number; hash: string } | undefined;
      const stored: ChainedRecord[] = [];
      for (const record of records) {
        if (exists.get(record.id)) continue;
        const r = chainNext(chain, tail, record);
        insert.run(r.chain, r.seq, r.id, r.time, r.kind, JSON.stringify(r.body), r.prevHash, r.hash);
        stored.push(r);
        tail = r;
      }
      if (options.resolveQueue) db.prepare("UPDATE avi_review_queue SET status = 'decided' WHERE record_id = ?").run(options.resolveQueue);
      return stored;
    }).immediate();
  }

  async chains(): Promise<string[]> {
    return (this.db.prepare('SELECT DISTINCT chain FROM avi_records ORDER BY chain').all() as Array<{ chain: string }>).map((r) => r.chain);
  }

  async eachRow(chain: string, visit: (row: StoredRow) => void): Promise<void> {
    for (const row of this.db.prepare(`SELECT ${ROW} FROM avi_records WHERE chain = ? ORDER BY row_id`).iterate(chain)) visit(row as StoredRow);
  }

  async seqs(chain: string): Promise<Set<number>> {
    return new Set((this.db.prepare('SELECT seq FROM avi_records WHERE chain = ?').pluck().all(chain) as number[]));
  }

  async find(id: string): Promise<ChainedRecord | undefined> {
    const row = this.db.prepare(`SELECT ${ROW} FROM avi_records WHERE id = ?`).get(id) as StoredRow | undefined;
    return row && rowToRecord(row);
  }

  async records(filter: RecordFilter): Promise<ChainedRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.chain) (where.push('chain = ?'), args.push(filter.chain));
    if (filter.from) (where.push('time >= ?'), args.push(filter.from));
    if (filter.to) (where.push('time <= ?'), args.push(filter.to));
    if (filter.kind) (where.push('kind = ?'), args.push(filter.kind));
    if (filter.batch) (where.push("json_extract(body, '$.batch') = ?"), args.push(filter.batch));
    const order = filter.latest ? `ORDER BY row_id DESC LIMIT ${Math.floor(filter.latest)}` : 'ORDER BY chain, seq';
    const rows = this.db.prepare(`SELECT ${ROW} FROM avi_records ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ${order}`).all(...args) as StoredRow[];
    return (filter.latest ? rows.reverse() : rows).map(rowToRecord);
  }

  async queueAdd(item: Omit<QueueItem, 'status'>): Promise<void> {
    this.db
      .prepare("INSERT OR IGNORE INTO avi_review_queue VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')")
      .run(item.recordId, item.chain, item.seq, item.hash, item.queued, JSON.stringify(item.verdict), JSON.stringify(item.classes), JSON.stringify(item.goodClasses));
  }

  async queuePending(): Promise<QueueItem[]> {
    return (this.db.prepare("SELECT * FROM avi_review_queue WHERE status = 'pending' ORDER BY queued, seq").all() as QueueRow[]).map(queueItem);
  }

  async queueGet(recordId: string): Promise<QueueItem | undefined> {
    const row = this.db.prepare('SELECT * FROM avi_review_queue WHERE record_id = ?').get(recordId) as QueueRow | undefined;
    return row && queueItem(row);
  }

  async getUser(userId: string): Promise<User | undefined> {
    const row = this.db.prepare('SELECT * FROM avi_users WHERE user_id = ?').get(userId) as UserRow | undefined;
    return row && userOf(row);
  }

  async putUser(u: User): Promise<void> {
    this.db
      .prepare('INSERT OR REPLACE INTO avi_users VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(u.userId, u.printedName, u.role, u.passwordHash, u.failedAttempts, u.lockedAt, u.disabled ? 1 : 0);
  }

  async listUsers(): Promise<User[]> {
    return (this.db.prepare('SELECT * FROM avi_users ORDER BY user_id').all() as UserRow[]).map(userOf);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

export interface QueueRow {
  record_id: string;
  chain: string;
  seq: number | string;
  hash: string;
  queued: string;
  verdict: string;
  classes: string;
  good_classes: string;
  status: 'pending' | 'decided';
}

export function queueItem(r: QueueRow): QueueItem {
  return {
    recordId: r.record_id,
    chain: r.chain,
    seq: Number(r.seq),
    hash: r.hash,
    queued: r.queued,
    verdict: JSON.parse(r.verdict),
    classes: JSON.parse(r.classes),
    goodClasses: JSON.parse(r.good_classes),
    status: r.status,
  };
}

export interface UserRow {
  user_id: string;
  printed_name: string;
  role: string;
  password_hash: string;
  failed_attempts: number;
  locked_at: string | null;
  disabled: number | boolean;
}

export function userOf(r: UserRow): User {
  return {
    userId: r.user_id,
    printedName: r.printed_name,
    role: r.role as User['role'],
    passwordHash: r.password_hash,
    failedAttempts: Number(r.failed_attempts),
    lockedAt: r.locked_at,
    disabled: Boolean(r.disabled),
  };
}
