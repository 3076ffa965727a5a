// The record's pure parts and the record writer without Node-RED: canonical form, retention, the spool across
// a restart, the reviewer's decision rules, sessions.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, utimesSync } from 'node:fs';
import * as path from 'node:path';
import { canonicalJson } from '../src/core/records/canonical';
import { Recorder, type RecorderOptions } from '../src/core/records/recorder';
import { planRetention } from '../src/core/records/retention';
import { decide } from '../src/core/records/review';
import { SqliteStore } from '../src/core/records/sqlite-store';
import { verifyStore } from '../src/core/records/store';
import { Sessions } from '../src/core/records/users';
import { tempDir } from './support/fixtures';

const DAY = 86_400_000;

function options(dir: string, store: string, extra: Partial<RecorderOptions> = {}): RecorderOptions {
  return { store, chain: 'gw', imageDir: path.join(dir, 'images'), spoolFile: path.join(dir, 'spool.jsonl'), spoolMax: 100, retention: { maxAgeDays: 0, maxBytes: 0 }, retentionEveryMs: 0, retryMs: 50, ...extra };
}

const record = (partId: string) => ({ id: randomUUID(), time: new Date().toISOString(), kind: 'verdict' as const, body: { partId, result: 'PASS', frame: { format: 'jpeg' } } });

describe('records: core', function () {
  this.timeout(30_000);
  const tmp = tempDir('avi-records-core-');
  after(() => tmp.cleanup());

  it('hashes one canonical form: keys sorted, no spaces, and refuses numbers JSON cannot carry', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x', 0.1], c: { z: 1, y: undefined } })).to.equal('{"a":[true,null,"x",0.1],"b":1,"c":{"z":1}}');
    expect(() => canonicalJson({ confidence: NaN })).to.throw(/non-finite/);
  });

  it('plans retention: older than the period first, then the oldest while over the disk bound, never a frame under review', () => {
    const now = Date.UTC(2026, 11, 1);
    const images = [
      { sha256: 'old', bytes: 100, writtenMs: now - 40 * DAY },
      { sha256: 'kept-for-review', bytes: 100, writtenMs: now - 50 * DAY },
      { sha256: 'mid', bytes: 100, writtenMs: now - 5 * DAY },
      { sha256: 'new', bytes: 100, writtenMs: now - 1 * DAY },
    ];
    const plan = planRetention(images, { maxAgeDays: 30, maxBytes: 250 }, now, new Set(['kept-for-review']));
    expect(plan.map((p) => p.sha256)).to.deep.equal(['old', 'mid']);
    expect(plan[0].reason).to.equal('older than the retention period of 30 days');
    expect(plan[1].reason).to.match(/over its bound of 250 bytes/);
  });

  it('prunes frames by age and says so in a record of its own; the verdict record stays and still points at the frame it had', async () => {
    const dir = path.join(tmp.dir, 'retention');
    const recorder = new Recorder(options(dir, path.join(dir, 'records.sqlite'), { retention: { maxAgeDays: 30, maxBytes: 0 } }));
    await recorder.open();
    const old = await recorder.record(record('P-old'), { bytes: Buffer.from('old frame bytes'), ext: 'jpg' });
    const fresh = await recorder.record(record('P-new'), { bytes: Buffer.from('fresh frame bytes'), ext: 'jpg' });
    const oldFile = path.join(dir, 'images', (old.body.frame as any).file);
    const past = new Date(Date.now() - 40 * DAY);
    utimesSync(oldFile, past, past);
    expect(await recorder.applyRetention()).to.equal(1);
    expect(existsSync(oldFile)).to.equal(false);
    expect(existsSync(path.join(dir, 'images', (fresh.body.frame as any).file))).to.equal(true);
    await recorder.close();
    const store = SqliteStore.open(path.join(dir, 'records.sqlite'));
    const [, , pruned] = await store.records({});
    expect(pruned.kind).to.equal('image-pruned');
    expect(pruned.body).to.deep.include({ reason: 'older than the retention period of 30 days' });
    expect((pruned.body as any).frame.sha256).to.equal((old.body.frame as any).sha256);
    expect(((await store.find(old.record.id))!.body as any).frame.sha256).to.equal((old.body.frame as any).sha256);
    expect((await verifyStore(store))[0].breaks).to.deep.equal([]);
    await store.close();
  });

  it('keeps spooled records across a restart and writes them, in order, once a store answers', async () => {
    const dir = path.join(tmp.dir, 'spool');
    mkdirSync(dir, { recursive: true });
    // A store nobody listens on: every record goes to the spool file.
    const down = new Recorder(options(dir, 'postgres://avi@127.0.0.1:1/none'));
    await down.open();
    const results = [];
    for (const p of ['S1', 'S2', 'S3']) results.push(await down.record(record(p)));
    expect(results.map((r) => r.status)).to.deep.equal(['spooled', 'spooled', 'spooled']);
    expect(down.state()).to.include({ healthy: false, spooled: 3 });
    await down.close();
    expect(readFileSync(path.join(dir, 'spool.jsonl'), 'utf8').trim().split('\n')).to.have.length(3);
    // Restarted, with the store reachable.
    const up = new Recorder(options(dir, path.join(dir, 'records.sqlite')));
    await up.open();
    for (let i = 0; up.state().spooled > 0 && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
    expect(up.state()).to.include({ healthy: true, spooled: 0 });
    await up.close();
    const store = SqliteStore.open(path.join(dir, 'records.sqlite'));
    expect((await store.records({})).map((r) => `${r.seq}:${(r.body as any).partId}`)).to.deep.equal(['1:S1', '2:S2', '3:S3']);
    await store.close();
  });

  it('turns a reviewer\'s choices into a decision, refusing an undecided unit, an unknown class or no reason', () => {
    const verdict = { units: [{ detectionId: 0, class: 'good', confidence: 0.6, result: 'REVIEW' }, { detectionId: 1, class: 'crack', confidence: 0.4, result: 'REVIEW' }] } as any;
    const classes = { classes: ['good', 'crack', 'spot'], goodClasses: ['good'] };
    const d = decide(verdict, classes, [{ detectionId: 0, decision: 'good' }, { detectionId: 1, decision: 'class', class: 'spot', reason: 'spot, not a crack' }], 'checked');
    expect(d.result).to.equal('FAIL');
    expect(d.units.map((u) => `${u.machineClass}->${u.class}:${u.result}`)).to.deep.equal(['good->good:PASS', 'crack->spot:FAIL']);
    expect(() => decide(verdict, classes, [{ detectionId: 0, decision: 'good' }], 'checked')).to.throw(/unit #1 is not decided/);
    expect(() => decide(verdict, classes, [{ detectionId: 0, decision: 'good' }, { detectionId: 1, decision: 'class', class: 'dent' }], 'x')).to.throw(/"dent" is not one of the classes/);
    expect(() => decide(verdict, classes, [{ detectionId: 0, decision: 'reject' }, { detectionId: 1, decision: 'reject' }], 'x')).to.throw(/choose the defect class/);
    expect(() => decide(verdict, classes, [], ' ')).to.throw(/give a reason/);
  });

  it('ends a session after its idle time, and a background look does not keep it alive', () => {
    let now = 0;
    const sessions = new Sessions(1000, () => now);
    const s = sessions.open('alice');
    now = 900;
    expect(sessions.get(s.token, false)).to.equal(s);
    now = 1500;
    expect(sessions.get(s.token)).to.equal(undefined);
  });
});
