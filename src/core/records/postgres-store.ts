// The plant-wide record store: PostgreSQL, written by several gateways at once, each to its own chain.
// Appends to one chain are serialised by a transaction-scoped advisory lock on the chain's name.
import { Pool, type PoolClient } from 'pg';
import { chainNext, type ChainedRecord, type NewRecord, type StoredRow } from './chain';
import { rowToRecord, type AppendOptions, type AuditStore, type QueueItem, type RecordFilter } from './store';
import { queueItem, userOf, type QueueRow, type UserRow } from './sqlite-store';
import type { User } from './users';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS avi_records (
  row_id BIGSERIAL PRIMARY KEY,
  chain TEXT NOT NULL, seq BIGINT NOT NULL, id TEXT NOT NULL UNIQUE, time TEXT NOT NULL, kind TEXT NOT NULL,
  body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
  UNIQUE (chain, seq));
CREATE INDEX IF NOT EXISTS avi_records_time ON avi_records (time);
CREATE OR REPLACE FUNCTION avi_records_append_only() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'audit records are append-only'; END $$;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'avi_records_append_only') THEN
    CREATE TRIGGER avi_records_append_only BEFORE UPDATE OR DELETE ON avi_records
      FOR EACH ROW EXECUTE FUNCTION avi_records_append_only();
  END IF;
END $$;
CREATE TABLE IF NOT EXISTS avi_review_queue (
  record_id TEXT PRIMARY KEY, chain TEXT NOT NULL, seq BIGINT NOT NULL, hash TEXT NOT NULL, queued TEXT NOT NULL,
  verdict TEXT NOT NULL, classes TEXT NOT NULL, good_classes TEXT NOT NULL, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS avi_users (
  user_id TEXT PRIMARY KEY, printed_name TEXT NOT NULL, role TEXT NOT NULL, password_hash TEXT NOT NULL,
  failed_attempts INTEGER NOT NULL, locked_at TEXT, disabled BOOLEAN NOT NULL);
`;

const ROW = 'row_id AS "rowId", chain, seq, id, time, kind, body, prev_hash AS "prevHash", hash';
const PAGE = 2000;

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

function toRow(r: Record<string, unknown>): StoredRow {
  return { ...(r as unknown as StoredRow), rowId: Number(r.rowId), seq: Number(r.seq) };
}

export class PostgresStore implements AuditStore {
  readonly kind = 'postgres' as const;
  private constructor(
    readonly location: string,
    private readonly pool: Pool,
  ) {}

  static async open(url: string): Promise<PostgresStore> {
    const pool = new Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000 });
    // An idle client that loses its server emits 'error'; the next query reports it instead of a crash.
    pool.on('error', () => undefined);
    const store = new PostgresStore(redactUrl(url), pool);
    try {
      await store.transaction(async (c) => {
        // Two gateways creating the schema at once would race; one at a time.
        await c.query('SELECT pg_advisory_xact_lock(42424242)');
        await c.query(SCHEMA);
      });
    } catch (err) {
      await pool.end();
      throw new Error(`PostgreSQL ${store.location}: ${(err as Error).message}`);
    }
    return store;
  }

  private async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async append(chain: string, records: NewRecord[], options: AppendOptions = {}): Promise<ChainedRecord[]> {
    return this.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`avi_records:${chain}`]);
      const last = await c.query('SELECT seq, hash FROM avi_records WHERE chain = $1 ORDER BY seq DESC LIMIT 1', [chain]);
      let tail = last.rows[0] ? { seq: Number(last.rows[0].seq), hash: last.rows[0].hash as string } : undefined;
      const known = new Set((await c.query('SELECT id FROM avi_records WHERE id = ANY($1)', [records.map((r) => r.id)])).rows.map((r) => r.id));
      const stored: ChainedRecord[] = [];
      for (const record of records) {
        if (known.has(record.id)) continue;
        const r = chainNext(chain, tail, record);
        await c.query('INSERT INTO avi_records (chain, seq, id, time, kind, body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
          r.chain, r.seq, r.id, r.time, r.kind, JSON.stringify(r.body), r.prevHash, r.hash,
        ]);
        stored.push(r);
        tail = r;
      }
      if (options.resolveQueue) await c.query("UPDATE avi_review_queue SET status = 'decided' WHERE record_id = $1", [options.resolveQueue]);
      return stored;
    });
  }

  async chains(): Promise<string[]> {
    return (await this.pool.query('SELECT DISTINCT chain FROM avi_records ORDER BY chain')).rows.map((r) => r.chain);
  }

  async eachRow(chain: string, visit: (row: StoredRow) => void): Promise<void> {
    for (let after = 0; ; ) {
      const { rows } = await this.pool.query(`SELECT ${ROW} FROM avi_records WHERE chain = $1 AND row_id > $2 ORDER BY row_id LIMIT ${PAGE}`, [chain, after]);
      for (const r of rows) visit(toRow(r));
      if (rows.length < PAGE) return;
      after = Number(rows[rows.length - 1].rowId);
    }
  }

  async seqs(chain: string): Promise<Set<number>> {
    return new Set((await this.pool.query('SELECT seq FROM avi_records WHERE chain = $1', [chain])).rows.map((r) => Number(r.seq)));
  }

  async find(id: string): Promise<ChainedRecord | undefined> {
    const { rows } = await this.pool.query(`SELECT ${ROW} FROM avi_records WHERE id = $1`, [id]);
    return rows[0] && rowToRecord(toRow(rows[0]));
  }

  async records(filter: RecordFilter): Promise<ChainedRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (sql: string, value: unknown) => (args.push(value), where.push(sql.replace('?', `$${args.length}`)));
    if (filter.chain) add('chain = ?', filter.chain);
    if (filter.from) add('time >= ?', filter.from);
    if (filter.to) add('time <= ?', filter.to);
    if (filter.kind) add('kind = ?', filter.kind);
    if (filter.batch) add("(body::jsonb ->> 'batch') = ?", filter.batch);
    const order = filter.latest ? `ORDER BY row_id DESC LIMIT ${Math.floor(filter.latest)}` : 'ORDER BY chain, seq';
    const { rows } = await this.pool.query(`SELECT ${ROW} FROM avi_records ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ${order}`, args);
    return (filter.latest ? rows.reverse() : rows).map((r) => rowToRecord(toRow(r)));
  }

  async queueAdd(item: Omit<QueueItem, 'status'>): Promise<void> {
    await this.pool.query("INSERT INTO avi_review_queue VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending') ON CONFLICT DO NOTHING", [
      item.recordId, item.chain, item.seq, item.hash, item.queued, JSON.stringify(item.verdict), JSON.stringify(item.classes), JSON.stringify(item.goodClasses),
    ]);
  }

  async queuePending(): Promise<QueueItem[]> {
    return (await this.pool.query("SELECT * FROM avi_review_queue WHERE status = 'pending' ORDER BY queued, seq")).rows.map((r) => queueItem(r as QueueRow));
  }

  async queueGet(recordId: string): Promise<QueueItem | undefined> {
    const { rows } = await this.pool.query('SELECT * FROM avi_review_queue WHERE record_id = $1', [recordId]);
    return rows[0] && queueItem(rows[0] as QueueRow);
  }

  async getUser(userId: string): Promise<User | undefined> {
    const { rows } = await this.pool.query('SELECT * FROM avi_users WHERE user_id = $1', [userId]);
    return rows[0] && userOf(rows[0] as UserRow);
  }

  async putUser(u: User): Promise<void> {
    await this.pool.query(
      `INSERT INTO avi_users VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id) DO UPDATE SET
         printed_name = $2, role = $3, password_hash = $4, failed_attempts = $5, locked_at = $6, disabled = $7`,
      [u.userId, u.printedName, u.role, u.passwordHash, u.failedAttempts, u.lockedAt, u.disabled],
    );
  }

  async listUsers(): Promise<User[]> {
    return (await this.pool.query('SELECT * FROM avi_users ORDER BY user_id')).rows.map((r) => userOf(r as UserRow));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
