// avi-audit-store (config): where records go, shared by avi-record and avi-review. One record writer (a
// worker thread) per store config; the SQLite file and frame images default to the Node-RED user directory.
import os from 'node:os';
import path from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { RecorderClient } from '../core/records/recorder-client';
import type { RecorderOptions, RecorderState } from '../core/records/recorder';
import { num, userDirOf } from './common';

interface AuditStoreNodeDef extends NodeDef {
  storeType: 'sqlite' | 'postgres';
  file: string;
  chain: string;
  folder: string;
  retentionDays: string | number;
  imageMaxGB: string | number;
  spoolMax: string | number;
}

export interface AuditStoreNode extends Node {
  /** Undefined when the settings are wrong: `configError` says why. */
  recorder?: RecorderClient;
  configError?: string;
  options: RecorderOptions;
  /** The latest state of the writer: healthy, records waiting in the spool. */
  state: RecorderState;
  credentials: { url?: string };
}

export const DEFAULT_FOLDER = 'avi-records';

export function recorderOptions(config: AuditStoreNodeDef, url: string | undefined, userDir: string): RecorderOptions {
  const folder = path.resolve(userDir, config.folder || DEFAULT_FOLDER);
  const postgres = config.storeType === 'postgres';
  if (postgres && !url) throw new Error('PostgreSQL store without a URL: set postgres://user:password@host:5432/database');
  return {
    store: postgres ? url! : path.resolve(folder, config.file || 'records.sqlite'),
    chain: (config.chain || '').trim() || os.hostname(),
    imageDir: path.join(folder, 'images'),
    spoolFile: path.join(folder, 'spool.jsonl'),
    spoolMax: num(config.spoolMax, 10000),
    retention: { maxAgeDays: num(config.retentionDays, 365), maxBytes: num(config.imageMaxGB, 20) * 1e9 },
  };
}

export default function (RED: NodeAPI): void {
  function AviAuditStoreNode(this: AuditStoreNode, config: AuditStoreNodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    try {
      node.options = recorderOptions(config, node.credentials?.url, userDirOf(RED) ?? process.cwd());
    } catch (err) {
      node.configError = `bad settings: ${(err as Error).message}`;
      node.error(node.configError);
      return;
    }
    node.state = { store: node.options.store, healthy: false, spooled: 0, stored: 0 };
    const recorder = new RecorderClient(node.options);
    node.recorder = recorder;
    const update = (s: RecorderState) => {
      node.state = s;
      node.emit('recorder-state', s);
    };
    recorder.on('state', update);
    recorder.state().then(update, () => undefined);
    node.on('close', (_removed: boolean, done: () => void) => {
      recorder.close().then(done, done);
    });
  }
  RED.nodes.registerType('avi-audit-store', AviAuditStoreNode as never, { credentials: { url: { type: 'password' } } } as never);
}
