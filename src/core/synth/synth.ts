// Synthetic pill line: top-down frames of a conveyor with tablets and capsules, some defective, and
// the datasets written from them (YOLO + COCO for a one-class detector, one crop folder per condition
// for a classifier). Everything comes from one seeded PRNG: the same seed and options give the same
// bytes. What a frame holds is decided here; src/core/synth-render.ts draws it.
import { existsSync, promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { stringify as toYaml } from 'yaml';
import { cropBox, DEFAULT_CROP_OPTIONS, extract } from '../image/crop';
import { COCO_FILE } from '../evaluation/datasets';
import { boxIou } from '../evaluation/metrics';
import { Random } from './random';
import {
  renderFrame,
  unitOutline,
  type BackgroundScene,
  type Crack,
  type FrameScene,
  type LightScene,
  type Rgb,
  type Spot,
  type UnitScene,
} from './synth-render';
import type { Box } from '../types';

/** The classifier's classes, in class-id order. */
export const CONDITIONS = ['good', 'edge_defect', 'crack', 'spot', 'broken'] as const;
export type Condition = (typeof CONDITIONS)[number];

/** What is drawn. Every kind is labelled with the one detection class. */
export const UNIT_KINDS = ['round', 'scored', 'oval', 'caplet', 'capsule', 'softgel'] as const;
export type UnitKind = (typeof UNIT_KINDS)[number];

/** The detector's one class (id 0). */
export const DETECT_CLASS = 'pill';

export interface FrameOptions {
  /** Frame size in pixels (default 640 x 480). */
  width?: number;
  height?: number;
  /** Units per frame, drawn uniformly (default 4 to 20; fewer when they do not fit). */
  minUnits?: number;
  maxUnits?: number;
  /** Length of a unit's long side in pixels (default 35 to 80). */
  minLength?: number;
  maxLength?: number;
  /** Share of whole units that carry a defect, split evenly over the four defects (default 0.4). */
  defectRate?: number;
  /** JPEG quality 1..100 (default 90). */
  jpegQuality?: number;
}

export interface SynthUnit {
  /** The visible outline's box in pixels, top-left origin, clipped to the frame. */
  box: Box;
  kind: UnitKind;
  condition: Condition;
  /** Cut by the frame's edge (always `good`, no classification crop). */
  truncated: boolean;
}

export interface SynthFrame {
  jpeg: Buffer;
  width: number;
  height: number;
  units: SynthUnit[];
}

type Settings = Required<FrameOptions>;

const DEFAULTS: Settings = {
  width: 640,
  height: 480,
  minUnits: 4,
  maxUnits: 20,
  minLength: 35,
  maxLength: 80,
  defectRate: 0.4,
  jpegQuality: 90,
};

export function resolveFrameOptions(options: FrameOptions = {}): Settings {
  const s: Settings = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS) as Array<keyof Settings>) {
    const value = options[key];
    if (value !== undefined) s[key] = value;
  }
  const whole = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${name} must be a whole number from ${min} to ${max}, got ${v}`);
  };
  whole('width', s.width, 64, 8192);
  whole('height', s.height, 64, 8192);
  whole('minimum units', s.minUnits, 0, 500);
  whole('maximum units', s.maxUnits, s.minUnits, 500);
  const longest = Math.floor(Math.min(s.width, s.height) / 2);
  whole('minimum length', s.minLength, 12, longest);
  whole('maximum length', s.maxLength, s.minLength, longest);
  whole('JPEG quality', s.jpegQuality, 1, 100);
  if (!Number.isFinite(s.defectRate) || s.defectRate < 0 || s.defectRate > 1) {
    throw new Error(`defect rate must be from 0 to 1, got ${s.defectRate}`);
  }
  return s;
}

/** One frame: frame `index` of the sequence that `seed` starts, independent of every other frame. */
export async function synthesizeFrame(options: FrameOptions & { seed: number; index: number }): Promise<SynthFrame> {
  const settings = resolveFrameOptions(options);
  if (!Number.isSafeInteger(options.seed)) throw new Error(`seed must be a whole number, got ${options.seed}`);
  if (!Number.isSafeInteger(options.index) || options.index < 0) throw new Error(`frame index must be a whole number from 0, got ${options.index}`);
  const { scene, meta } = sampleScene(new Random(streamSeed(options.seed, options.index, 1)), settings);
  const rendered = await renderFrame(scene, new Random(streamSeed(options.seed, options.index, 2)));
  const units: SynthUnit[] = [];
  meta.forEach((m, i) => {
    const box = rendered.boxes[i];
    if (box) units.push({ box, ...m });
  });
  return { jpeg: rendered.jpeg, width: settings.width, height: settings.height, units };
}

/** One PRNG seed per (seed, frame, stream), so frames can be made in any order and streams stay apart. */
function streamSeed(seed: number, index: number, stream: number): number {
  let h = 0x811c9dc5;
  for (const part of [seed, index, stream]) {
    h = Math.imul(h ^ (part | 0), 0x01000193);
    h = Math.imul(h ^ Math.floor(part / 4294967296), 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
  }
  return h >>> 0;
}

/** An index drawn with probability proportional to its weight. */
function weighted(rng: Random, weights: readonly number[]): number {
  const total = weights.reduce((sum, w) => sum + w, 0);
  let r = rng.next() * total;
  let last = 0;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] <= 0) continue;
    last = i;
    r -= weights[i];
    if (r < 0) return i;
  }
  return last;
}

// ---------------------------------------------------------------- scene

interface UnitMeta {
  kind: UnitKind;
  condition: Condition;
  truncated: boolean;
}

interface Product {
  kind: UnitKind;
  halfLength: number;
  halfWidth: number;
  body: Rgb;
  cap: Rgb | null;
  core: Rgb;
  coated: boolean;
}

const TABLET_COLOURS: Array<[Rgb, number]> = [
  [[0.93, 0.93, 0.9], 40],
  [[0.92, 0.88, 0.78], 10],
  [[0.95, 0.88, 0.55], 8],
  [[0.93, 0.62, 0.66], 8],
  [[0.62, 0.76, 0.92], 6],
  [[0.95, 0.6, 0.25], 6],
  [[0.68, 0.28, 0.22], 4],
  [[0.66, 0.85, 0.6], 5],
  [[0.76, 0.66, 0.88], 5],
  [[0.96, 0.8, 0.22], 4],
  [[0.25, 0.4, 0.75], 4],
];

const CAPSULE_COLOURS: Rgb[] = [
  [0.82, 0.14, 0.14],
  [0.96, 0.8, 0.15],
  [0.15, 0.35, 0.8],
  [0.56, 0.76, 0.92],
  [0.2, 0.6, 0.3],
  [0.93, 0.93, 0.9],
  [0.96, 0.5, 0.1],
  [0.5, 0.25, 0.62],
  [0.52, 0.1, 0.16],
  [0.1, 0.15, 0.42],
  [0.96, 0.62, 0.72],
  [0.92, 0.86, 0.7],
  [0.12, 0.12, 0.12],
  [0.62, 0.62, 0.62],
];

const SOFTGEL_COLOURS: Rgb[] = [
  [0.88, 0.56, 0.1],
  [0.96, 0.76, 0.2],
  [0.5, 0.24, 0.08],
  [0.96, 0.9, 0.5],
  [0.62, 0.12, 0.05],
  [0.38, 0.52, 0.15],
];

/** What a fracture shows inside a film coat or a capsule: a white core or powder. */
const CORE_WHITE: Rgb = [0.92, 0.9, 0.85];

function sampleScene(rng: Random, s: Settings): { scene: FrameScene; meta: UnitMeta[] } {
  const background = sampleBackground(rng, s);
  const light = sampleLight(rng, s);
  const products = Array.from({ length: 1 + weighted(rng, [45, 35, 20]) }, () => sampleProduct(rng, s));
  const { units, meta } = placeUnits(rng, s, products, background);
  const scene: FrameScene = {
    width: s.width,
    height: s.height,
    background,
    light,
    units,
    blurSigma: rng.range(0.4, 1.1),
    noise: rng.range(0.8, 3.5),
    shotNoise: rng.range(0, 4),
    jpegQuality: s.jpegQuality,
  };
  return { scene, meta };
}

function jitter(rng: Random, c: Rgb, amount: number): Rgb {
  return c.map((v) => Math.min(1, Math.max(0, v + rng.range(-amount, amount)))) as Rgb;
}

function sampleBackground(rng: Random, s: Settings): BackgroundScene {
  // Belts (rubber, PU, fabric) and the plain surfaces pills are photographed on.
  const families: Array<{ weight: number; colours: Rgb[]; belt: boolean }> = [
    { weight: 22, colours: [[0.16, 0.16, 0.17], [0.1, 0.19, 0.14], [0.1, 0.13, 0.22], [0.24, 0.24, 0.24]], belt: true },
    { weight: 18, colours: [[0.2, 0.45, 0.3], [0.2, 0.35, 0.6], [0.45, 0.47, 0.5], [0.55, 0.55, 0.53]], belt: true },
    { weight: 18, colours: [[0.86, 0.87, 0.86], [0.62, 0.76, 0.86], [0.58, 0.76, 0.62], [0.78, 0.8, 0.82]], belt: true },
    {
      weight: 42,
      colours: [
        [0.92, 0.92, 0.9],
        [0.95, 0.88, 0.48],
        [0.55, 0.78, 0.9],
        [0.56, 0.48, 0.6],
        [0.9, 0.72, 0.76],
        [0.2, 0.21, 0.25],
        [0.8, 0.72, 0.6],
        [0.34, 0.3, 0.28],
      ],
      belt: false,
    },
  ];
  const family = families[weighted(rng, families.map((f) => f.weight))];
  const vertical = rng.chance(0.3);
  const acrossSize = vertical ? s.width : s.height;
  const dust = Array.from({ length: rng.int(0, 25) }, () => ({
    x: rng.range(0, s.width),
    y: rng.range(0, s.height),
    r: rng.range(0.4, 1.4),
    colour: (rng.chance(0.5) ? [0.08, 0.08, 0.08] : [0.92, 0.92, 0.9]) as Rgb,
    alpha: rng.range(0.25, 0.7),
  }));
  return {
    colour: jitter(rng, rng.pick(family.colours), 0.04),
    vertical,
    blotch: rng.range(0.02, family.belt ? 0.08 : 0.05),
    mottle: rng.range(0.005, 0.02),
    grain: rng.range(0.01, 0.05),
    streaks: family.belt ? rng.range(0.01, 0.04) : rng.range(0, 0.01),
    weave: family.belt && rng.chance(0.5) ? rng.range(0.01, 0.05) : 0,
    weavePeriod: rng.range(2.5, 6),
    rails:
      family.belt && rng.chance(0.35)
        ? { width: Math.round(acrossSize * rng.range(0.05, 0.12)), colour: jitter(rng, [0.62, 0.63, 0.65], 0.05) }
        : null,
    dust,
  };
}

function sampleLight(rng: Random, s: Settings): LightScene {
  const diffuse = rng.chance(0.4);
  const elevation = (diffuse ? rng.range(60, 85) : rng.range(40, 72)) * (Math.PI / 180);
  const azimuth = rng.range(0, 2 * Math.PI);
  return {
    direction: [Math.cos(elevation) * Math.cos(azimuth), Math.cos(elevation) * Math.sin(azimuth), Math.sin(elevation)],
    ambient: diffuse ? rng.range(0.6, 0.8) : rng.range(0.3, 0.5),
    shadowStrength: diffuse ? rng.range(0.3, 0.6) : rng.range(0.45, 0.75),
    shadowSoftness: diffuse ? rng.range(3, 7) : rng.range(1, 3),
    exposure: rng.range(0.85, 1.1),
    gradient: [rng.range(-0.35, 0.35), rng.range(-0.35, 0.35)],
    vignette: rng.range(0, 0.25),
    hotspot: {
      x: rng.range(0, s.width),
      y: rng.range(0, s.height),
      sigma: rng.range(0.2, 0.5) * s.width,
      amp: rng.range(0, 0.3),
    },
    tint: [1 + rng.range(-0.06, 0.06), 1, 1 + rng.range(-0.06, 0.06)],
  };
}

function sampleProduct(rng: Random, s: Settings): Product {
  const kind = UNIT_KINDS[weighted(rng, [22, 12, 18, 16, 20, 12])];
  const span = s.maxLength - s.minLength;
  // Aspect (width / length) and where in the length range each kind sits.
  const [lengthFrom, lengthTo, aspectFrom, aspectTo] = {
    round: [0, 0.7, 1, 1],
    scored: [0.1, 0.8, 1, 1],
    oval: [0.15, 1, 0.55, 0.75],
    caplet: [0.3, 1, 0.38, 0.5],
    capsule: [0.25, 1, 0.33, 0.42],
    softgel: [0, 1, 0.5, 0.68],
  }[kind];
  const length = s.minLength + span * rng.range(lengthFrom, lengthTo);
  const halfLength = length / 2;
  const halfWidth = halfLength * rng.range(aspectFrom, aspectTo);
  if (kind === 'capsule') {
    const body = jitter(rng, rng.pick(CAPSULE_COLOURS), 0.04);
    const cap = rng.chance(0.15) ? body : jitter(rng, rng.pick(CAPSULE_COLOURS), 0.04);
    return { kind, halfLength, halfWidth, body, cap, core: CORE_WHITE, coated: true };
  }
  if (kind === 'softgel') {
    const body = jitter(rng, rng.pick(SOFTGEL_COLOURS), 0.04);
    // A torn gel shell shows paler than its surface.
    return { kind, halfLength, halfWidth, body, cap: null, core: body.map((v, c) => v + (CORE_WHITE[c] - v) * 0.5) as Rgb, coated: true };
  }
  const body = jitter(rng, TABLET_COLOURS[weighted(rng, TABLET_COLOURS.map(([, w]) => w))][0], 0.03);
  const coated = rng.chance({ round: 0.4, scored: 0.2, oval: 0.6, caplet: 0.8 }[kind]);
  // A fracture through an uncoated tablet is paler and rougher than its pressed surface.
  const core = coated ? CORE_WHITE : (body.map((v, c) => v + (CORE_WHITE[c] - v) * 0.4) as Rgb);
  return { kind, halfLength, halfWidth, body, cap: null, core, coated };
}

/** A unit's footprint for placement: a capsule (segment plus radius) that contains the drawn outline. */
interface Footprint {
  ax: number;
  ay: number;
  bx: number;
  by: number;
  r: number;
  box: Box;
}

function footprint(cx: number, cy: number, angle: number, halfLength: number, halfWidth: number): Footprint {
  const dx = Math.cos(angle) * (halfLength - halfWidth);
  const dy = Math.sin(angle) * (halfLength - halfWidth);
  const ex = Math.abs(halfLength * Math.cos(angle)) + Math.abs(halfWidth * Math.sin(angle));
  const ey = Math.abs(halfLength * Math.sin(angle)) + Math.abs(halfWidth * Math.cos(angle));
  return { ax: cx - dx, ay: cy - dy, bx: cx + dx, by: cy + dy, r: halfWidth, box: { x: cx - ex, y: cy - ey, width: 2 * ex, height: 2 * ey } };
}

/** Distance between the outlines of two footprints (negative: they overlap by that much). */
function gap(p: Footprint, q: Footprint): number {
  return segmentDistance(p.ax, p.ay, p.bx, p.by, q.ax, q.ay, q.bx, q.by) - p.r - q.r;
}

function segmentDistance(ax: number, ay: number, bx: number, by: number, cx: number, cy: number, dx: number, dy: number): number {
  const pointToSegment = (px: number, py: number, sx: number, sy: number, tx: number, ty: number) => {
    const ex = tx - sx;
    const ey = ty - sy;
    const len = ex * ex + ey * ey;
    const t = len > 0 ? Math.min(1, Math.max(0, ((px - sx) * ex + (py - sy) * ey) / len)) : 0;
    return Math.sqrt((px - sx - t * ex) ** 2 + (py - sy - t * ey) ** 2);
  };
  // Crossing segments are 0 apart; otherwise the closest pair involves an endpoint.
  const cross = (ux: number, uy: number, vx: number, vy: number) => ux * vy - uy * vx;
  const d1 = cross(bx - ax, by - ay, cx - ax, cy - ay);
  const d2 = cross(bx - ax, by - ay, dx - ax, dy - ay);
  const d3 = cross(dx - cx, dy - cy, ax - cx, ay - cy);
  const d4 = cross(dx - cx, dy - cy, bx - cx, by - cy);
  if (d1 * d2 < 0 && d3 * d4 < 0) return 0;
  return Math.min(
    pointToSegment(ax, ay, cx, cy, dx, dy),
    pointToSegment(bx, by, cx, cy, dx, dy),
    pointToSegment(cx, cy, ax, ay, bx, by),
    pointToSegment(dx, dy, ax, ay, bx, by),
  );
}

/** Touching units may overlap this much (pixels); their boxes at most this IoU, so NMS keeps both. */
const MAX_OVERLAP = 1;
const MAX_BOX_IOU = 0.35;

function placeUnits(rng: Random, s: Settings, products: Product[], background: BackgroundScene) {
  // The belt area between the rails; units may run off the frame only along the belt.
  const rail = background.rails ? background.rails.width + 3 : 0;
  const area = background.vertical
    ? { x0: rail, x1: s.width - rail, y0: 0, y1: s.height }
    : { x0: 0, x1: s.width, y0: rail, y1: s.height - rail };
  const edges = background.rails ? (background.vertical ? ['top', 'bottom'] : ['left', 'right']) : ['left', 'right', 'top', 'bottom'];
  const target = rng.int(s.minUnits, s.maxUnits);
  const placed: Footprint[] = [];
  const units: UnitScene[] = [];
  const meta: UnitMeta[] = [];
  for (let n = 0; n < target; n++) {
    const product = rng.pick(products);
    const scale = rng.range(0.97, 1.03);
    const halfLength = product.halfLength * scale;
    const halfWidth = product.halfWidth * scale;
    const angle = rng.range(0, Math.PI);
    const ex = Math.abs(halfLength * Math.cos(angle)) + Math.abs(halfWidth * Math.sin(angle));
    const ey = Math.abs(halfLength * Math.sin(angle)) + Math.abs(halfWidth * Math.cos(angle));
    let spot: Footprint | null = null;
    let truncated = false;
    for (let attempt = 0; attempt < 40 && !spot; attempt++) {
      let cx: number;
      let cy: number;
      let runsOff = false;
      if (placed.length && rng.chance(0.35)) {
        // Touch a unit already there: walk out from its centre until the outlines just meet.
        const other = rng.pick(placed);
        const theta = rng.range(0, 2 * Math.PI);
        const ox = (other.ax + other.bx) / 2;
        const oy = (other.ay + other.by) / 2;
        const want = rng.range(-MAX_OVERLAP, 0.3);
        let lo = 0;
        let hi = halfLength + Math.hypot(other.bx - ox, other.by - oy) + other.r + 4;
        for (let k = 0; k < 24; k++) {
          const mid = (lo + hi) / 2;
          const f = footprint(ox + mid * Math.cos(theta), oy + mid * Math.sin(theta), angle, halfLength, halfWidth);
          if (gap(f, other) < want) lo = mid;
          else hi = mid;
        }
        cx = ox + hi * Math.cos(theta);
        cy = oy + hi * Math.sin(theta);
      } else if (rng.chance(0.07)) {
        // Partly out of frame: centre inside, at most about half the unit beyond the edge.
        const edge = rng.pick(edges);
        const depthX = rng.range(0.1, 0.6) * ex;
        const depthY = rng.range(0.1, 0.6) * ey;
        cx = edge === 'left' ? depthX : edge === 'right' ? s.width - depthX : rng.range(area.x0 + ex, area.x1 - ex);
        cy = edge === 'top' ? depthY : edge === 'bottom' ? s.height - depthY : rng.range(area.y0 + ey, area.y1 - ey);
        runsOff = true;
      } else {
        cx = rng.range(area.x0 + ex + 1, area.x1 - ex - 1);
        cy = rng.range(area.y0 + ey + 1, area.y1 - ey - 1);
      }
      const inside = cx - ex >= area.x0 + 1 && cx + ex <= area.x1 - 1 && cy - ey >= area.y0 + 1 && cy + ey <= area.y1 - 1;
      if (!inside) {
        // Off the frame's edge, yes (and then clearly off, not grazing it); onto a rail, no.
        const offFrame = cx - ex < 0 || cx + ex > s.width || cy - ey < 0 || cy + ey > s.height;
        const clearOfRails = background.vertical ? cx - ex >= area.x0 && cx + ex <= area.x1 : cy - ey >= area.y0 && cy + ey <= area.y1;
        if (!runsOff || !offFrame || !clearOfRails) continue;
      }
      const f = footprint(cx, cy, angle, halfLength, halfWidth);
      const clear = placed.every((p) => gap(f, p) >= -MAX_OVERLAP - 0.01 && boxIou(f.box, p.box) <= MAX_BOX_IOU);
      if (!clear) continue;
      spot = f;
      truncated = !inside;
    }
    if (!spot) continue;
    placed.push(spot);
    const condition = truncated ? 'good' : CONDITIONS[weighted(rng, [1 - s.defectRate, ...Array(4).fill(s.defectRate / 4)])];
    const cx = (spot.ax + spot.bx) / 2;
    const cy = (spot.ay + spot.by) / 2;
    const unit = drawableUnit(rng, product, cx, cy, angle, halfLength, halfWidth);
    addDefect(rng, unit, condition);
    units.push(unit);
    meta.push({ kind: product.kind, condition, truncated });
  }
  return { units, meta };
}

function drawableUnit(rng: Random, p: Product, cx: number, cy: number, angle: number, halfLength: number, halfWidth: number): UnitScene {
  const capsuleLike = p.kind === 'capsule' || p.kind === 'softgel';
  const round = p.kind === 'round' || p.kind === 'scored';
  return {
    cx,
    cy,
    angle,
    halfLength,
    halfWidth: round ? halfLength : halfWidth,
    shape: p.kind === 'caplet' || p.kind === 'capsule' ? 'stadium' : 'ellipse',
    profile: capsuleLike ? 'cylinder' : 'tablet',
    bevel: Math.max(1.5, halfWidth * rng.range(0.14, 0.26)),
    dome: rng.range(0.08, 0.35),
    body: p.body,
    cap: p.cap,
    capJoin: p.cap ? halfLength * rng.range(-0.2, 0.05) : 0,
    core: p.core,
    specular: p.kind === 'softgel' ? rng.range(0.6, 1) : p.coated ? rng.range(0.25, 0.6) : rng.range(0.04, 0.12),
    shininess: p.kind === 'softgel' ? rng.range(50, 120) : p.coated ? rng.range(20, 60) : rng.range(6, 12),
    speckle: p.coated ? rng.range(0.004, 0.015) : rng.range(0.03, 0.07),
    translucent: p.kind === 'softgel',
    scored: p.kind === 'scored',
    chip: null,
    cut: null,
    cracks: [],
    spots: [],
    textureSeed: rng.int(0, 0x7fffffff),
    thickness: capsuleLike ? 2 * halfWidth : halfWidth * rng.range(0.6, 1),
  };
}

// ---------------------------------------------------------------- defects

/** The rim point in direction phi from the centre, and the outward normal there. */
function rimPoint(shape: (u: number, v: number) => number, halfLength: number, phi: number) {
  const cu = Math.cos(phi);
  const cv = Math.sin(phi);
  let lo = 0;
  let hi = halfLength + 2;
  for (let k = 0; k < 30; k++) {
    const mid = (lo + hi) / 2;
    if (shape(mid * cu, mid * cv) < 0) lo = mid;
    else hi = mid;
  }
  const u = lo * cu;
  const v = lo * cv;
  const e = 0.25;
  const gu = shape(u + e, v) - shape(u - e, v);
  const gv = shape(u, v + e) - shape(u, v - e);
  const len = Math.hypot(gu, gv) || 1;
  return { u, v, nu: gu / len, nv: gv / len };
}

/** A point at least `depth` inside the outline, or null when there is none near. */
function innerPoint(rng: Random, unit: UnitScene, shape: (u: number, v: number) => number, depth: number): [number, number] | null {
  for (let k = 0; k < 50; k++) {
    const u = rng.range(-unit.halfLength, unit.halfLength);
    const v = rng.range(-unit.halfWidth, unit.halfWidth);
    if (shape(u, v) <= -depth) return [u, v];
  }
  return null;
}

function addDefect(rng: Random, unit: UnitScene, condition: Condition): void {
  const shape = unitOutline(unit);
  const a = unit.halfLength;
  const b = unit.halfWidth;
  // The surface where a mark lands (two-tone capsules differ end to end).
  const surfaceAt = (u: number) => (unit.cap && u > unit.capJoin ? unit.cap : unit.body);
  switch (condition) {
    case 'good':
      return;
    case 'edge_defect': {
      // A bite out of the rim, showing the core: large enough to read at 64 px.
      const rim = rimPoint(shape, a, rng.range(0, 2 * Math.PI));
      // Sized by length and width together, so a thin capsule's chip still shows; never through its width.
      const r = Math.min(0.8 * b, Math.max(3.5, Math.sqrt(a * b) * rng.range(0.35, 0.55)));
      const out = r * rng.range(0.1, 0.35);
      unit.chip = { u: rim.u + rim.nu * out, v: rim.v + rim.nv * out, r, phases: [rng.range(0, 6.3), rng.range(0, 6.3)] };
      return;
    }
    case 'broken': {
      // A jagged break across the unit (mostly across its length): about 35-60 % of it gone.
      const across = a === b ? rng.range(0, 2 * Math.PI) : (rng.chance(0.5) ? 0 : Math.PI) + rng.range(-0.6, 0.6);
      const nu = Math.cos(across);
      const nv = Math.sin(across);
      const reach = Math.sqrt((a * nu) ** 2 + (b * nv) ** 2);
      unit.cut = {
        nu,
        nv,
        offset: reach * rng.range(-0.2, 0.25),
        // One long wave bends the break, shorter and weaker ones roughen it: [amplitude, wavelength] / half-width.
        waves: [[0.14, 0.6], [0.1, 0.28], [0.05, 0.12]].map(([amp, wavelength]) => ({
          amp: b * amp * rng.range(0.5, 1),
          freq: (2 * Math.PI) / (b * wavelength * rng.range(1.5, 3)),
          phase: rng.range(0, 2 * Math.PI),
        })),
      };
      return;
    }
    case 'crack': {
      // Rim to rim across the unit, kinked.
      const width = Math.min(2.2, Math.max(1.1, 0.1 * b));
      const start = a === b ? rng.range(0, 2 * Math.PI) : (rng.chance(0.5) ? 1 : -1) * (Math.PI / 2) + rng.range(-0.9, 0.9);
      const main = crackPath(rng, shape, a, start, start + Math.PI + rng.range(-0.6, 0.6), width);
      unit.cracks.push(main);
      if (rng.chance(0.4)) {
        const from = main.points[Math.floor(main.points.length / 2)];
        const rim = rimPoint(shape, a, rng.range(0, 2 * Math.PI));
        unit.cracks.push({ points: wobblyLine(rng, from, [rim.u + rim.nu, rim.v + rim.nv], 3), width: width * 0.8 });
      }
      return;
    }
    case 'spot': {
      if (rng.chance(0.6)) {
        // Specks of dirt or foreign particles.
        const count = rng.int(1, 3);
        for (let k = 0; k < count; k++) {
          const r = rng.range(Math.max(2.5, 0.15 * b), Math.max(3.5, 0.26 * b));
          const at = innerPoint(rng, unit, shape, r + 1);
          if (at) unit.spots.push(spotAt(rng, at, r, contrasting(rng, SPECK_COLOURS, surfaceAt(at[0])), rng.range(0.85, 1), 0.8));
        }
      }
      if (!unit.spots.length) {
        // Discolouration: a soft patch, as wide as a thin unit.
        const r = Math.min(b, Math.sqrt(a * b) * rng.range(0.45, 0.7));
        const at = innerPoint(rng, unit, shape, r * 0.4 + 1) ?? [0, 0];
        unit.spots.push(spotAt(rng, at, r, contrasting(rng, PATCH_COLOURS, surfaceAt(at[0])), rng.range(0.65, 0.85), Math.max(1.5, 0.3 * r)));
      }
      return;
    }
  }
}

const SPECK_COLOURS: Rgb[] = [[0.28, 0.16, 0.08], [0.1, 0.1, 0.1], [0.35, 0.3, 0.36], [0.48, 0.26, 0.1], [0.93, 0.91, 0.86], [0.86, 0.8, 0.6]];
const PATCH_COLOURS: Rgb[] = [[0.72, 0.5, 0.18], [0.5, 0.5, 0.46], [0.78, 0.42, 0.2], [0.88, 0.84, 0.72], [0.35, 0.28, 0.22]];

/** A colour that stands out on `surface`: any far enough from it, else the farthest. */
function contrasting(rng: Random, colours: Rgb[], surface: Rgb): Rgb {
  const distance = (c: Rgb) => Math.hypot(c[0] - surface[0], c[1] - surface[1], c[2] - surface[2]);
  const far = colours.filter((c) => distance(c) >= 0.45);
  return far.length ? rng.pick(far) : colours.reduce((best, c) => (distance(c) > distance(best) ? c : best));
}

function spotAt(rng: Random, [u, v]: [number, number], r: number, colour: Rgb, strength: number, softness: number): Spot {
  return { u, v, r, colour, strength, softness, phases: [rng.range(0, 6.3), rng.range(0, 6.3)] };
}

function crackPath(rng: Random, shape: (u: number, v: number) => number, a: number, from: number, to: number, width: number): Crack {
  const p = rimPoint(shape, a, from);
  const q = rimPoint(shape, a, to);
  // Start and end just past the rim so the crack reaches the edge.
  return { points: wobblyLine(rng, [p.u + p.nu, p.v + p.nv], [q.u + q.nu, q.v + q.nv], rng.int(3, 5)), width };
}

function wobblyLine(rng: Random, [au, av]: [number, number], [bu, bv]: [number, number], segments: number): Array<[number, number]> {
  const length = Math.hypot(bu - au, bv - av);
  const nu = -(bv - av) / (length || 1);
  const nv = (bu - au) / (length || 1);
  const points: Array<[number, number]> = [[au, av]];
  for (let k = 1; k < segments; k++) {
    const t = k / segments;
    const side = rng.range(-0.12, 0.12) * length;
    points.push([au + (bu - au) * t + nu * side, av + (bv - av) * t + nv * side]);
  }
  points.push([bu, bv]);
  return points;
}

// ---------------------------------------------------------------- dataset

export interface DatasetOptions extends FrameOptions {
  out: string;
  frames: number;
  seed: number;
  /** Share of frames (the last ones) written to the val split (default 0.2). */
  valFraction?: number;
  /** Write into a folder that is not empty, replacing DIR/detect and DIR/classify (otherwise that is an error). */
  overwrite?: boolean;
}

export interface DatasetSummary {
  out: string;
  frames: number;
  train: number;
  val: number;
  units: number;
  /** Whole units per condition (each has one crop in classify/). */
  byCondition: Record<Condition, number>;
  byKind: Record<UnitKind, number>;
  /** Units cut by the frame's edge: labelled for detection, no crop. */
  truncated: number;
}


export async function writeDataset(options: DatasetOptions): Promise<DatasetSummary> {
  const settings = resolveFrameOptions(options);
  const { frames, seed } = options;
  const valFraction = options.valFraction ?? 0.2;
  if (!Number.isInteger(frames) || frames < 1) throw new Error(`frames must be a whole number, at least 1, got ${frames}`);
  if (!Number.isSafeInteger(seed)) throw new Error(`seed must be a whole number, got ${seed}`);
  if (!Number.isFinite(valFraction) || valFraction < 0 || valFraction >= 1) throw new Error(`val fraction must be from 0 to below 1, got ${valFraction}`);
  const out = path.resolve(options.out);
  const detect = path.join(out, 'detect');
  const classify = path.join(out, 'classify');
  // Only into an empty (or new) folder, unless asked: a mistyped --out must not fill a home folder.
  if (existsSync(out) && readdirSync(out).length && !options.overwrite) {
    throw new Error(`${out} is not empty; choose an empty or new folder, or replace the dataset in it (avi synth --overwrite)`);
  }
  for (const dir of [detect, classify]) await fs.rm(dir, { recursive: true, force: true });
  const val = valFraction > 0 && frames > 1 ? Math.min(frames - 1, Math.max(1, Math.round(frames * valFraction))) : 0;
  const splits = val ? ['train', 'val'] : ['train'];
  for (const split of splits) {
    await fs.mkdir(path.join(detect, 'images', split), { recursive: true });
    await fs.mkdir(path.join(detect, 'labels', split), { recursive: true });
    for (const condition of CONDITIONS) await fs.mkdir(path.join(classify, split, condition), { recursive: true });
  }

  const summary: DatasetSummary = {
    out,
    frames,
    train: frames - val,
    val,
    units: 0,
    byCondition: Object.fromEntries(CONDITIONS.map((c) => [c, 0])) as Record<Condition, number>,
    byKind: Object.fromEntries(UNIT_KINDS.map((k) => [k, 0])) as Record<UnitKind, number>,
    truncated: 0,
  };
  const coco = Object.fromEntries(splits.map((split) => [split, emptyCoco()])) as Record<string, Coco>;
  for (let index = 0; index < frames; index++) {
    const split = index < frames - val ? 'train' : 'val';
    const name = `frame-${String(index + 1).padStart(6, '0')}`;
    const frame = await synthesizeFrame({ ...settings, seed, index });
    await fs.writeFile(path.join(detect, 'images', split, `${name}.jpg`), frame.jpeg);
    await fs.writeFile(path.join(detect, 'labels', split, `${name}.txt`), yoloLabels(frame));
    addToCoco(coco[split], `${name}.jpg`, frame);
    const decoded = await sharp(frame.jpeg).raw().toBuffer({ resolveWithObject: true });
    const pixels = { width: decoded.info.width, height: decoded.info.height, data: decoded.data };
    await Promise.all(
      frame.units.map(async (unit, k) => {
        summary.units++;
        summary.byKind[unit.kind]++;
        if (unit.truncated) {
          summary.truncated++;
          return;
        }
        summary.byCondition[unit.condition]++;
        // Cut as avi-crop cuts by default (10 % padding), so training sees what inference sees.
        const crop = extract(pixels, cropBox(unit.box, frame.width, frame.height, DEFAULT_CROP_OPTIONS));
        const png = await sharp(crop.data, { raw: { width: crop.width, height: crop.height, channels: 3 } }).png().toBuffer();
        await fs.writeFile(path.join(classify, split, unit.condition, `${name}-u${String(k + 1).padStart(2, '0')}.png`), png);
      }),
    );
  }

  for (const split of splits) {
    await fs.writeFile(path.join(detect, 'images', split, COCO_FILE), JSON.stringify(coco[split]));
  }
  await fs.writeFile(path.join(detect, 'data.yaml'), dataYaml(detect, val > 0));
  await fs.writeFile(path.join(classify, 'classes.txt'), `${CONDITIONS.join('\n')}\n`);
  await fs.writeFile(
    path.join(out, 'synth.json'),
    `${JSON.stringify({ generator: 'avi synth', seed, frames, valFraction, options: settings, summary: { ...summary, out: undefined } }, null, 2)}\n`,
  );
  return summary;
}

/** Roboflow's name for a split's COCO file, beside that split's images. */

interface Coco {
  info: { description: string };
  categories: Array<{ id: number; name: string; supercategory: string }>;
  images: Array<{ id: number; file_name: string; width: number; height: number }>;
  annotations: Array<{
    id: number;
    image_id: number;
    category_id: number;
    bbox: [number, number, number, number];
    area: number;
    iscrowd: 0;
    segmentation: [];
    attributes: { kind: UnitKind; condition: Condition; truncated: boolean };
  }>;
}

function emptyCoco(): Coco {
  return {
    info: { description: 'avi synth: synthetic pill line' },
    // COCO numbers categories from 1; YOLO class = position in this list (pill: 0).
    categories: [{ id: 1, name: DETECT_CLASS, supercategory: 'none' }],
    images: [],
    annotations: [],
  };
}

function addToCoco(coco: Coco, fileName: string, frame: SynthFrame): void {
  const imageId = coco.images.length + 1;
  coco.images.push({ id: imageId, file_name: fileName, width: frame.width, height: frame.height });
  for (const unit of frame.units) {
    const { x, y, width, height } = unit.box;
    coco.annotations.push({
      id: coco.annotations.length + 1,
      image_id: imageId,
      category_id: 1,
      bbox: [x, y, width, height],
      area: width * height,
      iscrowd: 0,
      segmentation: [],
      attributes: { kind: unit.kind, condition: unit.condition, truncated: unit.truncated },
    });
  }
}

/** YOLO: one line per unit, `class cx cy w h`, normalised to the frame. */
function yoloLabels(frame: SynthFrame): string {
  return frame.units
    .map(({ box }) => {
      const values = [
        (box.x + box.width / 2) / frame.width,
        (box.y + box.height / 2) / frame.height,
        box.width / frame.width,
        box.height / frame.height,
      ];
      return `0 ${values.map((v) => v.toFixed(6)).join(' ')}\n`;
    })
    .join('');
}

function dataYaml(detectDir: string, hasVal: boolean): string {
  // Ultralytics resolves a relative `path` against its datasets folder, not this file: write it absolute.
  const body = toYaml({
    path: detectDir,
    train: 'images/train',
    val: hasVal ? 'images/val' : 'images/train',
    nc: 1,
    names: new Map([[0, DETECT_CLASS]]),
  });
  return `# avi synth: one class; every tablet and capsule is a "${DETECT_CLASS}"\n${body}`;
}
