// Which models judged a message, as only our model nodes can say it. msg.models can arrive from outside (a flow
// that builds messages from MQTT or HTTP JSON); an entry our nodes did not set must not reach the verdict. Each
// entry a model node sets is sealed with an HMAC under a key that lives only in this process, bound to the
// message's _msgid, so the seal survives Node-RED's message cloning but cannot be forged or copied to another message.
import { createHmac, randomBytes } from 'node:crypto';
import type { Verdict } from '../core/types';
import type { Msg } from './common';

type ModelEntry = NonNullable<Verdict['models']>[string];

const KEY = randomBytes(32);

function seal(msg: Msg, role: string, entry: unknown): string {
  const canonical = JSON.stringify(entry, (_key, value) =>
    value && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1))) : value,
  );
  return createHmac('sha256', KEY).update(`${String(msg._msgid ?? '')}\0${role}\0${canonical}`).digest('base64url');
}

/** Puts a model node's entry on msg.models[role] (detector, classifier) with its seal in msg._aviSeals. */
export function setModelProvenance(msg: Msg, role: string, entry: ModelEntry): void {
  msg.models = { ...(msg.models ?? {}), [role]: entry };
  msg._aviSeals = { ...(msg._aviSeals ?? {}), [role]: seal(msg, role, entry) };
}

/** The entries of msg.models that a model node of ours set on this message; `dropped` names the others. */
export function sealedModels(msg: Msg): { models: Verdict['models']; dropped: string[] } {
  const models: NonNullable<Verdict['models']> = {};
  const dropped: string[] = [];
  const entries = msg.models && typeof msg.models === 'object' ? Object.entries(msg.models as Record<string, ModelEntry>) : [];
  for (const [role, entry] of entries) {
    if (typeof msg._aviSeals?.[role] === 'string' && msg._aviSeals[role] === seal(msg, role, entry)) models[role] = entry;
    else dropped.push(role);
  }
  return { models: entries.length ? models : undefined, dropped };
}
