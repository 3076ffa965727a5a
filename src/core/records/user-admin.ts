// Adding, unlocking, disabling users and changing passwords, for the CLI and the supervisor page alike.
// Every change is also a record in the chain (who did what to which account, when).
import { randomUUID } from 'node:crypto';
import type { NewRecord } from './chain';
import type { AuditStore } from './store';
import { checkPasswordRules, hashPassword, ROLES, validUserId, type Role, type User } from './users';

export interface UserChange {
  user: User;
  record: NewRecord;
}

function userRecord(action: string, userId: string, by: string, extra: Record<string, unknown> = {}): NewRecord {
  return { id: randomUUID(), time: new Date().toISOString(), kind: 'user', body: { action, userId, by, ...extra } };
}

export async function addUser(store: Pick<AuditStore, 'getUser' | 'putUser'>, input: { userId: string; printedName: string; role: string; password: string }, by: string): Promise<UserChange> {
  const userId = String(input.userId ?? '').trim();
  if (!validUserId(userId)) throw new Error('a user ID is 2 to 64 letters, digits, dots, dashes or underscores');
  if (!String(input.printedName ?? '').trim()) throw new Error('a user needs a printed name (shown with every signature)');
  if (!ROLES.includes(input.role as Role)) throw new Error(`role must be one of ${ROLES.join(', ')}`);
  checkPasswordRules(input.password, userId);
  // 11.300(a): no two people share an ID, and an ID is never reused, even after the account is disabled.
  if (await store.getUser(userId)) throw new Error(`user ID ${userId} already exists (IDs are never reused)`);
  const user: User = { userId, printedName: input.printedName.trim(), role: input.role as Role, passwordHash: await hashPassword(input.password), failedAttempts: 0, lockedAt: null, disabled: false };
  await store.putUser(user);
  return { user, record: userRecord('added', userId, by, { printedName: user.printedName, role: user.role }) };
}

async function existing(store: Pick<AuditStore, 'getUser'>, userId: string): Promise<User> {
  const user = await store.getUser(userId);
  if (!user) throw new Error(`no user ${userId}`);
  return user;
}

export async function unlockUser(store: Pick<AuditStore, 'getUser' | 'putUser'>, userId: string, by: string): Promise<UserChange> {
  const user = { ...(await existing(store, userId)), failedAttempts: 0, lockedAt: null };
  await store.putUser(user);
  return { user, record: userRecord('unlocked', userId, by) };
}

export async function disableUser(store: Pick<AuditStore, 'getUser' | 'putUser'>, userId: string, by: string): Promise<UserChange> {
  const user = { ...(await existing(store, userId)), disabled: true };
  await store.putUser(user);
  return { user, record: userRecord('disabled', userId, by) };
}

export async function setPassword(store: Pick<AuditStore, 'getUser' | 'putUser'>, userId: string, password: string, by: string): Promise<UserChange> {
  checkPasswordRules(password, userId);
  const user = { ...(await existing(store, userId)), passwordHash: await hashPassword(password), failedAttempts: 0, lockedAt: null };
  await store.putUser(user);
  return { user, record: userRecord('password-set', userId, by) };
}

/** The record of an account locked after too many failed password entries. */
export function lockedRecord(userId: string, attempts: number): NewRecord {
  return userRecord('locked', userId, 'system', { failedAttempts: attempts });
}
