// Node-RED's side of the recorder worker: calls as promises, state changes as events.
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ChainedRecord, NewRecord } from './chain';
import type { FrameFile, RecordResult, RecorderOptions, RecorderState } from './recorder';
import type { AuditStore } from './store';

type StoreMethod = 'queueAdd' | 'queuePending' | 'queueGet' | 'getUser' | 'putUser' | 'listUsers' | 'find' | 'records';

export class RecorderClient extends EventEmitter {
  private readonly worker: Worker;
  private readonly calls = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private dead: Error | undefined;

  readonly chain: string;

  constructor(options: RecorderOptions) {
    super();
    this.chain = options.chain;
    this.worker = new Worker(path.join(__dirname, 'recorder-worker.js'), { workerData: options });
    this.worker.on('message', (m: { id?: number; event?: string; state?: RecorderState; result?: unknown; error?: string }) => {
      if (m.event === 'state') return void this.emit('state', m.state);
      const call = this.calls.get(m.id!);
      if (!call) return;
      this.calls.delete(m.id!);
      if (m.error !== undefined) call.reject(new Error(m.error));
      else call.resolve(m.result);
    });
    const die = (err: Error) => {
      this.dead = err;
      for (const call of this.calls.values()) call.reject(err);
      this.calls.clear();
      this.emit('state', { store: options.store, healthy: false, spooled: 0, stored: 0, lastError: err.message });
    };
    this.worker.on('error', (err) => die(new Error(`record writer failed: ${err.message}`)));
    this.worker.on('exit', (code) => die(new Error(`record writer stopped (exit ${code})`)));
  }

  private call<T>(method: string, ...args: unknown[]): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.worker.postMessage({ id, method, args });
    });
  }

  record(record: NewRecord, frame?: FrameFile): Promise<RecordResult> {
    return this.call('record', record, frame);
  }
  recordNow(record: NewRecord, resolveQueue?: string): Promise<ChainedRecord> {
    return this.call('recordNow', record, resolveQueue);
  }
  state(): Promise<RecorderState> {
    return this.call('state');
  }
  applyRetention(nowMs?: number): Promise<number> {
    return this.call('applyRetention', nowMs);
  }
  store<K extends StoreMethod>(method: K, ...args: Parameters<AuditStore[K]>): Promise<Awaited<ReturnType<AuditStore[K]>>> {
    return this.call('store', method, ...args);
  }

  async close(): Promise<void> {
    if (!this.dead) await this.call('close').catch(() => undefined);
    this.removeAllListeners('state');
    await this.worker.terminate();
  }
}
