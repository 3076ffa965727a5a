// avi-frame-preview: the latest frame, scaled down and at most a few a second, as a small message of its own for
// a dashboard, so a 20 MP frame at line rate never reaches a websocket or a browser.
import * as path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import sharp from 'sharp';
import { describe, isFrameImage } from '../core/image/image';
import type { FrameImage, Verdict } from '../core/types';
import { errorMessage, getPath, settingsOf, statusError, statusVerdict, type Done, type Msg, type Send } from './common';

interface FramePreviewNodeDef extends NodeDef {
  property: string;
  width: string | number;
  quality: string | number;
  rate: string | number;
}

export interface PreviewSettings {
  property: string;
  /** Largest width sent, px; smaller frames keep their size. */
  width: number;
  quality: number;
  /** Most previews sent a second. */
  rate: number;
}

/** Larger inputs are an error, not a decode that takes the gateway's memory. */
const MAX_INPUT_PIXELS = 100_000_000;
/** Reasons beyond these are left off the preview; the verdict itself keeps them all. */
const MAX_REASONS = 10;

function numberField(value: unknown, what: string, min: number, max: number, blank: number, integer: boolean): number {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return blank;
  const n = Number(value);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    throw new Error(`${what} must be a ${integer ? 'whole ' : ''}number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

export function previewSettings(config: Partial<FramePreviewNodeDef>): PreviewSettings {
  const property = String(config.property ?? 'payload').trim() || 'payload';
  if (!/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(property)) throw new Error(`image property must look like payload or image, got ${JSON.stringify(property)}`);
  return {
    property,
    width: numberField(config.width, 'width', 32, 4096, 960, true),
    quality: numberField(config.quality, 'JPEG quality', 1, 100, 70, true),
    rate: numberField(config.rate, 'previews per second', 0.1, 30, 2, false),
  };
}

/** A JPEG at most `width` wide; sharp does the work in libuv's threadpool, and shrinks a JPEG while decoding it. */
export async function scaleDown(image: Buffer | FrameImage, width: number, quality: number): Promise<{ data: Buffer; width: number; height: number }> {
  const input = Buffer.isBuffer(image)
    ? sharp(image, { limitInputPixels: MAX_INPUT_PIXELS })
    : sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
  const { data, info } = await input
    .resize({ width, withoutEnlargement: true })
    .jpeg({ quality })
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** The image a message carries: the property when it holds one, else the decoded frame on msg.image. */
export function imageOf(msg: Msg, property: string): Buffer | FrameImage {
  const value = getPath(msg, property);
  if (Buffer.isBuffer(value) || isFrameImage(value)) return value;
  if (value === undefined && isFrameImage(msg.image)) return msg.image;
  throw new Error(`msg.${property} must be an encoded image (a Buffer) or a decoded frame, got ${describe(value)}`);
}

/** The verdict as the screen shows it: no units, no image buffers. */
function verdictSummary(verdict: Verdict | undefined): Record<string, unknown> | undefined {
  if (!verdict || typeof verdict !== 'object') return undefined;
  const { result, severity, counts, timestamp } = verdict;
  const reasons = Array.isArray(verdict.reasons) ? verdict.reasons.slice(0, MAX_REASONS) : [];
  return { result, severity, counts, reasons, timestamp };
}

/** The small message a dashboard gets: a new one, so that nothing large on the frame's message goes along. */
export async function previewMessage(msg: Msg, settings: PreviewSettings): Promise<NodeMessage & Record<string, unknown>> {
  const image = imageOf(msg, settings.property);
  const scaled = await scaleDown(image, settings.width, settings.quality);
  const source = isFrameImage(msg.image) ? msg.image.path : undefined;
  return {
    topic: msg.topic,
    payload: `data:image/jpeg;base64,${scaled.data.toString('base64')}`,
    width: scaled.width,
    height: scaled.height,
    frame: typeof source === 'string' ? path.basename(source) : undefined,
    verdict: verdictSummary(msg.verdict),
    time: Date.now(),
  };
}

interface Waiting {
  msg: Msg;
  send: Send;
  done: Done;
}

/**
 * Lets through at most `rate` frames a second, the newest one each time: a frame that arrives while one is
 * being scaled, or before the interval is up, waits; a newer one takes its place and the older one is passed
 * over (finished with done() and counted).
 */
export class LatestFrameGate {
  shown = 0;
  passedOver = 0;
  private waiting?: Waiting;
  private timer?: NodeJS.Timeout;
  private busy = false;
  private closed = false;
  private lastSentAt = -Infinity;

  constructor(
    private readonly intervalMs: number,
    private readonly handle: (item: Waiting) => Promise<void>,
  ) {}

  offer(item: Waiting): void {
    if (this.waiting) {
      this.passedOver++;
      this.waiting.done();
    }
    this.waiting = item;
    this.schedule();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.waiting) {
      this.passedOver++;
      this.waiting.done();
      this.waiting = undefined;
    }
  }

  private schedule(): void {
    if (this.busy || this.timer || this.closed || !this.waiting) return;
    const wait = this.lastSentAt + this.intervalMs - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.run();
      }, wait);
    } else {
      void this.run();
    }
  }

  private async run(): Promise<void> {
    const item = this.waiting;
    this.waiting = undefined;
    if (!item || this.closed) return;
    this.busy = true;
    this.lastSentAt = Date.now();
    try {
      await this.handle(item);
      this.shown++;
    } finally {
      this.busy = false;
      this.schedule();
    }
  }
}

export default function (RED: NodeAPI): void {
  function AviFramePreviewNode(this: Node, config: FramePreviewNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const settings = settingsOf(node, () => previewSettings(config));
    const s = settings.value;
    const gate = s
      ? new LatestFrameGate(1000 / s.rate, async ({ msg, send, done }) => {
          try {
            const out = await previewMessage(msg, s);
            send(out);
            const text = RED._('avi-frame-preview.status.shown', { width: out.width as number, shown: gate!.shown + 1, passedOver: gate!.passedOver });
            statusVerdict(node, (out.verdict as { result?: Verdict['result'] } | undefined)?.result, text);
            done();
          } catch (err) {
            statusError(node, errorMessage(err));
            done(err instanceof Error ? err : new Error(String(err)));
          }
        })
      : undefined;

    node.on('input', (msg: object, send: Send, done: Done) => {
      if (!gate) {
        try {
          settings.get();
        } catch (err) {
          done(err as Error);
        }
        return;
      }
      try {
        // A message without an image is an error now, not only if it is the one that gets shown.
        imageOf(msg as Msg, s!.property);
      } catch (err) {
        statusError(node, errorMessage(err));
        done(err as Error);
        return;
      }
      gate.offer({ msg: msg as Msg, send, done });
    });
    node.on('close', () => gate?.close());
  }
  RED.nodes.registerType('avi-frame-preview', AviFramePreviewNode);
}
