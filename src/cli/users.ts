// `avi users add | list | unlock | passwd | disable`: the review station's accounts, in the record store.
// The password is read from AVI_PASSWORD or from the first line of standard input, never from the command line.
import os from 'node:os';
import { addUser, disableUser, setPassword, unlockUser, type UserChange } from '../core/records/user-admin';
import { openStore, type AuditStore } from '../core/records/store';
import { parse, UsageError, type Command } from './main';

const usage = `avi users add STORE --id ID --name "Printed Name" --role operator|supervisor|auditor [--chain C]
avi users list STORE
avi users unlock STORE --id ID
avi users passwd STORE --id ID
avi users disable STORE --id ID
  STORE: a SQLite file or a postgres:// URL; the password comes from AVI_PASSWORD or standard input`;

async function readPassword(): Promise<string> {
  if (process.env.AVI_PASSWORD) return process.env.AVI_PASSWORD;
  if (process.stdin.isTTY) process.stderr.write('password: ');
  let text = '';
  for await (const chunk of process.stdin) {
    text += chunk;
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0];
}

export const usersCommand: Command = {
  summary: 'add, list, unlock, disable review station users or set their password',
  usage,
  async run(args) {
    const [sub, ...rest] = args;
    const { values, positionals } = parse(rest, { id: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' }, chain: { type: 'string' } });
    if (!['add', 'list', 'unlock', 'passwd', 'disable'].includes(sub) || positionals.length !== 1) throw new UsageError(`usage: ${usage}`);
    if (sub !== 'list' && !values.id) throw new UsageError('--id ID is needed');
    const by = `${os.userInfo().username}@${os.hostname()} (avi users)`;
    const store: AuditStore = await openStore(positionals[0]);
    try {
      if (sub === 'list') {
        for (const u of await store.listUsers()) {
          process.stdout.write(`${u.userId}\t${u.role}\t${u.printedName}\t${u.disabled ? 'disabled' : u.lockedAt ? `locked since ${u.lockedAt}` : 'active'}\n`);
        }
        return 0;
      }
      const id = String(values.id);
      let change: UserChange;
      if (sub === 'add') change = await addUser(store, { userId: id, printedName: String(values.name ?? ''), role: String(values.role ?? ''), password: await readPassword() }, by);
      else if (sub === 'unlock') change = await unlockUser(store, id, by);
      else if (sub === 'disable') change = await disableUser(store, id, by);
      else change = await setPassword(store, id, await readPassword(), by);
      await store.append(values.chain ? String(values.chain) : os.hostname(), [change.record]);
      process.stdout.write(`${sub}: ${change.user.userId} (${change.user.role}, ${change.user.printedName})\n`);
      return 0;
    } finally {
      await store.close();
    }
  },
};
