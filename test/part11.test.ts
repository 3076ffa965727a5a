// One test per 21 CFR Part 11 clause the record and the review station answer, named after the clause, so
// that an auditor can read this suite as evidence. The signing clauses run against a real Node-RED process
// over HTTP, as the review page talks to it.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { chainNext, type ChainedRecord } from '../src/core/records/chain';
import { auditCsv, auditHtml } from '../src/core/records/export';
import { signatureMeaning, signedHash, type ReviewBody } from '../src/core/records/signature';
import { SqliteStore } from '../src/core/records/sqlite-store';
import { verifyStore } from '../src/core/records/store';
import { tempDir } from './support/fixtures';
import { startNodeRed, type NodeRedProcess } from './support/node-red-process';
import { addUsers, avi, PASSWORDS, reviewFlow } from './support/review-flow';

const CHAIN = 'gw-p11';

function verdict(partId: string): Omit<ChainedRecord, 'chain' | 'seq' | 'prevHash' | 'hash'> {
  return { id: randomUUID(), time: new Date().toISOString(), kind: 'verdict', body: { partId, result: 'REVIEW', units: [{ detectionId: 0, class: 'crack', confidence: 0.5, result: 'REVIEW' }] } };
}

function review(of: ChainedRecord, printedName: string, result: 'PASS' | 'FAIL'): ReviewBody {
  const verdictRecord = { id: of.id, chain: of.chain, seq: of.seq, hash: of.hash };
  const decision = { result, reason: 'looked at it', units: [{ detectionId: 0, machineClass: 'crack', machineResult: 'REVIEW' as const, decision: 'class' as const, class: result === 'PASS' ? 'good' : 'crack', result }] };
  const unsigned = { userId: printedName.split(' ')[0].toLowerCase(), printedName, time: '2026-12-01T10:00:00.000Z', meaning: signatureMeaning(result) };
  return { verdictRecord, decision, signature: { ...unsigned, role: 'operator', components: 'user ID and password', signedHash: signedHash(verdictRecord, decision, unsigned) } };
}

describe('21 CFR Part 11', function () {
  this.timeout(90_000);
  const tmp = tempDir('avi-p11-');
  after(() => tmp.cleanup());

  it('11.10(e) audit trail: computer-generated, time-stamped, append-only records; a review never obscures the machine verdict', async () => {
    const file = path.join(tmp.dir, 'e.sqlite');
    const store = SqliteStore.open(file);
    const [v] = await store.append(CHAIN, [verdict('P1')]);
    const before = await store.find(v.id);
    const [r] = await store.append(CHAIN, [{ id: randomUUID(), time: new Date().toISOString(), kind: 'review', body: review(v, 'Alice Adams', 'PASS') as never }]);
    // The earlier value stays, unchanged and readable, beside the later decision.
    expect(await store.find(v.id)).to.deep.equal(before);
    expect((before!.body as any).result).to.equal('REVIEW');
    expect(r.prevHash).to.equal(v.hash);
    for (const rec of [v, r]) expect(rec.time).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    await store.close();
    // The database refuses to change or delete a record.
    const db = new Database(file);
    expect(() => db.prepare("UPDATE avi_records SET body = '{}'").run()).to.throw(/append-only/);
    expect(() => db.prepare('DELETE FROM avi_records').run()).to.throw(/append-only/);
    db.close();
    const verify = avi(['audit', 'verify', file]);
    expect(verify.status, verify.out).to.equal(0);
  });

  it('11.50 signature manifestations: each signed record shows the printed name, the date and time, and the meaning, also in the export', async () => {
    const v = chainNext(CHAIN, undefined, verdict('P2'));
    const r = chainNext(CHAIN, v, { id: randomUUID(), time: new Date().toISOString(), kind: 'review', body: review(v, 'Alice Adams', 'FAIL') as never });
    const body = r.body as unknown as ReviewBody;
    expect(body.signature).to.include({ printedName: 'Alice Adams', time: '2026-12-01T10:00:00.000Z' });
    expect(body.signature.meaning).to.match(/^Review: I examined this unit and reject it \(FAIL\)/);
    const html = auditHtml([v, r], { store: 'test', filter: {}, reports: [] });
    expect(html).to.contain('<b>Signed by Alice Adams</b>').and.contain('on 2026-12-01T10:00:00.000Z (UTC)').and.contain('Meaning: Review: I examined this unit and reject it (FAIL)');
    const csv = auditCsv([v, r]).split('\r\n');
    expect(csv[0]).to.contain('signer_name,signed_time,signature_meaning');
    expect(csv[2]).to.contain('Alice Adams,2026-12-01T10:00:00.000Z,');
  });

  it('11.70 signature/record linking: a signature copied onto the decision of another record is found by verify', async () => {
    const file = path.join(tmp.dir, 'link.sqlite');
    const store = SqliteStore.open(file);
    const [v1, v2] = await store.append(CHAIN, [verdict('P3'), verdict('P4')]);
    const genuine = review(v1, 'Alice Adams', 'FAIL');
    // Bob's decision on P4 carries Alice's signature block, copied; the record itself is hashed and chained properly.
    const copied: ReviewBody = { ...review(v2, 'Bob Brown', 'PASS'), signature: genuine.signature };
    await store.append(CHAIN, [
      { id: randomUUID(), time: new Date().toISOString(), kind: 'review', body: genuine as never },
      { id: randomUUID(), time: new Date().toISOString(), kind: 'review', body: copied as never },
    ]);
    const [report] = await verifyStore(store);
    await store.close();
    expect(report.breaks).to.have.length(1);
    expect(report.breaks[0]).to.include({ seq: 4, problem: 'signature' });
    expect(report.breaks[0].message).to.contain('the signature of alice does not match this decision or this verdict link');
    const verify = avi(['audit', 'verify', file]);
    expect(verify.status).to.equal(1);
    expect(verify.out).to.contain(`BROKEN at record ${CHAIN}#4`);
  });

  describe('11.200 electronic signature components and controls (over HTTP, as the page signs)', function () {
    const userDir = path.join(tmp.dir, 'node-red');
    const store = path.join(userDir, 'avi-records', 'records.sqlite');
    let red: NodeRedProcess;
    const SESSION_MINUTES = 0.05; // 3 s, so the test can watch a session time out

    before(async () => {
      mkdirSync(userDir, { recursive: true });
      addUsers(store);
      red = await startNodeRed(userDir, reviewFlow(path.join(tmp.dir, 'decisions.jsonl'), { sessionMinutes: SESSION_MINUTES, maxAttempts: 3 }), {}, '/avi/review');
    });
    after(async () => red?.stop());

    async function call(method: string, route: string, body?: unknown, cookie?: string): Promise<{ status: number; json: any; cookie?: string }> {
      const res = await fetch(`${red.url}/avi/review${route}`, { method, headers: { 'Content-Type': 'application/json', ...(cookie ? { Cookie: cookie } : {}) }, body: body ? JSON.stringify(body) : undefined });
      const setCookie = res.headers.get('set-cookie')?.split(';')[0];
      return { status: res.status, json: await res.json(), cookie: setCookie };
    }
    async function login(userId: string): Promise<string> {
      const r = await call('POST', '/api/login', { userId, password: PASSWORDS[userId] });
      expect(r.status, JSON.stringify(r.json)).to.equal(200);
      return r.cookie!;
    }
    async function queue(cookie: string): Promise<any[]> {
      for (let i = 0; i < 600; i++) {
        const state = await call('GET', '/api/state', undefined, cookie);
        if (state.json.queue?.length >= 2) return state.json.queue;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('the review queue did not fill');
    }
    const decideAll = (item: any) => item.verdict.units.map((u: any) => ({ detectionId: u.detectionId, decision: u.class === 'good' ? 'good' : 'reject' }));

    it('11.200(a)(1)(i): the first signing of a session needs user ID and password, later signings the password', async () => {
      const cookie = await login('alice');
      const [a, b] = await queue(cookie);
      const withoutId = await call('POST', '/api/decide', { recordId: a.recordId, units: decideAll(a), reason: 'ok', password: PASSWORDS.alice }, cookie);
      expect(withoutId.status).to.equal(400);
      expect(withoutId.json.error).to.match(/first signing of a session needs your user ID/);
      const someoneElse = await call('POST', '/api/decide', { recordId: a.recordId, units: decideAll(a), reason: 'ok', userId: 'bob', password: PASSWORDS.bob }, cookie);
      expect(someoneElse.status).to.equal(400);
      const first = await call('POST', '/api/decide', { recordId: a.recordId, units: decideAll(a), reason: 'ok', userId: 'alice', password: PASSWORDS.alice }, cookie);
      expect(first.status, JSON.stringify(first.json)).to.equal(200);
      expect(first.json.signature.components).to.equal('user ID and password');
      const later = await call('POST', '/api/decide', { recordId: b.recordId, units: decideAll(b), reason: 'ok', password: PASSWORDS.alice }, cookie);
      expect(later.status, JSON.stringify(later.json)).to.equal(200);
      expect(later.json.signature.components).to.equal('password');
    });

    it('11.200(a)(1)(ii) and 11.300(d): an idle session ends; a new session starts with all components again', async () => {
      const cookie = await login('sam');
      await new Promise((r) => setTimeout(r, SESSION_MINUTES * 60_000 + 800));
      const expired = await call('POST', '/api/decide', { recordId: 'x', units: [], reason: 'ok', password: PASSWORDS.sam }, cookie);
      expect(expired.status).to.equal(401);
      expect(expired.json.error).to.match(/session timed out/);
      const again = await call('GET', '/api/state', undefined, await login('sam'));
      expect(again.json.user).to.include({ userId: 'sam', signedThisSession: false });
    });

    it('11.200(a)(2) and 11.300(b, d): passwords are kept only as a slow salted hash; repeated failures lock the account and are recorded', async () => {
      for (let i = 1; i <= 2; i++) expect((await call('POST', '/api/login', { userId: 'bob', password: 'guess' })).status).to.equal(401);
      const third = await call('POST', '/api/login', { userId: 'bob', password: 'guess' });
      expect(third.status).to.equal(423);
      expect(third.json.error).to.match(/now locked after 3 failed attempts/);
      const right = await call('POST', '/api/login', { userId: 'bob', password: PASSWORDS.bob });
      expect(right.status).to.equal(423);
      const db = new Database(store, { readonly: true });
      const row = db.prepare("SELECT password_hash, locked_at FROM avi_users WHERE user_id = 'bob'").get() as { password_hash: string; locked_at: string };
      const locks = db.prepare("SELECT count(*) AS n FROM avi_records WHERE kind = 'user' AND body LIKE '%\"locked\"%'").get() as { n: number };
      db.close();
      expect(row.password_hash).to.match(/^scrypt\$32768\$8\$1\$/).and.not.contain(PASSWORDS.bob);
      expect(row.locked_at).to.match(/^\d{4}-/);
      expect(locks.n).to.equal(1);
      // A supervisor unlocks it; the account signs in again.
      const unlock = avi(['users', 'unlock', store, '--id', 'bob']);
      expect(unlock.status, unlock.out).to.equal(0);
      expect((await call('POST', '/api/login', { userId: 'bob', password: PASSWORDS.bob })).status).to.equal(200);
    });

    it('11.10(d, g) authority checks: an auditor reads but cannot sign; an operator cannot manage users', async () => {
      const auditor = await login('ada');
      const denied = await call('POST', '/api/decide', { recordId: 'x', units: [], reason: 'ok', userId: 'ada', password: PASSWORDS.ada }, auditor);
      expect(denied.status).to.equal(403);
      expect((await call('GET', '/api/records', undefined, auditor)).status).to.equal(200);
      const operator = await login('alice');
      expect((await call('GET', '/api/users', undefined, operator)).status).to.equal(403);
      expect((await call('GET', '/api/users', undefined, await login('sam'))).status).to.equal(200);
    });
  });
});
