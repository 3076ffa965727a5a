// Writes records for the avi-record and avi-review nodes, in a worker thread: frames to files named by
// their SHA-256, records to the store in group commits, to the spool while the store is slow or down, and
// image retention with a record for each pruned image.
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { sha256Hex } from './canonical';
import type { ChainedRecord, NewRecord } from './chain';
import { planRetention, type RetentionPolicy, type StoredImage } from './retention';
import { Spool } from './spool';
import { openStore, type AuditStore } from './store';

export interface RecorderOptions {
  /** A SQLite file or a postgres:// URL. */
  store: string;
  chain: string;
  imageDir: string;
  spoolFile: string;
  /** Records the spool holds at most. */
  spoolMax: number;
  retention: RetentionPolicy;
  /** How often retention runs, ms. */
  retentionEveryMs?: number;
  /** Records waiting for the store beyond which new ones go to the spool. */
  maxPending?: number;
  /** How often a store that failed is tried again, ms. */
  retryMs?: number;
}

export interface FrameFile {
  /** The encoded frame, or (when the message had only a path) the file to read it from. */
  bytes?: Uint8Array;
  path?: string;
  /** File extension without the dot: jpg, png, ... */
  ext: string;
}

/** Where a record went; `body` is what was recorded (with the kept frame's SHA-256 and file). */
export type RecordResult = { body: Record<string, unknown> } & (
  | { status: 'stored'; record: Pick<ChainedRecord, 'id' | 'chain' | 'seq' | 'hash'> }
  | { status: 'spooled'; record: { id: string; chain: string }; waiting: number }
);

export interface RecorderState {
  store: string;
  healthy: boolean;
  /** Records in the spool. */
  spooled: number;
  lastError?: string;
  stored: number;
}

interface Job {
  record: NewRecord;
  resolveQueue?: string;
  resolve: (r: RecordResult) => void;
  reject: (err: Error) => void;
}

const BATCH = 256;

export class Recorder {
  private store: AuditStore | undefined;
  private readonly spool: Spool;
  private readonly waiting: Job[] = [];
  private writing = false;
  private healthy = false;
  private lastError: string | undefined;
  private stored = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private closed = false;
  onState: (state: RecorderState) => void = () => undefined;

  constructor(readonly options: RecorderOptions) {
    mkdirSync(options.imageDir, { recursive: true });
    mkdirSync(path.dirname(options.spoolFile), { recursive: true });
    this.spool = new Spool(options.spoolFile, options.spoolMax);
  }

  /** Opens the store; a store that is down is retried, and records spool meanwhile. */
  async open(): Promise<RecorderState> {
    await this.connect();
    if (this.options.retentionEveryMs !== 0) {
      this.retentionTimer = setInterval(() => void this.applyRetention().catch((err) => this.fail(err)), this.options.retentionEveryMs ?? 600_000);
      this.retentionTimer.unref();
    }
    if (this.spool.size) this.scheduleRetry(0);
    return this.state();
  }

  private async connect(): Promise<boolean> {
    if (this.store) return true;
    try {
      this.store = await openStore(this.options.store);
      this.healthy = true;
      this.lastError = undefined;
      return true;
    } catch (err) {
      this.fail(err);
      return false;
    }
  }

  state(): RecorderState {
    return { store: this.store?.location ?? this.options.store, healthy: this.healthy, spooled: this.spool.size, lastError: this.lastError, stored: this.stored };
  }

  private fail(err: unknown): void {
    this.healthy = false;
    this.lastError = err instanceof Error ? err.message : String(err);
    this.onState(this.state());
    this.scheduleRetry(this.options.retryMs ?? 2000);
  }

  /** Keeps a frame as images/ab/<sha256>.<ext>, written once (fsynced, then renamed into place). */
  saveImage(frame: FrameFile): { sha256: string; file: string; bytes: number } {
    const bytes = frame.bytes ?? readFileSync(frame.path!);
    const sha256 = sha256Hex(bytes);
    const ext = /^[a-z0-9]{1,5}$/.test(frame.ext) ? frame.ext : 'bin';
    const file = path.join(sha256.slice(0, 2), `${sha256}.${ext}`);
    const full = path.join(this.options.imageDir, file);
    if (!existsSync(full)) {
      mkdirSync(path.dirname(full), { recursive: true });
      const tmp = `${full}.${process.pid}.tmp`;
      const fd = openSync(tmp, 'w');
      try {
        writeSync(fd, bytes);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, full);
    }
    return { sha256, file: file.split(path.sep).join('/'), bytes: bytes.length };
  }

  /**
   * Records one record (with its frame, kept first). Resolves once it is durable: in the store, or in the
   * spool when the store is down or too slow. Rejects when the spool is full: the caller reports that.
   */
  record(record: NewRecord, frame?: FrameFile): Promise<RecordResult> {
    if (frame) {
      const kept = this.saveImage(frame);
      const prior = (record.body.frame as Record<string, unknown>) ?? {};
      record = { ...record, body: { ...record.body, frame: { ...prior, ...kept } } };
    }
    if (!this.healthy || this.spool.size > 0 || this.waiting.length >= (this.options.maxPending ?? 512)) {
      this.spool.add([record]);
      this.onState(this.state());
      this.scheduleRetry(this.healthy ? 0 : this.options.retryMs ?? 2000);
      return Promise.resolve({ status: 'spooled', record: { id: record.id, chain: this.options.chain }, waiting: this.spool.size, body: record.body });
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ record, resolve, reject });
      void this.writeLoop();
    });
  }

  /** Appends a record now, to the store only (a signed review decision is shown as saved only when it is). */
  async recordNow(record: NewRecord, resolveQueue?: string): Promise<ChainedRecord> {
    if (!(await this.connect()) || !this.store) throw new Error(`the record store is not available: ${this.lastError}`);
    const [stored] = await this.store.append(this.options.chain, [record], { resolveQueue });
    this.stored++;
    return stored ?? (await this.store.find(record.id))!;
  }

  /** Group commit: everything waiting goes in one transaction. */
  private async writeLoop(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.waiting.length) {
        const batch = this.waiting.splice(0, BATCH);
        try {
          if (!this.healthy || !this.store) throw new Error(this.lastError ?? 'store not open');
          const stored = await this.store.append(this.options.chain, batch.map((j) => j.record));
          const byId = new Map(stored.map((r) => [r.id, r]));
          this.stored += stored.length;
          for (const job of batch) {
            const r = byId.get(job.record.id);
            const body = job.record.body;
            // A record not returned was stored before (a retried id): it is in the store all the same.
            job.resolve(r ? { status: 'stored', record: { id: r.id, chain: r.chain, seq: r.seq, hash: r.hash }, body } : { status: 'spooled', record: { id: job.record.id, chain: this.options.chain }, waiting: 0, body });
          }
        } catch (err) {
          if (this.healthy) this.fail(err);
          // The store failed: the batch and everything after it wait in the spool, in order.
          const rest = [...batch, ...this.waiting.splice(0)];
          try {
            this.spool.add(rest.map((j) => j.record));
            for (const job of rest) job.resolve({ status: 'spooled', record: { id: job.record.id, chain: this.options.chain }, waiting: this.spool.size, body: job.record.body });
          } catch (spoolErr) {
            for (const job of rest) job.reject(spoolErr as Error);
          }
          this.onState(this.state());
        }
      }
    } finally {
      this.writing = false;
    }
    if (this.spool.size && this.healthy) this.scheduleRetry(0);
  }

  private scheduleRetry(ms: number): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.drain();
    }, ms);
  }

  /** Moves spooled records to the store, oldest first. */
  async drain(): Promise<void> {
    if (this.writing) return this.scheduleRetry(50);
    if (!(await this.connect()) || !this.store) return;
    this.writing = true;
    try {
      while (this.spool.size) {
        const batch = this.spool.peek(BATCH);
        const stored = await this.store.append(this.options.chain, batch);
        this.stored += stored.length;
        this.spool.shift(batch.length);
      }
      this.healthy = true;
      this.lastError = undefined;
    } catch (err) {
      this.writing = false;
      this.fail(err);
      return;
    } finally {
      this.writing = false;
    }
    this.onState(this.state());
    void this.writeLoop();
  }

  /** Prunes frames by the retention policy; each pruned frame gets a record saying when and why. */
  async applyRetention(nowMs = Date.now()): Promise<number> {
    const { retention, imageDir } = this.options;
    if (retention.maxAgeDays <= 0 && retention.maxBytes <= 0) return 0;
    const images: Array<StoredImage & { full: string }> = [];
    for (const sub of readdirSync(imageDir)) {
      const dir = path.join(imageDir, sub);
      if (!/^[0-9a-f]{2}$/.test(sub)) continue;
      for (const name of readdirSync(dir)) {
        const match = /^([0-9a-f]{64})\.[a-z0-9]+$/.exec(name);
        if (!match) continue;
        const full = path.join(dir, name);
        const st = statSync(full);
        images.push({ sha256: match[1], bytes: st.size, writtenMs: st.mtimeMs, full });
      }
    }
    const keep = new Set<string>();
    if (this.store) for (const item of await this.store.queuePending()) keep.add(String((item.verdict.frame as { sha256?: string })?.sha256));
    const plan = planRetention(images, retention, nowMs, keep);
    const byHash = new Map(images.map((i) => [i.sha256, i]));
    for (const item of plan) {
      unlinkSync(byHash.get(item.sha256)!.full);
      await this.record({ id: randomUUID(), time: new Date(nowMs).toISOString(), kind: 'image-pruned', body: { frame: { sha256: item.sha256, bytes: item.bytes }, reason: item.reason } });
    }
    return plan.length;
  }

  // The store's queue and users, for the review station.
  storeCall<K extends 'queueAdd' | 'queuePending' | 'queueGet' | 'getUser' | 'putUser' | 'listUsers' | 'find' | 'records'>(method: K, ...args: Parameters<AuditStore[K]>): ReturnType<AuditStore[K]> {
    if (!this.store) throw new Error(`the record store is not available: ${this.lastError ?? 'not open'}`);
    return (this.store[method] as (...a: unknown[]) => ReturnType<AuditStore[K]>)(...args);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.retentionTimer);
    while (this.writing) await new Promise((r) => setTimeout(r, 5));
    await this.store?.close();
    this.store = undefined;
  }
}
