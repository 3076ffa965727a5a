// Who may sign (21 CFR 11.200, 11.300): user IDs with roles, passwords kept only as a slow salted hash
// (scrypt), lock-out after repeated failures, and sessions that time out.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export type Role = 'operator' | 'supervisor' | 'auditor';
export const ROLES: Role[] = ['operator', 'supervisor', 'auditor'];

export interface User {
  userId: string;
  printedName: string;
  role: Role;
  /** "scrypt$N$r$p$salt$hash", base64 parts. */
  passwordHash: string;
  /** Consecutive failed password entries since the last good one. */
  failedAttempts: number;
  /** When the account was locked (ISO time), null when it is not. */
  lockedAt: string | null;
  disabled: boolean;
}

/** Whether a role may do something. Operators review and sign; supervisors also manage users; auditors read. */
export function can(role: Role, action: 'sign' | 'read' | 'manage-users'): boolean {
  if (action === 'read') return true;
  if (action === 'sign') return role === 'operator' || role === 'supervisor';
  return role === 'supervisor';
}

const SCRYPT = { N: 1 << 15, r: 8, p: 1 };
const KEY_BYTES = 32;
export const MIN_PASSWORD_LENGTH = 8;

function scryptAsync(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, KEY_BYTES, { ...options, maxmem: 128 * options.N! * options.r! * 2 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export function checkPasswordRules(password: string, userId: string): void {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD_LENGTH) throw new Error(`a password has at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.toLowerCase().includes(userId.toLowerCase())) throw new Error('a password may not contain the user ID');
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function passwordMatches(password: string, stored: string): Promise<boolean> {
  const [scheme, N, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await scryptAsync(String(password), Buffer.from(salt, 'base64'), { N: Number(N), r: Number(r), p: Number(p) });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export function validUserId(userId: string): boolean {
  return /^[A-Za-z0-9._-]{2,64}$/.test(userId);
}

/** A signed-in reviewer at one browser. */
export interface Session {
  token: string;
  userId: string;
  /** Last request, ms since epoch: an idle session expires. */
  lastSeen: number;
  /** Whether this session has signed once (11.200(a)(1)(i): later signings need only the password). */
  signed: boolean;
}

/** Sessions by token, each ending after `timeoutMs` without a request. */
export class Sessions {
  private readonly byToken = new Map<string, Session>();
  constructor(private readonly timeoutMs: number, private readonly now: () => number = Date.now) {}

  open(userId: string): Session {
    const session = { token: randomBytes(24).toString('base64url'), userId, lastSeen: this.now(), signed: false };
    this.byToken.set(session.token, session);
    return session;
  }

  /** The live session for a token (touched: its idle time starts again); undefined when unknown or timed out. */
  get(token: string | undefined, touch = true): Session | undefined {
    if (!token) return undefined;
    const session = this.byToken.get(token);
    if (!session) return undefined;
    if (this.now() - session.lastSeen > this.timeoutMs) {
      this.byToken.delete(token);
      return undefined;
    }
    if (touch) session.lastSeen = this.now();
    return session;
  }

  close(token: string | undefined): void {
    if (token) this.byToken.delete(token);
  }

  /** Ends every session of a user (locked, disabled). */
  closeUser(userId: string): void {
    for (const [token, s] of this.byToken) if (s.userId === userId) this.byToken.delete(token);
  }
}
