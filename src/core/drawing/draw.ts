// Drawing on raw interleaved RGB: boxes, labels and a verdict banner, with the embedded bitmap font.
// Everything writes straight into one copy of the frame, so annotating costs a few milliseconds beside inference.
import sharp from 'sharp';
import { CHAR_ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, LINE_ADVANCE, glyphRows, textSize } from './font';
import { isFrameImage } from '../image/image';
import type { Box, Detection, FrameImage, Verdict, VerdictResult } from '../types';

export type Rgb = readonly [number, number, number];
export type Raster = Pick<FrameImage, 'width' | 'height' | 'data'>;

export type OutputFormat = 'jpeg' | 'png';

/** The annotated frame as the visualizer sends it. */
export function encodeAnnotated(raw: Buffer, width: number, height: number, format: OutputFormat, quality: number): Promise<Buffer> {
  const image = sharp(raw, { raw: { width, height, channels: 3 } });
  // 4:4:4 keeps thin coloured lines and label backgrounds in their colours; 4:2:0 would smear them into the frame.
  // No optimised Huffman tables: that second pass took 6 of the 10 ms CPU a 640x480 frame took to encode, for a file 12 % smaller.
  return (format === 'png' ? image.png() : image.jpeg({ quality, chromaSubsampling: '4:4:4', optimiseCoding: false })).toBuffer();
}

export const VERDICT_COLOURS: Record<VerdictResult, Rgb> = {
  PASS: [0, 200, 83],
  FAIL: [235, 30, 30],
  REVIEW: [255, 176, 0],
};

/** Colours by class when there is no verdict: no reds, greens or yellows, so none reads as a verdict. */
export const CLASS_PALETTE: readonly Rgb[] = [
  [33, 150, 243], // blue
  [156, 39, 176], // purple
  [0, 188, 212], // cyan
  [240, 98, 146], // pink
  [92, 107, 192], // indigo
  [0, 137, 123], // teal
  [255, 64, 255], // magenta
  [141, 110, 99], // brown
  [120, 144, 156], // blue grey
];

const BLACK: Rgb = [0, 0, 0];
const WHITE: Rgb = [255, 255, 255];
const BANNER_ALPHA = 0.65;
const MAX_REASON_LINES = 3;

export interface AnnotateOptions {
  /** Box line thickness in pixels; 0 or absent picks one from the frame size. */
  thickness?: number;
  /** Integer font scale of box labels (1 = 5x8 pixel glyphs; the banner uses one more); 0 or absent picks one from the frame size. */
  textScale?: number;
  /** Class name on each box's label. */
  showLabels?: boolean;
  /** Confidence on each box's label. */
  showConfidences?: boolean;
  /** Verdict banner across the top (drawn only when there is a verdict). */
  showBanner?: boolean;
}

/** Line thickness that reads about the same once the frame is scaled to a screen: 2 px at 640x480, 5 at 1080p. */
export function autoThickness(width: number, height: number): number {
  return Math.max(2, Math.round(Math.sqrt(width * height) / 320));
}

/** Font scale of box labels: 1 (5x8 px glyphs) at 640x480, 3 at 1080p, 7 at 4000x3000; the banner is one step larger. */
export function autoTextScale(width: number, height: number): number {
  return Math.max(1, Math.round(Math.sqrt(width * height) / 500));
}

export function fillRect(r: Raster, x: number, y: number, w: number, h: number, colour: Rgb, alpha = 1): void {
  const x0 = Math.max(0, Math.round(x));
  const y0 = Math.max(0, Math.round(y));
  const x1 = Math.min(r.width, Math.round(x + w));
  const y1 = Math.min(r.height, Math.round(y + h));
  if (x0 >= x1 || y0 >= y1) return;
  const stride = r.width * 3;
  if (alpha >= 1) {
    const pattern = Buffer.from(colour);
    for (let row = y0; row < y1; row++) r.data.fill(pattern, row * stride + x0 * 3, row * stride + x1 * 3);
    return;
  }
  // Integer blend: out = (dst * (256 - a) + src * a) >> 8.
  const a = Math.round(Math.max(0, alpha) * 256);
  const [cr, cg, cb] = [colour[0] * a, colour[1] * a, colour[2] * a];
  const keep = 256 - a;
  const d = r.data;
  for (let row = y0; row < y1; row++) {
    const end = row * stride + x1 * 3;
    for (let i = row * stride + x0 * 3; i < end; i += 3) {
      d[i] = (d[i] * keep + cr) >> 8;
      d[i + 1] = (d[i + 1] * keep + cg) >> 8;
      d[i + 2] = (d[i + 2] * keep + cb) >> 8;
    }
  }
}

/**
 * Outline of a box, each line `thickness` wide and centred on the box's edge pixels; anything outside the frame
 * is clipped. The box covers pixels x .. x + width - 1 (rounded).
 */
export function strokeRect(r: Raster, box: Box, colour: Rgb, thickness: number): void {
  const t = Math.max(1, Math.round(thickness));
  const half = Math.floor(t / 2);
  const left = Math.round(box.x) - half;
  const top = Math.round(box.y) - half;
  const right = Math.round(box.x + box.width) - 1 - half + t;
  const bottom = Math.round(box.y + box.height) - 1 - half + t;
  if (right - left <= 2 * t || bottom - top <= 2 * t) {
    fillRect(r, left, top, right - left, bottom - top, colour);
    return;
  }
  fillRect(r, left, top, right - left, t, colour);
  fillRect(r, left, bottom - t, right - left, t, colour);
  fillRect(r, left, top + t, t, bottom - top - 2 * t, colour);
  fillRect(r, right - t, top + t, t, bottom - top - 2 * t, colour);
}

/** One line of text with its top-left corner at (x, y); each font pixel becomes a scale x scale block. */
export function drawText(r: Raster, x: number, y: number, text: string, colour: Rgb, scale: number): void {
  for (let i = 0; i < text.length; i++) {
    const rows = glyphRows(text[i]);
    const gx = x + i * CHAR_ADVANCE * scale;
    for (let row = 0; row < GLYPH_HEIGHT; row++) {
      const bits = rows[row];
      // Runs of inked columns become one rectangle each.
      for (let col = 0; col < GLYPH_WIDTH; ) {
        if (!(bits & (1 << (GLYPH_WIDTH - 1 - col)))) {
          col++;
          continue;
        }
        const start = col;
        while (col < GLYPH_WIDTH && bits & (1 << (GLYPH_WIDTH - 1 - col))) col++;
        fillRect(r, gx + start * scale, y + row * scale, (col - start) * scale, scale, colour);
      }
    }
  }
}

/** Black or white, whichever reads better on the background. */
export function textColourOn(background: Rgb): Rgb {
  const luma = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2];
  return luma > 150 ? BLACK : WHITE;
}

/** Size of a label (text on a filled background with padding) at a font scale. */
export function labelSize(text: string, scale: number): { width: number; height: number } {
  const size = textSize(text, scale);
  return { width: size.width + 4 * scale, height: size.height + 3 * scale };
}

/** Text on a filled background; (x, y) is the label's top-left corner. */
export function drawLabel(r: Raster, x: number, y: number, text: string, background: Rgb, scale: number): void {
  const size = labelSize(text, scale);
  fillRect(r, x, y, size.width, size.height, background);
  drawText(r, x + 2 * scale, y + 2 * scale, text, textColourOn(background), scale);
}

/** Throws a clear error unless the detection has a drawable, numeric box. */
function checkDetection(detection: unknown, index: number): asserts detection is Detection {
  const box = (detection as Detection | null)?.box;
  const numeric = box != null && [box.x, box.y, box.width, box.height].every((v) => typeof v === 'number' && Number.isFinite(v));
  if (!numeric) {
    throw new Error(`detections[${index}]: box must have numeric x, y, width and height, got ${JSON.stringify(box)}`);
  }
}

function checkVerdict(verdict: Verdict): void {
  if (!(verdict?.result in VERDICT_COLOURS)) {
    throw new Error(`verdict.result must be PASS, FAIL or REVIEW, got ${JSON.stringify(verdict?.result)}`);
  }
  if (verdict.units !== undefined && !Array.isArray(verdict.units)) throw new Error('verdict.units must be an array');
}

export function classColour(detection: Detection): Rgb {
  const id = detection.classId;
  if (Number.isInteger(id) && id >= 0) return CLASS_PALETTE[id % CLASS_PALETTE.length];
  // No usable id: a stable colour from the class name (FNV-1a).
  let hash = 0x811c9dc5;
  for (const ch of String(detection.class)) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193);
  return CLASS_PALETTE[(hash >>> 0) % CLASS_PALETTE.length];
}

/** "edge_defect 0.91": the final class (after any class replacement) and its confidence, as the options ask. */
export function labelText(detection: Detection, showClass: boolean, showConfidence: boolean): string {
  const parts: string[] = [];
  if (showClass) parts.push(String(detection.class));
  if (showConfidence && typeof detection.confidence === 'number' && Number.isFinite(detection.confidence)) {
    parts.push(detection.confidence.toFixed(2));
  }
  return parts.join(' ');
}

/** Splits text into lines of at most `width` characters, at spaces where it can. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    let rest = word;
    while (rest.length > 0) {
      const room = line ? width - line.length - 1 : width;
      if (rest.length <= room) {
        line = line ? `${line} ${rest}` : rest;
        rest = '';
      } else if (line) {
        lines.push(line);
        line = '';
      } else {
        lines.push(rest.slice(0, width));
        rest = rest.slice(width);
      }
    }
  }
  if (line) lines.push(line);
  return lines;
}

function countsText(verdict: Verdict): string {
  const c = verdict.counts;
  const units = verdict.units ?? [];
  const total = c?.total ?? units.length;
  const pass = c?.pass ?? units.filter((u) => u.result === 'PASS').length;
  const fail = c?.fail ?? units.filter((u) => u.result === 'FAIL').length;
  const review = c?.review ?? units.filter((u) => u.result === 'REVIEW').length;
  return `${total} ${total === 1 ? 'unit' : 'units'}: ${pass} pass, ${fail} fail, ${review} review`;
}

interface BannerLayout {
  height: number;
  /** Counts on the verdict chip's line, when they fit there. */
  header: string;
  /** Lines under the chip: the counts when they did not fit beside it, then the reasons. */
  lines: string[];
}

/** The banner's height and text, wrapped to the frame width (reasons to at most MAX_REASON_LINES lines). */
function layoutBanner(verdict: Verdict, width: number, scale: number): BannerLayout {
  const pad = 2 * scale;
  const charsIn = (pixels: number): number => Math.floor((pixels + scale) / (CHAR_ADVANCE * scale));
  const chars = Math.max(4, charsIn(width - 2 * pad));
  const chip = labelSize(verdict.result, scale);
  const counts = countsText(verdict);
  const countsFit = counts.length <= charsIn(width - chip.width - 3 * pad);
  const reasons = Array.isArray(verdict.reasons) ? verdict.reasons.map(String).filter((s) => s.length > 0) : [];
  let reasonLines = reasons.length > 0 ? wrap(`reasons: ${reasons.join('; ')}`, chars) : [];
  if (reasonLines.length > MAX_REASON_LINES) {
    reasonLines = reasonLines.slice(0, MAX_REASON_LINES);
    reasonLines[MAX_REASON_LINES - 1] = `${reasonLines[MAX_REASON_LINES - 1].slice(0, chars - 3)}...`;
  }
  const lines = [...(countsFit ? [] : wrap(counts, chars)), ...reasonLines];
  const height = pad + chip.height + lines.length * LINE_ADVANCE * scale + pad;
  return { height, header: countsFit ? counts : '', lines };
}

/** A translucent strip across the top: the verdict in its colour, the counts, then the reasons. */
function drawBanner(r: Raster, verdict: Verdict, layout: BannerLayout, scale: number): void {
  const pad = 2 * scale;
  const chip = labelSize(verdict.result, scale);
  fillRect(r, 0, 0, r.width, layout.height, BLACK, BANNER_ALPHA);
  drawLabel(r, pad, pad, verdict.result, VERDICT_COLOURS[verdict.result], scale);
  drawText(r, pad + chip.width + pad, pad + 2 * scale, layout.header, WHITE, scale);
  layout.lines.forEach((line, i) => {
    drawText(r, pad, pad + chip.height + scale + i * LINE_ADVANCE * scale, line, WHITE, scale);
  });
}

function drawOrder(result: VerdictResult | undefined): number {
  return result === 'FAIL' ? 3 : result === 'REVIEW' ? 2 : result === 'PASS' ? 0 : 1;
}

function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/**
 * Draws boxes, labels and the verdict banner on a copy of the frame and returns the annotated raw RGB
 * (same width and height). A unit is coloured by its verdict when there is one, else by its class.
 */
export function annotate(
  frame: Raster,
  detections: readonly Detection[],
  verdict: Verdict | undefined,
  options: AnnotateOptions = {},
  /** Where to draw (frame-sized), e.g. shared memory that goes back to Node-RED's thread; a new Buffer otherwise. */
  into?: Buffer,
): Buffer {
  if (!isFrameImage(frame)) {
    throw new Error(`image must be a decoded frame: positive integer width and height and width x height x 3 bytes of RGB in data`);
  }
  detections.forEach(checkDetection);
  if (verdict) checkVerdict(verdict);

  const { width, height } = frame;
  if (into && into.length !== frame.data.length) throw new Error(`annotate: the target holds ${into.length} bytes, the frame ${frame.data.length}`);
  const out: Raster = { width, height, data: into ? (into.set(frame.data), into) : Buffer.from(frame.data) };
  const lineWidth = Math.max(1, Math.round(options.thickness || autoThickness(width, height)));
  const scale = Math.max(1, Math.round(options.textScale || autoTextScale(width, height)));
  const bannerScale = scale + 1;
  const showLabels = options.showLabels ?? true;
  const showConfidences = options.showConfidences ?? true;

  const resultById = new Map<number, VerdictResult>();
  for (const unit of verdict?.units ?? []) resultById.set(unit.detectionId, unit.result);
  const colourOf = (d: Detection): Rgb => {
    const result = resultById.get(d.id);
    return result ? VERDICT_COLOURS[result] : classColour(d);
  };

  // FAIL units are drawn last so that their boxes and labels stay on top where units overlap.
  const ordered = [...detections].sort((a, b) => drawOrder(resultById.get(a.id)) - drawOrder(resultById.get(b.id)));
  for (const d of ordered) strokeRect(out, d.box, colourOf(d), lineWidth);

  // The banner is laid out first so labels stay below it, and drawn last so it stays on top.
  const banner = verdict && (options.showBanner ?? true) ? layoutBanner(verdict, width, bannerScale) : undefined;
  const bannerHeight = banner?.height ?? 0;

  // Labels are placed FAIL first, so the units that matter most get the clearest spots, and drawn FAIL last.
  const half = Math.floor(lineWidth / 2);
  const placed: Array<{ spot: Box; text: string; colour: Rgb }> = [];
  for (const d of [...ordered].reverse()) {
    const text = labelText(d, showLabels, showConfidences);
    if (!text) continue;
    const size = labelSize(text, scale);
    const left = Math.round(d.box.x) - half;
    const top = Math.round(d.box.y) - half;
    const bottom = Math.round(d.box.y + d.box.height) - 1 - half + lineWidth;
    // Above the box, else just inside its top edge, else below it: the first spot no earlier label covers.
    const x = Math.min(Math.max(left, 0), Math.max(0, width - size.width));
    const spots = [top - size.height, top, bottom]
      .filter((y) => y >= bannerHeight && y + size.height <= height)
      .map((y) => ({ x, y, width: size.width, height: size.height }));
    const spot =
      spots.find((s) => !placed.some((p) => overlaps(s, p.spot))) ??
      spots[0] ?? { x, y: Math.max(bannerHeight, Math.min(top, height - size.height)), width: size.width, height: size.height };
    placed.push({ spot, text, colour: colourOf(d) });
  }
  for (const { spot, text, colour } of placed.reverse()) drawLabel(out, spot.x, spot.y, text, colour, scale);

  if (verdict && banner) drawBanner(out, verdict, banner, bannerScale);
  return out.data;
}
