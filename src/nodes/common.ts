// What every avi node does the same way: a bounded queue, status, errors to Catch nodes, done() on every path.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from 'node-red';
import { AllowedFolders } from '../core/files';
import { describe, isFrameImage } from '../core/image/image';
import { sharedEngine, type ModelLease } from '../core/engine/engine';
import { asBuffer, SharedFrame } from '../core/engine/frame';
import type { DecodedFrame, FrameSource, JobResult, StageTimings } from '../core/engine/protocol';
import type { FrameImage, ModelInfo, VerdictResult } from '../core/types';
import { sharedMessage } from './i18n';
import type { ModelConfigNode } from './model';

export type Msg = NodeMessageInFlow & Record<string, any>;
export type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;
export type Done = (err?: Error) => void;

/** Default bound on messages waiting behind the one being processed. */
export const DEFAULT_MAX_QUEUE = 16;

export function statusOk(node: Node, text: string): void {
  node.status({ fill: 'green', shape: 'dot', text });
}
export function statusBusy(node: Node, text: string): void {
  node.status({ fill: 'blue', shape: 'ring', text });
}
export function statusWarn(node: Node, text: string): void {
  node.status({ fill: 'yellow', shape: 'ring', text });
}
export function statusError(node: Node, text: string): void {
  node.status({ fill: 'red', shape: 'dot', text: shorten(text, 40) }); // short beside its neighbours; the message carries the whole error
}

/** A frame verdict on a node's status. A FAIL frame is a normal outcome (red ring); errors get a red dot. */
export function statusVerdict(node: Node, result: VerdictResult | undefined, text: string): void {
  const look = { PASS: ['green', 'dot'], REVIEW: ['yellow', 'dot'], FAIL: ['red', 'ring'] } as const;
  const [fill, shape] = result ? look[result] : (['green', 'dot'] as const);
  node.status({ fill, shape, text });
}

/**
 * A node's settings, checked once at deploy. A bad setting is reported then, with a red status, and again
 * on every message (get() throws it), so a flow imported with bad values never crashes Node-RED.
 */
export function settingsOf<T>(node: Node, build: () => T): { value: T | undefined; get: () => T } {
  try {
    const value = build();
    return { value, get: () => value };
  } catch (err) {
    const error = new Error(`bad settings: ${errorMessage(err)}`);
    node.error(error.message);
    statusError(node, error.message);
    return {
      value: undefined,
      get: () => {
        throw error;
      },
    };
  }
}

export function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Ends a failed message: done(err) hands it to Catch nodes and keeps Complete nodes from counting it. The
 * runtime logs what done gets; given the text rather than the Error, the Debug sidebar shows one line, not a stack.
 */
export function failMessage(err: Error, done: Done): void {
  (done as (err: unknown) => void)(err.message);
}

export interface InputOptions {
  /** Messages waiting to start, beyond those in flight; one more is an error on that message. */
  maxQueue?: number;
  /** Messages in flight at once (model nodes: what the engine's workers can take). */
  concurrency?: () => number;
  /** Send in arrival order (default), or each message as soon as it is ready. */
  ordered?: boolean;
  /** Called with each error before it is reported, for example to set a node-specific status. */
  onError?: (err: Error, msg: Msg) => void;
  /** Something the status must keep saying while frames flow (a changed model file that was not taken into use). */
  notice?: () => string | undefined;
}

/** What a handler knows of its message beyond the message itself. */
export interface InputContext {
  /** When the message arrived, ms since the epoch (performance.timeOrigin + now()), for msg.timings' queue wait. */
  arrivedAt: number;
}

/**
 * What a handler gives for the status, shown with the node's rate and queue depth: a short text (e.g. "3 units"),
 * made only when the status is redrawn (a catalogue lookup a message adds up on Node-RED's thread), in a verdict's
 * colours where it has one. Undefined leaves the status as it is.
 */
export interface StatusSummary {
  text: () => string;
  verdict?: VerdictResult;
  /** Something the user should look at (class-replace dropped units): a yellow ring. */
  warn?: boolean;
}
export type InputHandler = (msg: Msg, send: Send, context: InputContext) => Promise<StatusSummary | void>;

interface Pending {
  msg: Msg;
  send: Send;
  done: Done;
  arrivedAt: number;
  outputs: Array<Parameters<Send>[0]>;
  state: 'waiting' | 'running' | 'ready' | 'failed';
  error?: Error;
}

/** How often a busy node's status is redrawn: the editor needs no more, and each update is a message to it. */
const STATUS_INTERVAL_MS = 500;
/** Frames per second are counted over this window. */
const RATE_WINDOW_MS = 5000;

/** What a deploy tells in its 'flows:stopping' event: which nodes and flows changed (Node-RED's flow diff). */
interface DeployDiff {
  added: string[];
  changed: string[];
  removed: string[];
  rewired: string[];
  linked: string[];
  flowChanged: string[];
  globalConfigChanged?: boolean;
}

/**
 * Whether a deploy that is starting will stop a node (id, its flow z), by the rules of Node-RED 4's flows stop():
 * a full deploy stops every node; "modified nodes" the changed and removed ones; "modified flows" also those
 * linked or rewired to them; any deploy every node of a flow that was added, removed or changed as a whole.
 */
export function stoppedBy(type: string, diff: DeployDiff | undefined): (id: string, z: string | undefined) => boolean {
  if (type === 'full' || !diff || diff.globalConfigChanged) return () => true;
  const nodes = new Set([...diff.changed, ...diff.removed, ...(type === 'flows' ? [...diff.linked, ...diff.rewired] : [])]);
  const flows = new Set([...diff.flowChanged, ...diff.added, ...diff.removed]);
  return (id, z) => nodes.has(id) || (z !== undefined && flows.has(z));
}

const NOT_PROCESSED = 'node closed before this message was processed';

export interface DeployWatcher {
  stopping(event: { type: string; diff?: DeployDiff }): void;
  started?(): void;
}
const deployWatchers = new WeakMap<object, Set<DeployWatcher>>();

/** Calls `watcher` at each deploy's start and end; one listener on Node-RED's events for all nodes (it warns past 10). */
export function watchDeploys(RED: NodeAPI, watcher: DeployWatcher): () => void {
  let watchers = deployWatchers.get(RED.events);
  if (!watchers) {
    const all = new Set<DeployWatcher>();
    deployWatchers.set(RED.events, all);
    RED.events.on('flows:stopping', (event: Parameters<DeployWatcher['stopping']>[0]) => [...all].forEach((w) => w.stopping(event)));
    RED.events.on('flows:started', () => [...all].forEach((w) => w.started?.()));
    watchers = all;
  }
  watchers.add(watcher);
  return () => void watchers.delete(watcher);
}

/** How long Node-RED waits for a node's close before it gives up on it (settings.js nodeCloseTimeout). */
function closeTimeoutOf(RED: NodeAPI): number {
  const ms = Number((RED.settings as { nodeCloseTimeout?: unknown }).nodeCloseTimeout);
  return Number.isFinite(ms) && ms > 0 ? ms : 15_000;
}

/**
 * Runs `handler` for each message, up to `concurrency` at once, with at most `maxQueue` more waiting, and sends
 * the results in arrival order (unless `ordered` is false) even when a later message finishes first.
 * A message that finds the queue full ends with an error, counted on the status, never dropped silently.
 * Any error (thrown or rejected) ends its message with done(err) and a red status; done() is called on every path.
 *
 * Deploys: every message that entered ends sent on or with done(err), and as far as Node-RED allows where a
 * Catch node still runs (docs/redeploys.md has what Node-RED itself drops). When a deploy starts ('flows:stopping',
 * before Node-RED stops any node) and will stop this node, the messages waiting end with an error at once, while
 * every Catch node still runs; those in work end the same way if the deploy also stops the nodes they would go
 * to, and otherwise are finished during close() (within Node-RED's close timeout) and sent on. A node the deploy
 * keeps holds its results while the nodes it sends to restart, and sends them once the flows have started.
 */
export function onInput(RED: NodeAPI, node: Node, handler: InputHandler, options: InputOptions = {}): void {
  const maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
  const concurrency = options.concurrency ?? (() => 1);
  const ordered = options.ordered ?? true;
  const closeTimeout = closeTimeoutOf(RED);
  const waiting: Pending[] = [];
  /** Started and not yet sent, in arrival order. */
  const inFlight: Pending[] = [];
  const finished: number[] = [];
  let overQueue = 0;
  let summary: StatusSummary | undefined;
  let statusTimer: NodeJS.Timeout | undefined;
  let lastStatusAt = 0;
  let closed = false;
  /** Results wait while a deploy restarts the nodes this one sends to (a message sent to them then is lost). */
  let holding: NodeJS.Timeout | undefined;
  let drained: (() => void) | undefined;

  const showStatus = () => {
    statusTimer = undefined;
    if (closed || summary === undefined) return;
    lastStatusAt = Date.now();
    const now = performance.now();
    while (finished.length > 0 && now - finished[0] > RATE_WINDOW_MS) finished.shift();
    const span = Math.min(RATE_WINDOW_MS, Math.max(1000, now - (finished[0] ?? now)));
    const rate = (finished.length * 1000) / span;
    const parts = [summary.text(), sharedMessage(RED, 'rate', { rate: rate < 10 ? rate.toFixed(1) : Math.round(rate) }), sharedMessage(RED, 'queue', { count: waiting.length + inFlight.length })];
    if (overQueue > 0) parts.push(sharedMessage(RED, 'overQueue', { count: overQueue }));
    const notice = options.notice?.();
    if (notice) statusWarn(node, [notice, ...parts].join(' · '));
    else if (summary.warn) statusWarn(node, parts.join(' · '));
    else statusVerdict(node, summary.verdict, parts.join(' · '));
  };
  const scheduleStatus = () => {
    if (statusTimer || closed) return;
    statusTimer = setTimeout(showStatus, Math.max(0, lastStatusAt + STATUS_INTERVAL_MS - Date.now()));
  };

  const fail = (err: unknown, msg: Msg, done: Done): void => {
    const error = err instanceof Error ? err : new Error(String(err));
    statusError(node, error.message);
    lastStatusAt = Date.now();
    options.onError?.(error, msg);
    failMessage(error, done);
  };
  /** Ends messages a deploy stops the node under (no status: the node is going). */
  const abandon = (items: Pending[], reason: string) => {
    for (const item of items) failMessage(new Error(reason), item.done);
  };

  const deliver = (item: Pending) => {
    if (item.state === 'failed') {
      fail(item.error, item.msg, item.done);
      return;
    }
    for (const out of item.outputs) item.send(out);
    item.done();
    finished.push(performance.now());
    scheduleStatus();
  };

  const settle = () => {
    if (!holding) {
      if (ordered) {
        while (inFlight.length > 0 && inFlight[0].state !== 'running') deliver(inFlight.shift()!);
      } else {
        for (let i = inFlight.length - 1; i >= 0; i--) if (inFlight[i].state !== 'running') deliver(inFlight.splice(i, 1)[0]);
      }
    }
    if (inFlight.length === 0) drained?.();
    pump();
  };

  const pump = () => {
    while (!closed && waiting.length > 0 && inFlight.length < Math.max(1, concurrency())) {
      const item = waiting.shift()!;
      item.state = 'running';
      inFlight.push(item);
      const send: Send = (out) => item.outputs.push(out);
      handler(item.msg, send, { arrivedAt: item.arrivedAt })
        .then(
          (status) => {
            item.state = 'ready';
            if (status) summary = status;
          },
          (err) => {
            item.state = 'failed';
            item.error = err instanceof Error ? err : new Error(String(err));
          },
        )
        .finally(settle);
    }
  };

  node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
    // Node-RED still hands a closing node the messages it had routed to it before the deploy.
    if (closed) return failMessage(new Error(NOT_PROCESSED), done);
    if (waiting.length >= maxQueue) {
      overQueue++;
      fail(new Error(`queue full: ${inFlight.length} messages in work and ${maxQueue} waiting; this one was not processed`), msg as Msg, done);
      return;
    }
    waiting.push({ msg: msg as Msg, send, done, arrivedAt: performance.timeOrigin + performance.now(), outputs: [], state: 'waiting' });
    pump();
  });

  const release = () => {
    clearTimeout(holding);
    holding = undefined;
    settle();
  };
  const onDeploy = ({ type, diff }: { type: string; diff?: DeployDiff }) => {
    const stops = stoppedBy(type, diff);
    const next = ((node as unknown as { wires?: string[][] }).wires ?? []).flat();
    const nextStops = next.some((id) => stops(id, node.z));
    if (stops(node.id, node.z)) {
      // Now, before Node-RED stops any node, every Catch node still runs; at close() some may have stopped.
      abandon(waiting.splice(0), NOT_PROCESSED);
      if (nextStops) abandon(inFlight.splice(0), 'node closed before this message was sent on: the deploy also stopped the nodes it goes to');
    } else if (nextStops && !holding) {
      // Released when the flows have started; the timeout only in case they never do.
      holding = setTimeout(release, closeTimeout);
    }
  };
  const unwatch = watchDeploys(RED, { stopping: onDeploy, started: release });

  node.on('close', (_removed: boolean, done: () => void) => {
    closed = true;
    unwatch();
    clearTimeout(statusTimer);
    abandon(waiting.splice(0), NOT_PROCESSED);
    release();
    if (inFlight.length === 0) return done();
    // Those in work are finished and sent on (the nodes after this one may still run), within Node-RED's close timeout.
    const bound = Math.max(1000, closeTimeout - 1000);
    const timer = setTimeout(() => {
      abandon(inFlight.splice(0), `node closed: this message was still in work ${bound / 1000} s later`);
      drained?.();
    }, bound);
    drained = () => {
      drained = undefined;
      clearTimeout(timer);
      done();
    };
  });
}

/** Reads a property like "payload" or "image.data" from a message. */
export function getPath(msg: Record<string, any>, path: string): unknown {
  let value: any = msg;
  for (const key of path.split('.')) {
    if (value == null) return undefined;
    value = value[key];
  }
  return value;
}

/** Parses a number field from an editor config, falling back when empty or invalid. */
export function num(value: unknown, fallback: number): number {
  if (value === '' || value === undefined || value === null) return fallback;
  const n = Number(value);
  return Number.isFinite(n) ? n : fallback;
}

/** This package's root folder (dist/src/nodes -> the root), where its demo models and example images live. */
const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

/** The Node-RED user directory (e.g. ~/.node-red), where relative file paths are looked up first. */
export function userDirOf(RED: NodeAPI): string | undefined {
  return (RED.settings as { userDir?: string }).userDir;
}

/**
 * A relative file path (a model, a labels file, an image) is looked up in the Node-RED user directory, then in
 * this package (its demo models and example images), so an imported example works in any Node-RED whatever its
 * working directory. When neither has it, the user-directory path is returned, for the not-found error to name.
 */
export function resolveFilePath(file: string, userDir: string | undefined): string {
  if (!file || path.isAbsolute(file)) return file;
  const candidates = [userDir && path.resolve(userDir, file), path.resolve(PACKAGE_ROOT, file)].filter(Boolean) as string[];
  return candidates.find((p) => fs.existsSync(p)) ?? candidates[0];
}

/** The package's example frames: file paths in messages may name them wherever Node-RED runs. */
const EXAMPLE_IMAGES = path.join(PACKAGE_ROOT, 'example-images');

/** Where a file path in a message is looked up (userDir) and the folders it may name (allowed). */
export interface MessageFiles {
  userDir: string | undefined;
  allowed: AllowedFolders;
}

/**
 * File paths in messages may come from outside (MQTT, HTTP): they may name files only in the Node-RED user
 * directory, this package's example frames and the folders in settings.js `aviAllowedPaths` (a list of folders).
 */
export function messageFiles(RED: NodeAPI): MessageFiles {
  const userDir = userDirOf(RED);
  const extra = (RED.settings as { aviAllowedPaths?: unknown }).aviAllowedPaths;
  // Asked on every message: built again only when the settings changed.
  const cached = messageFilesOf.get(RED);
  if (cached && cached.userDir === userDir && cached.extra === extra) return cached.files;
  const configured = Array.isArray(extra) ? extra : typeof extra === 'string' ? [extra] : [];
  const files = { userDir, allowed: new AllowedFolders([userDir, EXAMPLE_IMAGES, ...configured.map((f) => (userDir ? path.resolve(userDir, String(f)) : String(f)))]) };
  messageFilesOf.set(RED, { userDir, extra, files });
  return files;
}
const messageFilesOf = new WeakMap<NodeAPI, { userDir: string | undefined; extra: unknown; files: MessageFiles }>();

export interface FrameOptions {
  /** Where the encoded image or file path is when msg.image is not set (default "payload"). */
  property?: string;
  /** The encoded image or file path, when the node has read it itself (a typedInput: msg, flow, global, env). */
  input?: unknown;
  /** Where `input` was read from, for errors, e.g. "flow.frame" (default "msg." and property). */
  source?: string;
  maxPixels?: number;
  /** Where a file path on the message is looked up and which folders it may name (messageFiles(RED)); without it, paths are refused. */
  files?: MessageFiles;
  /** A msg.image that is not a decoded frame is an error, not passed over (the visualizer draws on it). */
  strictImage?: boolean;
}

/**
 * Where a message's frame is, for a worker: msg.image when an earlier node decoded it (its pixels are shared,
 * not copied), otherwise the encoded image (Buffer) or file path at msg[property], which the worker decodes.
 * A file path is checked against the allowed folders first (links and ../ resolved).
 */
export async function frameSourceOf(msg: Msg, options: FrameOptions = {}): Promise<FrameSource> {
  if (isFrameImage(msg.image)) {
    const { width, height, data } = msg.image;
    return { frame: { width, height, data } };
  }
  if (options.strictImage && msg.image !== undefined) {
    throw new Error(`msg.image is not a decoded frame (width, height and width x height x 3 bytes of RGB in data), got ${describe(msg.image)}`);
  }
  const property = options.property ?? 'payload';
  const input = 'input' in options ? options.input : getPath(msg, property);
  const where = options.source ?? `msg.${property}`;
  if (input === undefined || input === null || input === '') {
    throw new Error(`no image on the message: msg.image is not set and ${where} is empty; send an encoded image (Buffer) or a file path`);
  }
  if (!Buffer.isBuffer(input) && typeof input !== 'string') {
    throw new Error(`no image: expected msg.image (a decoded frame) or ${where} as an encoded image Buffer or a file path, got ${where} as ${describe(input)}`);
  }
  if (typeof input === 'string') {
    if (input.trim() === '') throw new Error('image path is empty');
    const allowed = options.files?.allowed ?? new AllowedFolders([]);
    return { path: await allowed.resolve(resolveFilePath(input.trim(), options.files?.userDir), 'image file') };
  }
  if (input.length === 0) throw new Error('image buffer is empty');
  // postMessage copies a view's whole ArrayBuffer: a small Buffer cut from a large one goes as its own bytes.
  return { encoded: input.buffer.byteLength > 2 * input.length + 8192 ? Uint8Array.prototype.slice.call(input) : input };
}

/**
 * Keeps a frame a worker decoded on msg.image, so that no later node decodes it again. `original` is the encoded
 * image as the node read it (the worker may have taken source.encoded's bytes).
 */
export function keepFrame(msg: Msg, source: FrameSource, decoded: DecodedFrame | undefined, original: unknown): FrameImage {
  if (!decoded) return msg.image as FrameImage;
  const frame = new SharedFrame(decoded.width, decoded.height, asBuffer(decoded.data), {
    encoded: 'encoded' in source ? (original as Buffer) : decoded.encoded && asBuffer(decoded.encoded),
    format: decoded.format,
    path: 'path' in source ? source.path : undefined,
  });
  msg.image = frame;
  return frame;
}

/** The frame a message carries, decoded by a worker when no earlier node did (see frameSourceOf). */
export async function frameOf(msg: Msg, options: FrameOptions = {}): Promise<FrameImage> {
  const source = await frameSourceOf(msg, options);
  if ('frame' in source) return msg.image as FrameImage;
  const { frame } = await sharedEngine().run({ op: 'decode', source, maxPixels: options.maxPixels });
  return keepFrame(msg, source, frame, 'input' in options ? options.input : getPath(msg, options.property ?? 'payload'));
}

/** How long a message waited, and what each stage of its model node took: msg.timings.<role>. */
export function timingsOf(arrivedAt: number, t: StageTimings): NodeTimings {
  const ms = (v: number) => Math.round(v * 100) / 100;
  return { queueWaitMs: ms(Math.max(0, t.startedAt - arrivedAt)), preprocessMs: ms(t.preprocessMs), inferenceMs: ms(t.inferenceMs), postprocessMs: ms(t.postprocessMs) };
}

export interface NodeTimings {
  /** From the message's arrival at the node to a worker taking it up: time in the node's queue and the pool's. */
  queueWaitMs: number;
  /** Decoding, resizing / letterboxing and filling the input tensor. */
  preprocessMs: number;
  /** session.run. */
  inferenceMs: number;
  /** Decoding the outputs: boxes, NMS, activations. */
  postprocessMs: number;
}

/** The avi-model config node a node points at, or a clear error when none is selected. */
export function modelConfigOf(RED: NodeAPI, id: string | undefined): ModelConfigNode | undefined {
  return (id ? (RED.nodes.getNode(id) as ModelConfigNode | null) : null) ?? undefined;
}

/**
 * Connects a node to its avi-model config: loads the model at deploy (so a bad model shows red before the
 * first frame) and checks it fits the node (`check`, run once per session), and gives the node's hold on the
 * shared session, which follows the model's reloads by itself.
 */
export function useModel(RED: NodeAPI, node: Node, config: ModelConfigNode | undefined, check: (lease: ModelLease) => Promise<string>): () => Promise<ModelLease> {
  let checked: { key: string; result: Promise<string> } | undefined;
  const get = async (): Promise<ModelLease> => {
    if (!config) throw new Error('no avi-model selected: open the node and choose or add a model config');
    const lease = await config.acquire(node, check);
    if (checked?.key !== lease.key) {
      const result = check(lease);
      checked = { key: lease.key, result };
      // A failed check is tried again by the next message: a worker may have died under it.
      result.catch(() => {
        if (checked?.result === result) checked = undefined;
      });
    }
    await checked.result;
    return lease;
  };
  if (!config) statusError(node, sharedMessage(RED, 'noModel'));
  else
    get().then(
      () => checked?.result.then((text) => statusOk(node, text)),
      (err) => statusError(node, errorMessage(err)),
    );
  node.on('close', () => config?.release(node));
  return get;
}

/**
 * What a message records of the model that judged it: the worker's own account (hash, input size, provider),
 * named by this node's file (another file with the same bytes may have loaded the shared session).
 */
export function provenance(lease: ModelLease, result: JobResult, format: string): Omit<ModelInfo, 'classNames'> {
  return { ...result.model!, name: path.basename(lease.file), path: path.resolve(lease.file), format };
}

/** Messages a node may have in the engine at once: enough to keep every worker busy. */
export const engineConcurrency = (): number => sharedEngine().capacity;
