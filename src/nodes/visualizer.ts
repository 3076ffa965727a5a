// avi-visualizer: boxes, labels and the verdict banner drawn on the frame, encoded as JPEG or PNG,
// with a small preview under the node in the editor.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import sharp from 'sharp';
import { type AnnotateOptions, type OutputFormat, type Raster } from '../core/drawing/draw';
import { sharedEngine } from '../core/engine/engine';
import { asBuffer } from '../core/engine/frame';
import { describe } from '../core/image/image';
import type { Detection, Verdict } from '../core/types';
import { engineConcurrency, errorMessage, frameSourceOf, keepFrame, onInput, settingsOf, messageFiles, type Msg } from './common';
import { message } from './i18n';


interface VisualizerNodeDef extends NodeDef {
  format: OutputFormat;
  quality: string | number;
  thickness: string | number;
  showLabels: boolean;
  showConfidences: boolean;
  showBanner: boolean;
  property: string;
  preview: boolean;
  previewWidth: string | number;
}

interface Settings {
  format: OutputFormat;
  quality: number;
  property: string;
  draw: AnnotateOptions;
  preview: boolean;
  previewWidth: number;
}

/** At most this often per node does a preview go to the editor (4 a second). */
export const PREVIEW_INTERVAL_MS = 250;
const PREVIEW_QUALITY = 70;

/** A whole-number editor field within [min, max]; `blank` when empty; an error naming the field otherwise. */
function intField(value: unknown, what: string, min: number, max: number, blank: number): number {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return blank;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${what} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

export function settingsFromConfig(config: VisualizerNodeDef): Settings {
  const format = config.format || 'jpeg';
  if (format !== 'jpeg' && format !== 'png') throw new Error(`output format must be jpeg or png, got ${JSON.stringify(format)}`);
  const property = String(config.property ?? 'payload').trim() || 'payload';
  return {
    format,
    quality: intField(config.quality, 'JPEG quality', 1, 100, 85),
    property,
    draw: {
      thickness: intField(config.thickness, 'line thickness', 0, 200, 0),
      showLabels: config.showLabels !== false,
      showConfidences: config.showConfidences !== false,
      showBanner: config.showBanner !== false,
    },
    preview: config.preview !== false,
    previewWidth: intField(config.previewWidth, 'preview width', 32, 1024, 320),
  };
}

function detectionsOf(msg: Msg): Detection[] {
  const detections = msg.detections ?? [];
  if (!Array.isArray(detections)) throw new Error(`msg.detections must be an array of detections, got ${describe(detections)}`);
  return detections;
}

/**
 * Sends a small JPEG of the latest annotated frame to the editor, never the frame itself, at most once per
 * PREVIEW_INTERVAL_MS; a frame offered in between waits, and only the newest one waiting is sent.
 */
class EditorPreview {
  private waiting?: Raster;
  private timer?: NodeJS.Timeout;
  private busy = false;
  private closed = false;
  private lastSentAt = -Infinity;

  constructor(
    private readonly width: number,
    private readonly publish: (preview: { image: string; width: number; height: number }) => void,
    private readonly warn: (text: string) => void,
  ) {}

  offer(frame: Raster): void {
    if (this.closed) return;
    this.waiting = frame;
    if (this.busy || this.timer) return;
    const wait = this.lastSentAt + PREVIEW_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.send();
      }, wait);
    } else {
      void this.send();
    }
  }

  close(): void {
    this.closed = true;
    this.waiting = undefined;
    clearTimeout(this.timer);
  }

  private async send(): Promise<void> {
    const frame = this.waiting;
    this.waiting = undefined;
    if (!frame || this.closed) return;
    this.busy = true;
    try {
      const { data, info } = await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } })
        .resize({ width: this.width, withoutEnlargement: true })
        .jpeg({ quality: PREVIEW_QUALITY })
        .toBuffer({ resolveWithObject: true });
      if (!this.closed) this.publish({ image: data.toString('base64'), width: info.width, height: info.height });
    } catch (err) {
      this.warn(`editor preview failed: ${errorMessage(err)}`);
    } finally {
      // Counted from when the thumbnail went out, so that previews reach the editor at least an interval apart.
      this.lastSentAt = Date.now();
      this.busy = false;
      if (this.waiting) this.offer(this.waiting);
    }
  }
}

export default function (RED: NodeAPI): void {
  function AviVisualizerNode(this: Node, config: VisualizerNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const settings = settingsOf(node, () => {
      const read = settingsFromConfig(config);
      try {
        RED.util.normalisePropertyExpression(read.property);
      } catch {
        throw new Error(`output property must be a message property such as payload or image.annotated, got ${JSON.stringify(read.property)}`);
      }
      return read;
    });
    const topic = `avi-visualizer/${node.id}`;
    const preview = settings.value?.preview
      ? new EditorPreview(
          settings.value.previewWidth,
          (thumbnail) => RED.comms.publish(topic, thumbnail, true),
          (text) => node.warn(text),
        )
      : undefined;

    onInput(
      RED,
      node,
      async (msg, send) => {
        const { draw, property, format, quality } = settings.get();
        const started = performance.now();
        const source = await frameSourceOf(msg, { files: messageFiles(RED), strictImage: true });
        const detections = detectionsOf(msg);
        const verdict: Verdict | undefined = msg.verdict ?? undefined;
        // Drawing and encoding a frame take milliseconds a megapixel: a worker does them.
        const result = await sharedEngine().run({ op: 'annotate', source, detections, verdict, draw, format, quality }, msg._msgid);
        const frame = keepFrame(msg, source, result.frame, msg.payload);
        RED.util.setMessageProperty(msg, property, asBuffer(result.encoded!), true);
        const ms = Math.round(performance.now() - started);

        const count = detections.length;
        send(msg);
        preview?.offer({ width: frame.width, height: frame.height, data: asBuffer(result.annotated!) });
        return {
          verdict: verdict?.result,
          text: () => (verdict ? message(RED, 'avi-visualizer.status.verdict', { count, result: verdict.result, ms }) : message(RED, 'avi-visualizer.status.drawn', { count, ms })),
        };
      },
      { concurrency: engineConcurrency },
    );

    node.on('close', () => {
      preview?.close();
      // An empty, unretained message removes the preview from open editors and from the retained store.
      RED.comms.publish(topic, {}, false);
    });
  }
  RED.nodes.registerType('avi-visualizer', AviVisualizerNode);
}
