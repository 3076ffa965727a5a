// What every avi node does the same way: a bounded queue, status, errors to Catch nodes, done() on every path.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from 'node-red';
import { decodeImage, describe, isFrameImage } from '../core/image/image';
import type { FrameImage, ModelInfo, VerdictResult } from '../core/types';
import type { Model } from '../core/model/model';
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

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
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
  maxQueue?: number;
  /** Called with each error before it is reported, for example to set a node-specific status. */
  onError?: (err: Error, msg: Msg) => void;
}

/**
 * Runs `handler` for each message, one at a time in arrival order, with at most `maxQueue` waiting.
 * A message that finds the queue full is reported as an error, never dropped silently.
 * Any error (thrown or rejected) ends its message with done(err) and a red status; done() is called on every path.
 */
export function onInput(node: Node, handler: (msg: Msg, send: Send) => Promise<void>, options: InputOptions = {}): void {
  const maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
  const queue: Array<{ msg: Msg; send: Send; done: Done }> = [];
  let running = false;

  const fail = (err: unknown, msg: Msg, done: Done): void => {
    const error = err instanceof Error ? err : new Error(String(err));
    statusError(node, error.message);
    options.onError?.(error, msg);
    failMessage(error, done);
  };

  const pump = async (): Promise<void> => {
    if (running) return;
    running = true;
    while (queue.length > 0) {
      const item = queue.shift()!;
      try {
        await handler(item.msg, item.send);
        item.done();
      } catch (err) {
        fail(err, item.msg, item.done);
      }
    }
    running = false;
  };

  node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
    if (queue.length >= maxQueue) {
      fail(new Error(`queue full: ${maxQueue} messages already waiting; this one was not processed`), msg as Msg, done);
      return;
    }
    queue.push({ msg: msg as Msg, send, done });
    void pump();
  });

  node.on('close', () => {
    // Messages still waiting at redeploy are finished with an error rather than left hanging.
    for (const item of queue.splice(0)) {
      failMessage(new Error('node closed before this message was processed'), item.done);
    }
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

export function setPath(msg: Record<string, any>, path: string, value: unknown): void {
  const keys = path.split('.');
  let target: any = msg;
  for (const key of keys.slice(0, -1)) {
    if (target[key] == null || typeof target[key] !== 'object') target[key] = {};
    target = target[key];
  }
  target[keys[keys.length - 1]] = value;
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

export interface FrameOptions {
  /** Where the encoded image or file path is when msg.image is not set (default "payload"). */
  property?: string;
  /** The encoded image or file path, when the node has read it itself (a typedInput: msg, flow, global, env). */
  input?: unknown;
  /** Where `input` was read from, for errors, e.g. "flow.frame" (default "msg." and property). */
  source?: string;
  maxPixels?: number;
  /** The user directory that relative image paths are looked up in first (userDirOf(RED)). */
  userDir?: string;
  /** A msg.image that is not a decoded frame is an error, not passed over (the visualizer draws on it). */
  strictImage?: boolean;
}

/**
 * The frame a message carries: msg.image when an earlier node decoded it, otherwise the encoded image
 * (Buffer) or file path at msg[property], decoded once here and kept on msg.image for later nodes.
 */
export async function frameOf(msg: Msg, options: FrameOptions = {}): Promise<FrameImage> {
  if (isFrameImage(msg.image)) return msg.image;
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
  const source = typeof input === 'string' ? resolveFilePath(input.trim(), options.userDir) : input;
  const frame = await decodeImage(source, { maxPixels: options.maxPixels });
  msg.image = frame;
  return frame;
}

/** The avi-model config node a node points at, or a clear error when none is selected. */
export function modelConfigOf(RED: NodeAPI, id: string | undefined): ModelConfigNode | undefined {
  return (id ? (RED.nodes.getNode(id) as ModelConfigNode | null) : null) ?? undefined;
}

/**
 * Connects a node to its avi-model config: loads the model at deploy (so a bad model shows red before the
 * first frame), builds what the node runs on it (a Detector, a Classifier) and rebuilds it after a reload.
 */
export function useModel<T>(node: Node, config: ModelConfigNode | undefined, build: (model: Model) => T, readyText: (built: T) => string): () => Promise<T> {
  let model: Model | undefined;
  let built: T | undefined;
  const get = async (): Promise<T> => {
    if (!config) throw new Error('no avi-model selected: open the node and choose or add a model config');
    const latest = await config.acquire(node);
    if (latest !== model || built === undefined) {
      built = build(latest);
      model = latest;
    }
    return built;
  };
  if (!config) statusError(node, 'no model selected');
  else get().then((b) => statusOk(node, readyText(b)), (err) => statusError(node, errorMessage(err)));
  node.on('close', () => config?.release(node));
  return get;
}

/** What a message records of the model that judged it: enough to trace a decision to the exact file. */
export function provenance(model: Model, format: string): Omit<ModelInfo, 'classNames'> {
  const { classNames: _names, ...info } = model.info;
  return { ...info, format };
}
