// The inference engine: one pool of worker threads per process. Each worker holds an onnxruntime session per
// model in use and does the frames' pixel work; this side only routes jobs. Sessions are shared by every user of
// the same file (by SHA-256) and options, and outlive a redeploy by a grace period.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { readModelFile, type ModelOptions } from '../model/model';
import type { FromWorker, JobRequest, JobResult, LoadedModel, SessionOptions, ToWorker } from './protocol';

export interface EngineSettings {
  /** Worker threads when no model asks for a number. */
  defaultWorkers: number;
  /** Jobs posted to one worker at a time: 2 lets a worker decode the next frame while it runs a model. */
  jobsPerWorker: number;
  /** How long an unused session is kept, so that a full redeploy finds it still loaded. */
  graceMs: number;
  /** Jobs waiting for a worker, all nodes together; more is an error on the job. */
  maxPending: number;
  /** A frame's decode that takes longer is stopped with its worker; the frame is errored, the worker replaced. */
  decodeTimeoutMs: number;
  /** A job that takes longer in its worker (a model run that does not return) is errored and its worker set aside. */
  jobTimeoutMs: number;
}

/** How long one job may take in a worker, decode and model runs together. */
export const DEFAULT_JOB_TIMEOUT_MS = 60_000;

/** How long shutdown waits for a worker asked to exit. */
const EXIT_GRACE_MS = 10_000;

/** How long one frame's decode may take (a 50 MP JPEG takes about 1 s on a gateway core). */
export const DEFAULT_DECODE_TIMEOUT_MS = 10_000;

export function defaultWorkers(cores = availableCores()): number {
  return Math.max(1, Math.min(2, cores));
}

/** onnxruntime intra-op threads per worker that share the cores out between the workers. */
export function defaultThreads(workers: number, cores = availableCores()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, workers)));
}

function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

interface Job {
  id: number;
  key?: string;
  request: JobRequest;
  tag?: string;
  resolve: (result: JobResult) => void;
  reject: (err: Error) => void;
  record?: ModelRecord;
  decodeTimer?: NodeJS.Timeout;
  runTimer?: NodeJS.Timeout;
}

type SlotModelState = 'loading' | 'ready';

interface Slot {
  worker: Worker;
  models: Map<string, SlotModelState>;
  jobs: Map<number, Job>;
  retiring: boolean;
  /** Set when we stop it ourselves (shrinking, shutdown), so its exit is not taken for a crash. */
  stopping: boolean;
  loads: number;
  exited: boolean;
}

interface ModelRecord {
  key: string;
  file: string;
  /** The file's bytes as hashed, in shared memory: every worker, a replacement too, loads exactly these. */
  bytes: Uint8Array;
  options: SessionOptions;
  /** Leases (nodes' model configs) holding it. */
  refs: number;
  /** Jobs submitted for it and not yet finished: a session is never unloaded under a frame. */
  jobs: number;
  /** Worker threads its leases ask for (0: no preference). */
  workers: number;
  loaded: Promise<LoadedModel>;
  settle: { resolve: (m: LoadedModel) => void; reject: (err: Error) => void };
  model?: LoadedModel;
  warnings: string[];
  graceTimer?: NodeJS.Timeout;
  /** How many times a worker created this session (for tests and the bench: one per worker per model). */
  sessionsCreated: number;
}

/** A node's hold on a shared session. reload() swaps it between frames; release() lets it go. */
export class ModelLease {
  private released = false;

  constructor(
    private readonly engine: InferenceEngine,
    /** The record frames are sent to now: replaced, never changed, by a reload. */
    public record: ModelRecord,
    /** This lease's own file: another file with the same bytes may have made the record. */
    readonly file: string,
    readonly workers: number,
  ) {}

  get model(): LoadedModel {
    return this.record.model!;
  }
  get key(): string {
    return this.record.key;
  }
  get warnings(): string[] {
    return this.record.warnings;
  }

  run(request: JobRequest, tag?: string): Promise<JobResult> {
    if (this.released) return Promise.reject(new Error('the model was released (node closed or redeployed); send the frame again'));
    return this.engine.submit(request, tag, this.record);
  }

  /**
   * Loads the file again when its content changed, and sends later frames to the new session only once it
   * is loaded: a frame is judged by the old model or the new one, never by a half-loaded one. False when the
   * file is unchanged. A file that does not load, or that `accept` refuses, leaves the old session in place (the
   * error is thrown).
   */
  async reload(accept?: (candidate: ModelLease) => Promise<unknown>): Promise<boolean> {
    const next = await this.engine.acquire(this.file, this.record.options, { workers: this.workers });
    if (next.record === this.record || this.released) {
      next.release();
      return false;
    }
    // The new model must pass what its users checked at deploy (task, output layout); if not, the old one stays.
    try {
      await accept?.(next);
    } catch (err) {
      next.release();
      throw err;
    }
    const previous = this.record;
    this.record = next.record;
    next.released = true; // its reference now belongs to this lease
    this.engine.releaseRecord(previous);
    return true;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.engine.releaseRecord(this.record);
  }
}

export class InferenceEngine {
  readonly settings: EngineSettings;
  private readonly slots: Slot[] = [];
  private readonly records = new Map<string, ModelRecord>();
  private readonly pending: Job[] = [];
  private nextJobId = 1;
  private crashes: number[] = [];
  private closed = false;
  /** Test hook: how long a worker holds a job before doing it (ms), to make frames finish out of order. */
  delayFor?: (tag: string | undefined, request: JobRequest) => number | undefined;

  constructor(settings: Partial<EngineSettings> = {}) {
    this.settings = { defaultWorkers: defaultWorkers(), jobsPerWorker: 2, graceMs: 10_000, maxPending: 1024, decodeTimeoutMs: DEFAULT_DECODE_TIMEOUT_MS, jobTimeoutMs: DEFAULT_JOB_TIMEOUT_MS, ...settings };
  }

  /** Worker threads running now (retiring ones not counted). */
  get size(): number {
    return this.slots.filter((s) => !s.retiring).length;
  }

  /** Jobs the pool can work on at once: what a node may have in flight before its own queue holds the rest. */
  get capacity(): number {
    return Math.max(1, this.targetSize()) * this.settings.jobsPerWorker;
  }

  /** What the pool holds, for status, tests and benchmarks. */
  stats(): { workers: Array<{ threadId: number; jobs: Array<string | undefined>; models: string[] }>; pending: number; sessions: Record<string, { file: string; refs: number; sessionsCreated: number }> } {
    const sessions: Record<string, { file: string; refs: number; sessionsCreated: number }> = {};
    for (const r of this.records.values()) sessions[r.key] = { file: r.file, refs: r.refs, sessionsCreated: r.sessionsCreated };
    return {
      workers: this.slots.filter((s) => !s.retiring).map((s) => ({ threadId: s.worker.threadId, jobs: [...s.jobs.values()].map((j) => j.tag), models: [...s.models.keys()] })),
      pending: this.pending.length,
      sessions,
    };
  }

  /** Stops a worker as a crash would (tests, and an operator's last resort): its jobs fail, a new one replaces it. */
  async terminateWorker(index: number): Promise<void> {
    const slot = this.slots.filter((s) => !s.retiring)[index];
    if (!slot) throw new Error(`no worker ${index}`);
    await this.terminate(slot);
  }

  /**
   * A hold on the session for this file and these options, loading it in every worker if no one holds it yet.
   * `workers` asks for a pool of at least that size (0: the default).
   */
  async acquire(file: string, options: ModelOptions, { workers = 0 } = {}): Promise<ModelLease> {
    if (this.closed) throw new Error('the inference engine is shut down');
    const { warn: _warn, ...rest } = options;
    const size = Math.max(workers || this.settings.defaultWorkers, this.targetSize());
    const sessionOptions: SessionOptions = { ...rest, threads: rest.threads || defaultThreads(size) };
    const optionsKey = stableJson(sessionOptions);
    // An unchanged file is known by its size and time; otherwise it is read (once, for every worker) and hashed.
    const known = await knownHash(file);
    let record = known ? this.records.get(`${known}:${optionsKey}`) : undefined;
    if (!record) {
      const { sha256, bytes } = await readAndHash(file);
      const key = `${sha256}:${optionsKey}`;
      record = this.records.get(key);
      if (!record) {
        let settle!: ModelRecord['settle'];
        const loaded = new Promise<LoadedModel>((resolve, reject) => (settle = { resolve, reject }));
        loaded.catch(() => undefined);
        record = { key, file, bytes, options: sessionOptions, refs: 0, jobs: 0, workers, loaded, settle, warnings: [], sessionsCreated: 0 };
        this.records.set(key, record);
        // New workers load every record themselves; the ones already running are asked here.
        const running = this.slots.filter((s) => !s.retiring && !s.stopping);
        for (const slot of running) this.load(slot, record);
      }
    }
    record.refs++;
    record.workers = Math.max(record.workers, workers);
    clearTimeout(record.graceTimer);
    record.graceTimer = undefined;
    this.resize();
    try {
      await record.loaded;
    } catch (err) {
      this.releaseRecord(record);
      throw err;
    }
    return new ModelLease(this, record, file, workers);
  }

  /** A job that needs no model (decode, crop). */
  run(request: JobRequest, tag?: string): Promise<JobResult> {
    return this.submit(request, tag);
  }

  submit(request: JobRequest, tag?: string, record?: ModelRecord): Promise<JobResult> {
    if (this.closed) return Promise.reject(new Error('the inference engine is shut down'));
    if (this.pending.length >= this.settings.maxPending) {
      return Promise.reject(new Error(`the inference engine already has ${this.settings.maxPending} jobs waiting; this one was not processed`));
    }
    if (this.slots.length === 0) this.resize();
    return new Promise<JobResult>((resolve, reject) => {
      if (record) record.jobs++;
      this.pending.push({ id: this.nextJobId++, key: record?.key, request, tag, resolve, reject, record });
      this.pump();
    });
  }

  releaseRecord(record: ModelRecord): void {
    record.refs = Math.max(0, record.refs - 1);
    this.maybeUnload(record);
  }

  /** Stops every worker; pending and running jobs fail. */
  async shutdown(): Promise<void> {
    this.closed = true;
    for (const job of this.pending.splice(0)) this.finish(job, new Error('the inference engine is shut down'));
    await Promise.all(this.slots.map((slot) => this.stop(slot)));
    for (const r of this.records.values()) clearTimeout(r.graceTimer);
    this.records.clear();
  }

  private targetSize(): number {
    let wanted = 0;
    // Sessions in their grace period count too, so a redeploy does not shrink the pool and grow it again.
    for (const r of this.records.values()) wanted = Math.max(wanted, r.workers);
    return wanted || this.settings.defaultWorkers;
  }

  private resize(): void {
    if (this.closed) return;
    const target = this.targetSize();
    const live = this.slots.filter((s) => !s.retiring);
    for (let i = live.length; i < target; i++) this.spawn();
    for (const slot of live.slice(target)) {
      slot.retiring = true;
      if (slot.jobs.size === 0) void this.stop(slot);
    }
  }

  private spawn(): void {
    const worker = new Worker(path.join(__dirname, 'worker.js'));
    const slot: Slot = { worker, models: new Map(), jobs: new Map(), retiring: false, stopping: false, loads: 0, exited: false };
    this.slots.push(slot);
    let failure: Error | undefined;
    worker.on('message', (message: FromWorker) => this.onMessage(slot, message));
    worker.on('error', (err) => (failure = err));
    worker.on('exit', (code) => this.onExit(slot, code, failure));
    worker.unref();
    for (const record of this.records.values()) this.load(slot, record);
  }

  private load(slot: Slot, record: ModelRecord): void {
    slot.models.set(record.key, 'loading');
    slot.loads++;
    this.refCount(slot);
    this.post(slot, { type: 'load', key: record.key, file: record.file, bytes: record.bytes, options: record.options });
  }

  private post(slot: Slot, message: ToWorker): void {
    slot.worker.postMessage(message);
  }

  /** A worker with work keeps the process alive; an idle one does not. */
  private refCount(slot: Slot): void {
    if (slot.jobs.size > 0 || slot.loads > 0) slot.worker.ref();
    else slot.worker.unref();
  }

  private onMessage(slot: Slot, message: FromWorker): void {
    if (message.type === 'loaded') {
      slot.loads--;
      this.refCount(slot);
      const record = this.records.get(message.key);
      if (!record || slot.models.get(message.key) !== 'loading') {
        // Released meanwhile: free it in the worker again.
        if (message.ok) this.post(slot, { type: 'unload', key: message.key });
        return;
      }
      if (message.ok) {
        slot.models.set(message.key, 'ready');
        record.sessionsCreated++;
        if (!record.model) {
          record.model = message.model;
          record.warnings = message.warnings;
          record.settle.resolve(message.model);
        }
      } else {
        slot.models.delete(message.key);
        this.failRecord(record, new Error(message.error));
      }
      this.pump();
    } else if (message.type === 'decoding') {
      const job = slot.jobs.get(message.id);
      if (job) job.decodeTimer = setTimeout(() => this.decodeTimedOut(slot, job), this.settings.decodeTimeoutMs);
    } else if (message.type === 'decoded') {
      clearTimeout(slot.jobs.get(message.id)?.decodeTimer);
    } else if (message.type === 'result') {
      const job = slot.jobs.get(message.id);
      if (!job) return;
      clearTimers(job);
      slot.jobs.delete(message.id);
      this.refCount(slot);
      if (message.ok) this.finish(job, undefined, message.result);
      else this.finish(job, new Error(message.error));
      if (slot.retiring && slot.jobs.size === 0) void this.stop(slot);
      this.pump();
    }
  }

  /** A file that does not load: the waiting acquirers get the error, and the next acquire tries again. */
  private failRecord(record: ModelRecord, err: Error): void {
    if (this.records.get(record.key) !== record) return;
    this.records.delete(record.key);
    clearTimeout(record.graceTimer);
    record.settle.reject(err);
    for (const job of this.pending.filter((j) => j.record === record)) {
      this.pending.splice(this.pending.indexOf(job), 1);
      this.finish(job, err);
    }
    for (const slot of this.slots) if (slot.models.delete(record.key)) this.post(slot, { type: 'unload', key: record.key });
  }

  /**
   * A decode over its budget (a pathological file): that frame fails, the worker is stopped and replaced, and the
   * other frames it held go back to the front of the queue to be done by another worker. A decode in libvips runs
   * on libuv's thread pool and ends on its own; stopping the worker lets the pool move on without waiting for it.
   */
  private decodeTimedOut(slot: Slot, job: Job): void {
    this.setAside(slot, job, new Error(`decoding this frame took more than ${this.settings.decodeTimeoutMs / 1000} s; it was stopped (its worker replaced) and the frame was not judged`));
  }

  /**
   * A job over its budget (a model run that never returns): that frame fails and the worker is set aside as a
   * decode's is. It cannot be terminated inside onnxruntime (see terminate), so it ends only if the run returns.
   */
  private jobTimedOut(slot: Slot, job: Job): void {
    this.setAside(slot, job, new Error(`this frame took more than ${this.settings.jobTimeoutMs / 1000} s in its inference worker (a model run that does not return?); it was not judged, and a new worker has taken that one's place`));
  }

  private setAside(slot: Slot, job: Job, error: Error): void {
    if (slot.jobs.get(job.id) !== job) return;
    const others = [...slot.jobs.values()].filter((j) => j !== job);
    slot.jobs.clear();
    slot.retiring = true;
    for (const j of [job, ...others]) clearTimers(j);
    this.refCount(slot);
    this.pending.unshift(...others);
    this.finish(job, error);
    void this.terminate(slot);
    this.resize();
    this.pump();
  }

  private onExit(slot: Slot, code: number, failure: Error | undefined): void {
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    slot.exited = true;
    const reason = failure ? failure.message : `exit code ${code}`;
    for (const job of slot.jobs.values()) {
      clearTimers(job);
      this.finish(job, new Error(`the inference worker stopped while this frame was in it (${reason}); the frame was not judged. A new worker has taken its place`));
    }
    slot.jobs.clear();
    if (slot.stopping || this.closed) return;
    // Crashed: replace it, a little later when it keeps crashing, so a model that kills every worker cannot spin.
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < 10_000).concat(now);
    const delay = this.crashes.length > 3 ? 1000 : 0;
    setTimeout(() => {
      this.resize();
      this.pump();
    }, delay).unref();
  }

  private async stop(slot: Slot): Promise<void> {
    slot.stopping = true;
    await this.terminate(slot);
  }

  /**
   * Ends a worker. Asked to, it exits once no onnxruntime call (session creation, run, release) is in flight in
   * it: a thread terminated inside one aborts the whole process ("terminate called after throwing an instance of
   * 'Napi::Error'", onnxruntime#13086; every time in 30 tries here), so none is ever terminated from here. A decode
   * in libvips does not hold it. One that has not ended after EXIT_GRACE_MS (a run that never returns) is left,
   * unreferenced, so that it holds neither the pool nor the process.
   */
  private terminate(slot: Slot): Promise<void> {
    if (slot.exited) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        slot.worker.unref();
        resolve();
      }, EXIT_GRACE_MS);
      slot.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.post(slot, { type: 'exit' });
    });
  }

  private finish(job: Job, err?: Error, result?: JobResult): void {
    if (job.record) {
      job.record.jobs--;
      this.maybeUnload(job.record);
    }
    if (err) job.reject(err);
    else job.resolve(result!);
  }

  private maybeUnload(record: ModelRecord): void {
    if (record.refs > 0 || record.jobs > 0 || record.graceTimer || this.records.get(record.key) !== record) return;
    record.graceTimer = setTimeout(() => {
      record.graceTimer = undefined;
      if (record.refs > 0 || record.jobs > 0 || this.records.get(record.key) !== record) return;
      this.records.delete(record.key);
      for (const slot of this.slots) if (slot.models.delete(record.key)) this.post(slot, { type: 'unload', key: record.key });
      this.resize();
    }, this.settings.graceMs);
    record.graceTimer.unref();
  }

  /** Hands waiting jobs, oldest first, to the least busy worker that has their model loaded. */
  private pump(): void {
    for (let i = 0; i < this.pending.length; ) {
      const job = this.pending[i];
      let best: Slot | undefined;
      for (const slot of this.slots) {
        if (slot.retiring || slot.stopping || slot.jobs.size >= this.settings.jobsPerWorker) continue;
        if (job.key && slot.models.get(job.key) !== 'ready') continue;
        if (!best || slot.jobs.size < best.jobs.size) best = slot;
      }
      if (!best) {
        i++;
        continue;
      }
      this.pending.splice(i, 1);
      best.jobs.set(job.id, job);
      this.refCount(best);
      job.runTimer = setTimeout(() => this.jobTimedOut(best, job), this.settings.jobTimeoutMs);
      this.post(best, { type: 'job', id: job.id, key: job.key, request: job.request, delayMs: this.delayFor?.(job.tag, job.request) });
    }
  }
}

function clearTimers(job: Job): void {
  clearTimeout(job.decodeTimer);
  clearTimeout(job.runTimer);
}

/** Hashes by path, valid while the file's size and modification time stay: a redeploy does not read the model again. */
const hashes = new Map<string, { size: number; mtimeMs: number; sha256: string }>();

async function knownHash(file: string): Promise<string | undefined> {
  const stat = await fs.stat(file).catch(() => undefined);
  const known = hashes.get(file);
  return stat && known && known.size === stat.size && known.mtimeMs === stat.mtimeMs ? known.sha256 : undefined;
}

/**
 * A model file read into shared memory (bounded in size and time, regular files only) and its SHA-256, hashed a
 * megabyte at a time so that a large model never holds up the event loop for long.
 */
async function readAndHash(file: string): Promise<{ sha256: string; bytes: Uint8Array }> {
  if (!file) throw new Error('no model file set');
  const before = await fs.stat(file).catch(() => undefined);
  const bytes = await readModelFile(file, (size) => Buffer.from(new SharedArrayBuffer(size)));
  const hash = createHash('sha256');
  const CHUNK = 1024 * 1024;
  for (let at = 0; at < bytes.length; at += CHUNK) {
    hash.update(bytes.subarray(at, at + CHUNK));
    if (at + CHUNK < bytes.length) await new Promise((resolve) => setImmediate(resolve));
  }
  const sha256 = hash.digest('hex');
  if (before) hashes.set(file, { size: before.size, mtimeMs: before.mtimeMs, sha256 });
  return { sha256, bytes };
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

let shared: InferenceEngine | undefined;

/** The one engine of this process, started on first use. */
export function sharedEngine(): InferenceEngine {
  shared ??= new InferenceEngine();
  return shared;
}
