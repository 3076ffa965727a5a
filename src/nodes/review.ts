// avi-review: the review station. Units the router sent to review wait in the store's queue (it survives a
// restart); a web page served by Node-RED shows each frame and unit, and a reviewer's decision, signed with
// user ID and password (21 CFR 11.50, 11.70, 11.200), becomes a record linked to the machine's verdict and
// leaves this node as a message, so the flow can release or reject the part and tell the PLC.
import { randomUUID } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { RecorderClient } from '../core/records/recorder-client';
import { decide, type UnitChoice } from '../core/records/review';
import { signatureMeaning, signedHash, type RecordLink, type ReviewBody, type Signature } from '../core/records/signature';
import { addUser, lockedRecord, setPassword, unlockUser } from '../core/records/user-admin';
import { can, passwordMatches, Sessions, type User } from '../core/records/users';
import { reviewClasses } from '../core/records/verdict-record';
import type { Verdict } from '../core/types';
import type { AuditStoreNode } from './audit-store';
import { errorMessage, failMessage, num, statusError, statusOk, statusWarn, type Done, type Msg, type Send } from './common';

interface ReviewNodeDef extends NodeDef {
  store: string;
  path: string;
  sessionMinutes: string | number;
  maxAttempts: string | number;
  classes: string;
}

interface ReviewNode extends Node {
  credentials: { bootstrapUser?: string; bootstrapName?: string; bootstrapPassword?: string };
}

const PAGE_FILE = path.resolve(__dirname, '..', '..', '..', 'nodes', 'review', 'station.html');
const COOKIE = 'avi_review_session';
const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The station's base path: "/avi/review" (leading slash, no trailing one). */
export function basePath(setting: string | undefined): string {
  const p = `/${String(setting || 'avi/review').trim().replace(/^\/+|\/+$/g, '')}`;
  if (!/^\/[A-Za-z0-9/_-]+$/.test(p)) throw new Error(`review path must be letters, digits, / - _: got ${setting}`);
  return p;
}

function readJson(req: any): Promise<any> {
  if (req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body)) return Promise.resolve(req.body);
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) reject(new HttpError(413, 'request too large'));
      else chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {});
      } catch {
        reject(new HttpError(400, 'request is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

function cookieOf(req: any): string | undefined {
  const header = String(req.headers?.cookie ?? '');
  const match = new RegExp(`(?:^|;\\s*)${COOKIE}=([^;]+)`).exec(header);
  return match?.[1];
}

export default function (RED: NodeAPI): void {
  function AviReviewNode(this: ReviewNode, config: ReviewNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const storeNode = RED.nodes.getNode(config.store) as AuditStoreNode | null;
    const maxAttempts = Math.max(1, num(config.maxAttempts, 3));
    const sessionMinutes = num(config.sessionMinutes, 15) > 0 ? num(config.sessionMinutes, 15) : 15;
    const sessions = new Sessions(sessionMinutes * 60_000);
    const extraClasses = String(config.classes ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    let base: string;
    try {
      base = basePath(config.path);
    } catch (err) {
      statusError(node, errorMessage(err));
      node.error(`bad settings: ${errorMessage(err)}`);
      return;
    }
    const recorder: RecorderClient | undefined = storeNode?.recorder;
    let waiting = 0;
    const showQueue = () => (waiting ? statusWarn(node, RED._('avi-review.status.waiting', { count: waiting, path: base })) : statusOk(node, RED._('avi-review.status.empty', { path: base })));

    if (!recorder) statusError(node, storeNode?.configError ?? RED._('avi-review.status.noStore'));
    else {
      recorder.store('queuePending').then((q) => ((waiting = q.length), showQueue()), (err) => statusError(node, errorMessage(err)));
      // The first supervisor, from the node's credentials, only while there are no users at all.
      const { bootstrapUser, bootstrapName, bootstrapPassword } = node.credentials ?? {};
      if (bootstrapUser && bootstrapPassword) {
        recorder.store('listUsers').then(async (users) => {
          if (users.length) return;
          const change = await addUser(storeOps(recorder), { userId: bootstrapUser, printedName: bootstrapName || bootstrapUser, role: 'supervisor', password: bootstrapPassword }, 'node settings (first supervisor)');
          await recorder.recordNow(change.record);
        }).catch((err) => node.error(`first supervisor not created: ${errorMessage(err)}`));
      }
    }

    node.on('input', (msg: Msg, _send: Send, done: Done) => {
      const fail = (err: unknown) => {
        statusError(node, errorMessage(err));
        failMessage(err instanceof Error ? err : new Error(String(err)), done);
      };
      if (!recorder) return fail(new Error(storeNode?.configError ?? 'no avi-audit-store selected: open the node and choose one'));
      const record = msg.record;
      if (!record?.id || !record.body) return fail(new Error('no msg.record: wire avi-review after avi-record, so each unit under review has its machine verdict on record'));
      // The recorded body has the units and the rules in force: the classes a reviewer may choose come from it.
      const { classes, goodClasses } = reviewClasses(record.body as Verdict, extraClasses);
      recorder
        .store('queueAdd', { recordId: record.id, chain: record.chain, seq: record.seq ?? 0, hash: record.hash ?? '', queued: new Date().toISOString(), verdict: record.body, classes, goodClasses })
        .then(() => recorder.store('queuePending'))
        .then((q) => {
          waiting = q.length;
          showQueue();
          done();
        }, fail);
    });

    if (!recorder) return;
    const ops = storeOps(recorder);

    const authenticate = async (userId: string, password: string): Promise<User> => {
      const user = await recorder.store('getUser', String(userId ?? ''));
      if (!user || user.disabled) throw new HttpError(401, 'wrong user ID or password');
      if (user.lockedAt) throw new HttpError(423, `account ${user.userId} is locked after ${maxAttempts} failed attempts; a supervisor must unlock it`);
      if (await passwordMatches(String(password ?? ''), user.passwordHash)) {
        if (user.failedAttempts) await recorder.store('putUser', { ...user, failedAttempts: 0 });
        return user;
      }
      const failed = user.failedAttempts + 1;
      const locked = failed >= maxAttempts;
      await recorder.store('putUser', { ...user, failedAttempts: failed, lockedAt: locked ? new Date().toISOString() : null });
      if (locked) {
        sessions.closeUser(user.userId);
        await recorder.recordNow(lockedRecord(user.userId, failed));
        throw new HttpError(423, `wrong password: account ${user.userId} is now locked after ${failed} failed attempts; a supervisor must unlock it`);
      }
      const left = maxAttempts - failed;
      throw new HttpError(401, `wrong user ID or password (${left} ${left === 1 ? 'try' : 'tries'} left before the account locks)`);
    };

    /** The signed-in user of a request, or a 401. */
    const signedIn = async (req: any): Promise<{ session: ReturnType<Sessions['open']>; user: User }> => {
      const session = sessions.get(cookieOf(req));
      if (!session) throw new HttpError(401, 'not signed in, or the session timed out: sign in again');
      const user = await recorder.store('getUser', session.userId);
      if (!user || user.disabled || user.lockedAt) {
        sessions.close(session.token);
        throw new HttpError(401, 'this account can no longer sign in');
      }
      return { session, user };
    };

    const whoami = (user: User, signed: boolean) => ({ userId: user.userId, printedName: user.printedName, role: user.role, signedThisSession: signed });

    const handlers: Array<[method: 'get' | 'post', route: string, handle: (req: any, res: any) => Promise<unknown>]> = [
      ['get', '', async (_req, res) => {
        res.set('Content-Type', 'text/html; charset=utf-8');
        res.set('Cache-Control', 'no-store');
        res.send(readFileSync(PAGE_FILE, 'utf8').replace(/__BASE__/g, base));
      }],
      ['get', '/api/state', async (req) => {
        // The page's background poll does not count as activity, so an unattended page still times out.
        const session = sessions.get(cookieOf(req), req.query?.poll !== '1');
        // The page shows the signer the exact meaning their signature will carry (11.50(a)(3)).
        const settings = { maxAttempts, sessionMinutes, meanings: { PASS: signatureMeaning('PASS'), FAIL: signatureMeaning('FAIL') } };
        if (!session) return { user: null, settings };
        const user = await recorder.store('getUser', session.userId);
        if (!user || user.disabled || user.lockedAt) return { user: null, settings };
        return { user: whoami(user, session.signed), settings, queue: await recorder.store('queuePending') };
      }],
      ['post', '/api/login', async (req, res) => {
        const body = await readJson(req);
        const user = await authenticate(body.userId, body.password);
        const session = sessions.open(user.userId);
        res.set('Set-Cookie', `${COOKIE}=${session.token}; HttpOnly; SameSite=Strict; Path=${base}`);
        return { user: whoami(user, false) };
      }],
      ['post', '/api/logout', async (req, res) => {
        sessions.close(cookieOf(req));
        res.set('Set-Cookie', `${COOKIE}=; HttpOnly; SameSite=Strict; Path=${base}; Max-Age=0`);
        return { ok: true };
      }],
      ['post', '/api/decide', async (req) => {
        const { session, user } = await signedIn(req);
        if (!can(user.role, 'sign')) throw new HttpError(403, `the ${user.role} role reads records but does not sign decisions`);
        const body = await readJson(req);
        // 11.200(a)(1): all components at the first signing of a session, the password at later ones.
        const components = session.signed ? 'password' : 'user ID and password';
        if (!session.signed && String(body.userId ?? '') !== user.userId) throw new HttpError(400, `the first signing of a session needs your user ID (${user.userId}) and password`);
        await authenticate(user.userId, body.password);
        const item = await recorder.store('queueGet', String(body.recordId ?? ''));
        if (!item) throw new HttpError(404, 'no such unit in the review queue');
        if (item.status !== 'pending') throw new HttpError(409, 'this frame was already decided');
        const verdictRecord = await recorder.store('find', item.recordId);
        if (!verdictRecord) throw new HttpError(409, 'the machine verdict is still in the spool, not yet in the store: try again in a moment');
        let decision;
        try {
          decision = decide(item.verdict as never, item, body.units as UnitChoice[], body.reason);
        } catch (err) {
          throw new HttpError(400, errorMessage(err));
        }
        const link: RecordLink = { id: verdictRecord.id, chain: verdictRecord.chain, seq: verdictRecord.seq, hash: verdictRecord.hash };
        const unsigned = { userId: user.userId, printedName: user.printedName, time: new Date().toISOString(), meaning: signatureMeaning(decision.result) };
        const signature: Signature = { ...unsigned, role: user.role, components, signedHash: signedHash(link, decision, unsigned) };
        const v = item.verdict as { line?: string; cell?: string; partId?: string; batch?: string };
        const reviewBody: ReviewBody = { verdictRecord: link, decision, signature, line: v.line, cell: v.cell, partId: v.partId, batch: v.batch };
        const stored = await recorder.recordNow({ id: randomUUID(), time: signature.time, kind: 'review', body: reviewBody as never }, item.recordId);
        session.signed = true;
        const record = { id: stored.id, chain: stored.chain, seq: stored.seq, hash: stored.hash };
        node.send({
          _msgid: RED.util.generateId(),
          topic: v.partId ?? item.recordId,
          payload: { result: decision.result, units: decision.units, reason: decision.reason, signedBy: signature.printedName, userId: signature.userId, time: signature.time, meaning: signature.meaning },
          review: reviewBody,
          record,
          verdictRecord: link,
        } as never);
        waiting = Math.max(0, waiting - 1);
        showQueue();
        return { record, signature };
      }],
      ['get', '/frame/:file', async (req, res) => {
        await signedIn(req);
        const match = /^([0-9a-f]{64})\.([a-z0-9]{1,5})$/.exec(String(req.params.file));
        if (!match) throw new HttpError(400, 'bad frame name');
        const file = path.join(storeNode!.options.imageDir, match[1].slice(0, 2), req.params.file);
        if (!existsSync(file)) throw new HttpError(410, 'this frame was pruned or never kept');
        res.set('Content-Type', match[2] === 'png' ? 'image/png' : match[2] === 'jpg' ? 'image/jpeg' : 'application/octet-stream');
        createReadStream(file).pipe(res);
        return undefined;
      }],
      ['get', '/api/records', async (req) => {
        await signedIn(req);
        return (await recorder.store('records', { chain: recorder.chain, latest: 200 })).reverse();
      }],
      ['get', '/api/users', async (req) => {
        const { user } = await signedIn(req);
        if (!can(user.role, 'manage-users')) throw new HttpError(403, 'only a supervisor manages users');
        return (await recorder.store('listUsers')).map(({ passwordHash: _hash, ...u }) => u);
      }],
      ['post', '/api/users', async (req) => {
        const { user } = await signedIn(req);
        if (!can(user.role, 'manage-users')) throw new HttpError(403, 'only a supervisor manages users');
        const body = await readJson(req);
        let change;
        try {
          if (body.action === 'unlock') change = await unlockUser(ops, String(body.userId), user.userId);
          else if (body.action === 'password') change = await setPassword(ops, String(body.userId), String(body.password ?? ''), user.userId);
          else change = await addUser(ops, body, user.userId);
        } catch (err) {
          throw new HttpError(400, errorMessage(err));
        }
        await recorder.recordNow(change.record);
        const { passwordHash: _hash, ...shown } = change.user;
        return shown;
      }],
    ];

    const httpNode = RED.httpNode as any;
    for (const [method, route, handle] of handlers) {
      httpNode[method](base + route, (req: any, res: any) => {
        handle(req, res).then(
          (result) => {
            if (result !== undefined && !res.headersSent) res.json(result);
          },
          (err) => {
            const status = err instanceof HttpError ? err.status : 500;
            if (!res.headersSent) res.status(status).json({ error: errorMessage(err) });
          },
        );
      });
    }
    node.on('close', () => {
      // Routes go with the node, so a redeploy (or a changed path) does not leave the old ones answering.
      const stack = httpNode._router?.stack as Array<{ route?: { path?: string } }> | undefined;
      if (!stack) return;
      for (let i = stack.length - 1; i >= 0; i--) {
        const p = stack[i].route?.path;
        if (typeof p === 'string' && (p === base || p.startsWith(`${base}/`))) stack.splice(i, 1);
      }
    });
  }

  RED.nodes.registerType('avi-review', AviReviewNode as never, {
    credentials: { bootstrapUser: { type: 'text' }, bootstrapName: { type: 'text' }, bootstrapPassword: { type: 'password' } },
  } as never);
}

/** The user-admin functions' view of the store, through the record writer. */
function storeOps(recorder: RecorderClient) {
  return {
    getUser: (id: string) => recorder.store('getUser', id),
    putUser: (u: User) => recorder.store('putUser', u),
  };
}
