// Frames whose pixels live in shared memory: posted to a worker without a copy, and kept by reference when
// Node-RED deep-copies a message for a second wire.
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import type { FrameImage } from '../types';

/**
 * A decoded frame on msg.image. Its pixels sit in a SharedArrayBuffer, so a worker reads them where they are.
 * Node-RED clones a message per extra wire with lodash cloneDeep, which keeps by reference any object whose
 * Object.prototype.toString tag it does not know: the tag below makes a 60 MB frame cost nothing to fan out.
 * The pixels are shared by every copy of the message, so nodes treat them as read-only.
 */
export class SharedFrame implements FrameImage {
  readonly channels = 3 as const;
  encoded?: Buffer;
  format?: string;
  path?: string;

  constructor(
    readonly width: number,
    readonly height: number,
    readonly data: Buffer,
    extra: { encoded?: Buffer; format?: string; path?: string } = {},
  ) {
    if (extra.encoded) this.encoded = extra.encoded;
    if (extra.format) this.format = extra.format;
    if (extra.path) this.path = extra.path;
  }

  get [Symbol.toStringTag](): string {
    return 'AviFrame';
  }

  /** What Debug nodes and JSON show: the size, not 60 MB of numbers. */
  toJSON(): object {
    return { width: this.width, height: this.height, channels: 3, format: this.format, path: this.path, data: `<${this.data.length} bytes RGB>` };
  }
}

/** A copy of `bytes` in shared memory, as a Buffer. */
export function sharedCopy(bytes: Uint8Array): Buffer {
  const shared = Buffer.from(sharedBlock(bytes.length));
  shared.set(bytes);
  return shared;
}

/** A new block of shared memory, counted towards the next collection. */
export function sharedBlock(bytes: number): SharedArrayBuffer {
  noteSharedBytes(bytes);
  return new SharedArrayBuffer(bytes);
}

/** A Buffer over the same memory as a typed array that came through postMessage (no copy). */
export function asBuffer(view: Uint8Array): Buffer {
  if (view.buffer instanceof SharedArrayBuffer) noteSharedBytes(view.byteLength);
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

// V8 leaves SharedArrayBuffer memory out of its garbage-collection heuristics, so a thread that makes or
// receives frames collects them late: with 50 MP frames a process grew past 13 GB. Each thread (the main one
// and every worker) runs a minor collection once it has made or received this much shared memory: it frees
// the frames that died young (most of them) in under a millisecond. A full collection, which stalls Node-RED's
// thread for 50-150 ms, runs only when the process has still grown by MAJOR_AFTER_GROWTH since this thread's
// last one (frames kept past two minor collections).
const COLLECT_EVERY_BYTES = 256 * 1024 * 1024;
const MAJOR_AFTER_GROWTH = 1024 * 1024 * 1024;
let sharedSinceCollect = 0;
let rssAfterMajor = 0;
let collect: ((options?: { type: 'minor' | 'major' }) => void) | null | undefined;

function noteSharedBytes(bytes: number): void {
  sharedSinceCollect += bytes;
  if (sharedSinceCollect < COLLECT_EVERY_BYTES) return;
  sharedSinceCollect = 0;
  if (collect === undefined) collect = exposedGc();
  if (!collect) return;
  if (process.memoryUsage.rss() - rssAfterMajor < MAJOR_AFTER_GROWTH) return collect({ type: 'minor' });
  collect({ type: 'major' });
  rssAfterMajor = process.memoryUsage.rss();
}

function exposedGc(): typeof collect {
  try {
    v8.setFlagsFromString('--expose-gc');
    rssAfterMajor = process.memoryUsage.rss();
    return vm.runInNewContext('gc');
  } catch {
    return null;
  }
}
