// The record's hash chain against an attacker with the database's admin rights (who can drop the append-only
// triggers): a field changed, a record deleted, two swapped, one inserted, each in SQLite and in PostgreSQL,
// each found by `avi audit verify` naming the record.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import { chainNext, type NewRecord, type StoredRow } from '../src/core/records/chain';
import { openStore, verifyStore, type AuditStore } from '../src/core/records/store';
import { REPO_ROOT, tempDir } from './support/fixtures';
import { postgresMissing, startPostgres, type Postgres } from './support/postgres';

const CHAIN = 'line1-gw';

export function verdictRecord(i: number, result = i % 3 === 0 ? 'FAIL' : 'PASS'): NewRecord {
  return {
    id: randomUUID(),
    time: new Date(Date.UTC(2026, 0, 1, 8, 0, i)).toISOString(),
    kind: 'verdict',
    body: { line: 'L1', partId: `P${i}`, result, units: [{ detectionId: 0, class: result === 'FAIL' ? 'crack' : 'good', confidence: 0.9 }] },
  };
}

/** Raw SQL as the attacker runs it; `$1, $2` parameters in both dialects. */
interface Raw {
  run(sql: string, params?: unknown[]): Promise<void>;
  rows(): Promise<StoredRow[]>;
  close(): Promise<void>;
}

function sqliteRaw(file: string): Raw {
  const db = new Database(file);
  db.exec('DROP TRIGGER IF EXISTS avi_records_no_update; DROP TRIGGER IF EXISTS avi_records_no_delete;');
  return {
    async run(sql, params = []) {
      db.prepare(sql.replace(/\$\d+/g, '?')).run(...params);
    },
    async rows() {
      return db.prepare('SELECT row_id AS rowId, chain, seq, id, time, kind, body, prev_hash AS prevHash, hash FROM avi_records ORDER BY row_id').all() as StoredRow[];
    },
    async close() {
      db.close();
    },
  };
}

async function postgresRaw(url: string): Promise<Raw> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  await client.query('ALTER TABLE avi_records DISABLE TRIGGER avi_records_append_only');
  return {
    async run(sql, params = []) {
      await client.query(sql, params);
    },
    async rows() {
      const { rows } = await client.query('SELECT row_id AS "rowId", chain, seq, id, time, kind, body, prev_hash AS "prevHash", hash FROM avi_records ORDER BY row_id');
      return rows.map((r) => ({ ...r, rowId: Number(r.rowId), seq: Number(r.seq) }) as StoredRow);
    },
    async close() {
      await client.end();
    },
  };
}

const INSERT = 'INSERT INTO avi_records (row_id, chain, seq, id, time, kind, body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)';
const values = (r: StoredRow, rowId: number, seq = r.seq) => [rowId, r.chain, seq, r.id, r.time, r.kind, r.body, r.prevHash, r.hash];

/** Runs `avi audit verify` as a user would; returns exit status and output. */
function cliVerify(location: string): { status: number | null; out: string } {
  const run = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'avi.js'), 'audit', 'verify', location], { encoding: 'utf8' });
  return { status: run.status, out: run.stdout + run.stderr };
}

interface Backend {
  name: string;
  /** A fresh, empty store location. */
  fresh(label: string): Promise<string>;
  raw(location: string): Promise<Raw>;
}

export function backends(): { sqlite: Backend; postgres: Backend & { start(): Promise<void>; stop(): Promise<void> } } {
  const tmp = tempDir('avi-chain-');
  let pg: Postgres | undefined;
  let n = 0;
  return {
    sqlite: {
      name: 'SQLite',
      fresh: async (label) => path.join(tmp.dir, `${label}-${n++}.sqlite`),
      raw: async (file) => sqliteRaw(file),
    },
    postgres: {
      name: 'PostgreSQL',
      async start() {
        pg = await startPostgres();
      },
      async stop() {
        await pg?.stop();
        tmp.cleanup();
      },
      fresh: async (label) => pg!.createDatabase(`${label.replace(/\W/g, '_')}_${n++}`),
      raw: postgresRaw,
    },
  };
}

async function storeWith(location: string, count: number): Promise<AuditStore> {
  const store = await openStore(location);
  await store.append(CHAIN, Array.from({ length: count }, (_, i) => verdictRecord(i + 1)));
  return store;
}

const all = backends();
for (const backend of [all.sqlite, all.postgres]) {
  describe(`audit trail tamper evidence in ${backend.name} (avi audit verify)`, function () {
    this.timeout(60_000);
    before(async function () {
      if (backend === all.postgres) {
        const missing = postgresMissing();
        if (missing) {
          console.log(`      skipped: ${missing}`);
          this.skip();
        }
        await all.postgres.start();
      }
    });
    after(async () => {
      if (backend === all.postgres) await all.postgres.stop();
    });

    it('an intact chain verifies, and the store refuses to change or delete a record', async () => {
      const location = await backend.fresh('intact');
      const store = await storeWith(location, 10);
      const [report] = await verifyStore(store);
      expect(report).to.include({ chain: CHAIN, records: 10, lastSeq: 10 });
      expect(report.breaks).to.deep.equal([]);
      const raw = backend === all.sqlite ? new Database(location) : new Client({ connectionString: location });
      if (raw instanceof Database) {
        expect(() => raw.prepare("UPDATE avi_records SET body = '{}' WHERE seq = 2").run()).to.throw(/append-only/);
        expect(() => raw.prepare('DELETE FROM avi_records WHERE seq = 2').run()).to.throw(/append-only/);
        raw.close();
      } else {
        await raw.connect();
        let error = '';
        await raw.query('DELETE FROM avi_records WHERE seq = 2').catch((e: Error) => (error = e.message));
        expect(error).to.match(/append-only/);
        await raw.end();
      }
      await store.close();
      const cli = cliVerify(location);
      expect(cli.status, cli.out).to.equal(0);
      expect(cli.out).to.match(new RegExp(`chain ${CHAIN}: 10 records, #1..#10, intact`));
    });

    it('a field changed: names the record whose content no longer matches its hash', async () => {
      const location = await backend.fresh('changed');
      await (await storeWith(location, 10)).close();
      const raw = await backend.raw(location);
      const target = (await raw.rows())[2];
      expect(target.body).to.contain('"result":"FAIL"');
      await raw.run('UPDATE avi_records SET body = $1 WHERE id = $2', [target.body.replace('"result":"FAIL"', '"result":"PASS"'), target.id]);
      await raw.close();
      const cli = cliVerify(location);
      expect(cli.status, cli.out).to.equal(1);
      expect(cli.out).to.contain(`BROKEN at record ${CHAIN}#3 (row ${target.rowId}, id ${target.id}): its content does not match its hash`);
    });

    it('a record deleted: names the record after the gap and the missing seq', async () => {
      const location = await backend.fresh('deleted');
      await (await storeWith(location, 10)).close();
      const raw = await backend.raw(location);
      const rows = await raw.rows();
      await raw.run('DELETE FROM avi_records WHERE id = $1', [rows[4].id]);
      await raw.close();
      const cli = cliVerify(location);
      expect(cli.status, cli.out).to.equal(1);
      expect(cli.out).to.contain(`BROKEN at record ${CHAIN}#6 (row ${rows[5].rowId}, id ${rows[5].id}): comes after #4, but #5 is missing: deleted`);
    });

    it('two records swapped: names the first record out of its place', async () => {
      const location = await backend.fresh('swapped');
      await (await storeWith(location, 10)).close();
      const raw = await backend.raw(location);
      const rows = await raw.rows();
      const [a, b] = [rows[2], rows[3]];
      await raw.run('DELETE FROM avi_records WHERE id = $1 OR id = $2', [a.id, b.id]);
      await raw.run(INSERT, values(b, a.rowId));
      await raw.run(INSERT, values(a, b.rowId));
      await raw.close();
      const cli = cliVerify(location);
      expect(cli.status, cli.out).to.equal(1);
      expect(cli.out).to.contain(`BROKEN at record ${CHAIN}#4 (row ${a.rowId}, id ${b.id}): stands where #3 should: records were swapped, moved or inserted`);
    });

    it('a record inserted (hashed and linked like a real one): names the record it was slipped in before', async () => {
      const location = await backend.fresh('inserted');
      await (await storeWith(location, 10)).close();
      const raw = await backend.raw(location);
      const rows = await raw.rows();
      const tail = rows.slice(6);
      const forged = chainNext(CHAIN, { seq: 6, hash: rows[5].hash }, { ...verdictRecord(99, 'PASS'), time: rows[6].time });
      // Rows 7..10 move up one place, the forged record takes place 7: the chain is renumbered as a forger would.
      await raw.run(`DELETE FROM avi_records WHERE seq > 6`);
      await raw.run(INSERT, [rows[5].rowId + 1, forged.chain, forged.seq, forged.id, forged.time, forged.kind, JSON.stringify(forged.body), forged.prevHash, forged.hash]);
      for (const r of tail) await raw.run(INSERT, values(r, r.rowId + 1, r.seq + 1));
      await raw.close();
      const cli = cliVerify(location);
      expect(cli.status, cli.out).to.equal(1);
      expect(cli.out).to.contain(`BROKEN at record ${CHAIN}#8 (row ${rows[6].rowId + 1}, id ${rows[6].id}): does not point to the record before it, #7 (id ${forged.id})`);
      expect(cli.out).to.contain('#7 was inserted or replaced');
    });
  });
}
