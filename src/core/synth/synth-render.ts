// Rasteriser for the synthetic pill line (src/core/synth.ts decides what is in a frame, this file
// draws it). Shapes are signed distance functions in each unit's own frame (u along the long axis,
// v across), so edges get analytic anti-aliasing, the distance to the rim gives the 3-D profile and
// defects are set operations on the shape. Output is blurred and encoded by sharp; sensor noise comes
// from the caller's seeded PRNG, so the same scene and seed give the same bytes.
import sharp from 'sharp';
import type { Box } from '../types';
import type { Random } from './random';

/** Colour with channels in 0..1 (display values, no gamma handling: this is a look, not a light simulation). */
export type Rgb = [number, number, number];

/** A bite out of the rim, centred on (u, v), radius r, its outline wobbled by two phases. */
export interface Chip {
  u: number;
  v: number;
  r: number;
  phases: [number, number];
}

/** Everything beyond the line n·p = offset + jag(s) is gone (s runs along the line). */
export interface Cut {
  nu: number;
  nv: number;
  offset: number;
  waves: Array<{ amp: number; freq: number; phase: number }>;
}

/** A crack shows dark on a light surface and pale (the core) on a dark one. */
export interface Crack {
  points: Array<[number, number]>;
  width: number;
}

const CRACK_DARK: Rgb = [0.12, 0.1, 0.09];
const CRACK_PALE: Rgb = [0.88, 0.86, 0.8];

export interface Spot {
  u: number;
  v: number;
  r: number;
  colour: Rgb;
  /** 0..1: how much of the spot's colour replaces the surface. */
  strength: number;
  /** Edge ramp in pixels: about 1 for a speck, several for a discoloured patch. */
  softness: number;
  phases: [number, number];
}

export interface UnitScene {
  cx: number;
  cy: number;
  /** Radians, the long axis from the image x axis (y down). */
  angle: number;
  halfLength: number;
  halfWidth: number;
  shape: 'ellipse' | 'stadium';
  /** 'tablet': rounded bevel then a low dome; 'cylinder': round cross-section (capsule, softgel). */
  profile: 'tablet' | 'cylinder';
  /** Bevel width in pixels (tablet profile). */
  bevel: number;
  /** Slope of the dome at the bevel's inner edge (0 flat .. 0.4 strongly biconvex). */
  dome: number;
  body: Rgb;
  /** Second colour of a two-tone capsule, on the side u > capJoin. */
  cap: Rgb | null;
  capJoin: number;
  /** What a fracture shows: the tablet core or the capsule's powder. */
  core: Rgb;
  specular: number;
  shininess: number;
  /** Albedo grain amplitude (uncoated tablets are grainy, film coats smooth). */
  speckle: number;
  translucent: boolean;
  scored: boolean;
  chip: Chip | null;
  cut: Cut | null;
  cracks: Crack[];
  spots: Spot[];
  textureSeed: number;
  /** Height of the unit in pixels, for the length of its shadow. */
  thickness: number;
}

export interface BackgroundScene {
  colour: Rgb;
  /** The belt runs along y instead of x. */
  vertical: boolean;
  /** Amplitudes, relative to the colour: blotches, finer mottling, pixel grain, streaks along the belt. */
  blotch: number;
  mottle: number;
  grain: number;
  streaks: number;
  /** Fabric weave: amplitude and period in pixels (0 amplitude: smooth rubber or a plain surface). */
  weave: number;
  weavePeriod: number;
  /** Guide rails along both sides of the belt: width in pixels and metal colour. */
  rails: { width: number; colour: Rgb } | null;
  dust: Array<{ x: number; y: number; r: number; colour: Rgb; alpha: number }>;
}

export interface LightScene {
  /** Unit vector towards the light (x right, y down, z towards the camera). */
  direction: [number, number, number];
  /** Share of light that does not come from the main direction (0.3 hard light .. 0.8 diffuse dome). */
  ambient: number;
  shadowStrength: number;
  shadowSoftness: number;
  exposure: number;
  /** Linear fall-off across the frame: relative change per frame diagonal, along x and y. */
  gradient: [number, number];
  vignette: number;
  hotspot: { x: number; y: number; sigma: number; amp: number };
  /** White balance: per-channel gain. */
  tint: Rgb;
}

export interface FrameScene {
  width: number;
  height: number;
  background: BackgroundScene;
  light: LightScene;
  units: UnitScene[];
  blurSigma: number;
  /** Sensor noise in 8-bit levels: constant part and shot part (times sqrt of the level / 255). */
  noise: number;
  shotNoise: number;
  jpegQuality: number;
}

export interface RenderedFrame {
  jpeg: Buffer;
  /** Per unit, in scene order: its visible outline's box (coverage >= 0.5), or null when nothing is visible. */
  boxes: Array<Box | null>;
}

export async function renderFrame(scene: FrameScene, rng: Random): Promise<RenderedFrame> {
  const { width, height } = scene;
  const albedo = renderBackground(scene, rng);
  const shadow = new Float32Array(width * height);
  for (const unit of scene.units) castShadow(unit, scene, shadow);
  const rgb = lightBackground(albedo, shadow, scene.light.ambient);
  const boxes = scene.units.map((unit) => drawUnit(unit, scene, rgb));
  const pixels = finish(rgb, scene);
  const blurred = await sharp(pixels, { raw: { width, height, channels: 3 } })
    .blur(scene.blurSigma)
    .raw()
    .toBuffer();
  addSensorNoise(blurred, scene.noise, scene.shotNoise, rng);
  const jpeg = await sharp(blurred, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: scene.jpegQuality })
    .toBuffer();
  return { jpeg, boxes };
}

// ---------------------------------------------------------------- background

function renderBackground(scene: FrameScene, rng: Random): Float32Array {
  const { width, height } = scene;
  const bg = scene.background;
  const out = new Float32Array(width * height * 3);
  const blotch = valueNoise(rng, width, height, 90 + rng.next() * 80);
  const mottle = valueNoise(rng, width, height, 10 + rng.next() * 14);
  const acrossSize = bg.vertical ? width : height;
  const streak = streakProfile(rng, acrossSize);
  const weavePhase = rng.next() * Math.PI * 2;
  const rails = bg.rails;
  // Weave: a product of a wave along the belt and one across it, tabulated per line.
  const k = (2 * Math.PI) / bg.weavePeriod;
  const weaveAlong = Float32Array.from({ length: bg.vertical ? height : width }, (_, i) => bg.weave * Math.sin(k * i + weavePhase));
  const weaveAcross = Float32Array.from({ length: acrossSize }, (_, i) => Math.sin(k * i));
  const grainSeed = rng.int(0, 0x7fffffff);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const along = bg.vertical ? y : x;
      const across = bg.vertical ? x : y;
      const grain = bg.grain * (2 * hash01(x, y, grainSeed) - 1);
      let shade = 1 + bg.blotch * blotch[i] + bg.mottle * mottle[i] + bg.streaks * streak[across] + weaveAlong[along] * weaveAcross[across] + grain;
      let colour = bg.colour;
      if (rails) {
        const fromEdge = Math.min(across, acrossSize - 1 - across);
        if (fromEdge < rails.width) {
          colour = rails.colour;
          shade = railShade(fromEdge / rails.width, rails.width - fromEdge) + 2.5 * bg.streaks * streak[across] + 0.5 * grain;
        }
      }
      out[i * 3] = colour[0] * shade;
      out[i * 3 + 1] = colour[1] * shade;
      out[i * 3 + 2] = colour[2] * shade;
    }
  }
  for (const speck of bg.dust) paintDisc(out, width, height, speck.x, speck.y, speck.r, speck.colour, speck.alpha);
  return out;
}

/** Brushed metal rail seen from above: a bright bead a third of the way in, a dark gap at the belt. */
function railShade(position: number, pixelsToBelt: number): number {
  const bead = Math.exp(-((position - 0.35) ** 2) / 0.01);
  const gap = pixelsToBelt < 2.5 ? 0.35 : 1;
  return (0.75 + 0.3 * position + 0.45 * bead) * gap;
}

/** Smooth noise in -1..1 with features about `cell` pixels across (bilinear over a random grid, smoothstep weights). */
function valueNoise(rng: Random, width: number, height: number, cell: number): Float32Array {
  const gw = Math.ceil(width / cell) + 2;
  const gh = Math.ceil(height / cell) + 2;
  const grid = new Float32Array(gw * gh);
  for (let i = 0; i < grid.length; i++) grid[i] = rng.next() * 2 - 1;
  // Column positions are the same on every row: work them out once.
  const column = new Int32Array(width);
  const columnWeight = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const gx = x / cell;
    column[x] = Math.floor(gx);
    columnWeight[x] = smooth(gx - column[x]);
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const gy = y / cell;
    const iy = Math.floor(gy);
    const fy = smooth(gy - iy);
    const top = iy * gw;
    const bottom = top + gw;
    for (let x = 0; x < width; x++) {
      const ix = column[x];
      const fx = columnWeight[x];
      const upper = grid[top + ix] + (grid[top + ix + 1] - grid[top + ix]) * fx;
      const lower = grid[bottom + ix] + (grid[bottom + ix + 1] - grid[bottom + ix]) * fx;
      out[y * width + x] = upper + (lower - upper) * fy;
    }
  }
  return out;
}

/** Streaks along the belt: one value per line across it, lightly smoothed so they are 1-3 px wide. */
function streakProfile(rng: Random, size: number): Float32Array {
  const raw = new Float32Array(size);
  for (let i = 0; i < size; i++) raw[i] = rng.next() * 2 - 1;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const prev = raw[Math.max(0, i - 1)];
    const next = raw[Math.min(size - 1, i + 1)];
    out[i] = (prev + 2 * raw[i] + next) / 4;
  }
  return out;
}

function paintDisc(out: Float32Array, width: number, height: number, cx: number, cy: number, r: number, colour: Rgb, alpha: number): void {
  const x0 = Math.max(0, Math.floor(cx - r - 1));
  const x1 = Math.min(width - 1, Math.ceil(cx + r + 1));
  const y0 = Math.max(0, Math.floor(cy - r - 1));
  const y1 = Math.min(height - 1, Math.ceil(cy + r + 1));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const d = Math.sqrt((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2) - r;
      const a = alpha * clamp01(0.5 - d);
      if (a <= 0) continue;
      const i = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) out[i + c] += (colour[c] - out[i + c]) * a;
    }
  }
}

function lightBackground(albedo: Float32Array, shadow: Float32Array, ambient: number): Float32Array {
  for (let i = 0; i < shadow.length; i++) {
    const light = ambient + (1 - ambient) * (1 - shadow[i]);
    albedo[i * 3] *= light;
    albedo[i * 3 + 1] *= light;
    albedo[i * 3 + 2] *= light;
  }
  return albedo;
}

// ---------------------------------------------------------------- unit geometry

interface Geometry {
  cos: number;
  sin: number;
  /** Outline of the intact unit. */
  shape: (u: number, v: number) => number;
  /** Where material is gone (chip, break): negative where it is kept; null when intact. */
  kept: ((u: number, v: number) => number) | null;
  /** Half-extent of the unit's axis-aligned box in the image. */
  extentX: number;
  extentY: number;
}

function geometry(unit: UnitScene): Geometry {
  const cos = Math.cos(unit.angle);
  const sin = Math.sin(unit.angle);
  const a = unit.halfLength;
  const b = unit.halfWidth;
  let shape: (u: number, v: number) => number;
  if (unit.shape === 'stadium') {
    const half = a - b;
    shape = (u, v) => {
      const q = Math.max(Math.abs(u) - half, 0);
      return Math.sqrt(q * q + v * v) - b;
    };
  } else if (a === b) {
    shape = (u, v) => Math.sqrt(u * u + v * v) - a;
  } else {
    // Ellipse: first-order distance (Inigo Quilez), exact on the outline, close within the bevel.
    const ia = 1 / a;
    const ib = 1 / b;
    shape = (u, v) => {
      const k0 = Math.sqrt(u * u * ia * ia + v * v * ib * ib);
      const k1 = Math.sqrt(u * u * ia * ia * ia * ia + v * v * ib * ib * ib * ib);
      return k1 < 1e-9 ? -b : (k0 * (k0 - 1)) / k1;
    };
  }
  const { chip, cut } = unit;
  let kept: Geometry['kept'] = null;
  if (chip || cut) {
    kept = (u, v) => {
      let d = -Infinity;
      if (chip) {
        const du = u - chip.u;
        const dv = v - chip.v;
        const phi = Math.atan2(dv, du);
        const r = chip.r * (1 + 0.16 * Math.sin(3 * phi + chip.phases[0]) + 0.08 * Math.sin(7 * phi + chip.phases[1]));
        d = Math.max(d, r - Math.sqrt(du * du + dv * dv));
      }
      if (cut) {
        const s = -cut.nv * u + cut.nu * v;
        let jag = 0;
        let slope = 0;
        for (const w of cut.waves) {
          jag += w.amp * Math.sin(w.freq * s + w.phase);
          slope += w.amp * w.freq * Math.cos(w.freq * s + w.phase);
        }
        d = Math.max(d, (cut.nu * u + cut.nv * v - cut.offset - jag) / Math.sqrt(1 + slope * slope));
      }
      return d;
    };
  }
  const extentX = Math.abs(a * cos) + Math.abs(b * sin);
  const extentY = Math.abs(a * sin) + Math.abs(b * cos);
  return { cos, sin, shape, kept, extentX, extentY };
}

/** Signed distance to the intact unit's outline, in its own frame (u along the long axis, v across). */
export function unitOutline(unit: UnitScene): (u: number, v: number) => number {
  return geometry(unit).shape;
}

function outline(g: Geometry, u: number, v: number): number {
  const d = g.shape(u, v);
  return g.kept ? Math.max(d, g.kept(u, v)) : d;
}

/** Pixel rectangle [x0, x1] x [y0, y1] around the unit (grown by `grow`), clipped to the frame; null when off-frame. */
function pixelRect(unit: UnitScene, g: Geometry, grow: number, dx: number, dy: number, width: number, height: number) {
  const x0 = Math.max(0, Math.floor(unit.cx + dx - g.extentX - grow));
  const x1 = Math.min(width - 1, Math.ceil(unit.cx + dx + g.extentX + grow));
  const y0 = Math.max(0, Math.floor(unit.cy + dy - g.extentY - grow));
  const y1 = Math.min(height - 1, Math.ceil(unit.cy + dy + g.extentY + grow));
  return x0 > x1 || y0 > y1 ? null : { x0, x1, y0, y1 };
}

// ---------------------------------------------------------------- shadows

/** Soft drop shadow away from the light plus a tight contact shadow, max-combined into `shadow` (0..1). */
function castShadow(unit: UnitScene, scene: FrameScene, shadow: Float32Array): void {
  const { width, height, light } = scene;
  const g = geometry(unit);
  const [lx, ly, lz] = light.direction;
  const reach = (unit.thickness * 0.6) / Math.max(lz, 0.2);
  const sx = -lx * reach;
  const sy = -ly * reach;
  const soft = light.shadowSoftness + 0.15 * Math.sqrt(sx * sx + sy * sy);
  const strength = light.shadowStrength * (unit.translucent ? 0.55 : 1);
  const contactReach = 1.5 + 0.12 * unit.halfWidth;
  const rect = pixelRect(unit, g, Math.max(Math.abs(sx), Math.abs(sy)) + 2 * soft + contactReach, 0, 0, width, height);
  if (!rect) return;
  for (let y = rect.y0; y <= rect.y1; y++) {
    for (let x = rect.x0; x <= rect.x1; x++) {
      const px = x + 0.5 - unit.cx;
      const py = y + 0.5 - unit.cy;
      const cast = outline(g, (px - sx) * g.cos + (py - sy) * g.sin, -(px - sx) * g.sin + (py - sy) * g.cos);
      let s = strength * clamp01(0.5 - cast / (2 * soft));
      const contact = outline(g, px * g.cos + py * g.sin, -px * g.sin + py * g.cos);
      if (contact > 0) s = Math.max(s, 0.5 * light.shadowStrength * clamp01(1 - contact / contactReach) ** 2);
      const i = y * width + x;
      if (s > shadow[i]) shadow[i] = s;
    }
  }
}

// ---------------------------------------------------------------- units

/** Paints one unit over `rgb` and returns the box of its pixels with coverage >= 0.5. */
function drawUnit(unit: UnitScene, scene: FrameScene, rgb: Float32Array): Box | null {
  const { width, height, light } = scene;
  const g = geometry(unit);
  const rect = pixelRect(unit, g, 2, 0, 0, width, height);
  if (!rect) return null;
  // Light and half-vector in the unit's own frame.
  const [lx, ly, lz] = light.direction;
  const lu = lx * g.cos + ly * g.sin;
  const lv = -lx * g.sin + ly * g.cos;
  const hLen = Math.sqrt(lu * lu + lv * lv + (lz + 1) ** 2);
  const hu = lu / hLen;
  const hv = lv / hLen;
  const hz = (lz + 1) / hLen;
  const diffuse = (1 - light.ambient) / lz; // a flat top facing the camera shows its albedo
  const b = unit.halfWidth;
  const fractureBand = unit.cut ? Math.max(1.8, 0.14 * b) : Math.max(1.5, 0.35 * (unit.chip?.r ?? 0));
  const grooveWidth = Math.max(0.9, 0.08 * b);
  const e = 0.5;
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  const colour: Rgb = [0, 0, 0];
  for (let y = rect.y0; y <= rect.y1; y++) {
    for (let x = rect.x0; x <= rect.x1; x++) {
      const px = x + 0.5 - unit.cx;
      const py = y + 0.5 - unit.cy;
      const u = px * g.cos + py * g.sin;
      const v = -px * g.sin + py * g.cos;
      const ds = g.shape(u, v);
      if (ds > 1) continue;
      const dk = g.kept ? g.kept(u, v) : -Infinity;
      const coverage = clamp01(0.5 - Math.max(ds, dk));
      if (coverage <= 0) continue;

      // Surface normal from the height profile: h rises with the distance t from the rim.
      const t = -ds;
      let gu = g.shape(u + e, v) - g.shape(u - e, v);
      let gv = g.shape(u, v + e) - g.shape(u, v - e);
      const gl = Math.sqrt(gu * gu + gv * gv) || 1;
      gu /= gl;
      gv /= gl;
      const slope = profileSlope(unit, t);
      let nu = slope * gu;
      let nv = slope * gv;
      let nz = 1;
      let specular = unit.specular;
      let shadeFactor = 1;

      const base = unit.cap && u > unit.capJoin ? unit.cap : unit.body;
      const grain = unit.speckle * (hash01(x, y, unit.textureSeed) + hash01(x >> 1, y >> 1, unit.textureSeed + 1) - 1);
      let r = base[0] * (1 + grain);
      let gr = base[1] * (1 + grain);
      let bl = base[2] * (1 + grain);
      if (unit.translucent) shadeFactor *= 0.6 + 0.6 * clamp01(t / b);
      if (unit.cap && Math.abs(u - unit.capJoin) < 1) shadeFactor *= 0.7; // the cap's rim over the body
      if (unit.scored && t > unit.bevel && Math.abs(u) < grooveWidth) {
        nu -= (1.3 * u) / grooveWidth;
        shadeFactor *= 0.88;
      }

      for (const spot of unit.spots) {
        const du = u - spot.u;
        const dv = v - spot.v;
        const phi = Math.atan2(dv, du);
        const radius = spot.r * (1 + 0.12 * Math.sin(2 * phi + spot.phases[0]) + 0.06 * Math.sin(5 * phi + spot.phases[1]));
        const a = spot.strength * clamp01((radius - Math.sqrt(du * du + dv * dv)) / spot.softness + 0.5);
        if (a <= 0) continue;
        r += (spot.colour[0] - r) * a;
        gr += (spot.colour[1] - gr) * a;
        bl += (spot.colour[2] - bl) * a;
        specular *= 1 - 0.5 * a;
      }
      for (const crack of unit.cracks) {
        const a = clamp01(crack.width / 2 + 0.5 - polylineDistance(crack.points, u, v));
        if (a <= 0) continue;
        const c = 0.3 * r + 0.59 * gr + 0.11 * bl > 0.4 ? CRACK_DARK : CRACK_PALE;
        r += (c[0] - r) * a;
        gr += (c[1] - gr) * a;
        bl += (c[2] - bl) * a;
        specular *= 1 - a;
      }
      if (g.kept && dk > -fractureBand) {
        // Fracture face: a steep, rough, matte wall of core material.
        const f = clamp01(1 + dk / fractureBand);
        let ku = g.kept(u + e, v) - g.kept(u - e, v);
        let kv = g.kept(u, v + e) - g.kept(u, v - e);
        const kl = Math.sqrt(ku * ku + kv * kv) || 1;
        ku /= kl;
        kv /= kl;
        const rough = hash01(x, y, unit.textureSeed + 2) - 0.5;
        const steep = 1.6 + 1.2 * rough;
        nu += (ku * steep - nu) * f + rough * 0.8 * f;
        nv += (kv * steep - nv) * f - rough * 0.8 * f;
        const tone = 0.8 + 0.5 * (hash01(x, y, unit.textureSeed + 3) - 0.5);
        r += (unit.core[0] * tone - r) * f;
        gr += (unit.core[1] * tone - gr) * f;
        bl += (unit.core[2] * tone - bl) * f;
        specular *= 1 - f;
        shadeFactor += (1 - shadeFactor) * f;
      }

      const nl = Math.sqrt(nu * nu + nv * nv + nz * nz);
      nu /= nl;
      nv /= nl;
      nz /= nl;
      const lambert = Math.max(0, nu * lu + nv * lv + nz * lz);
      // Ambient light comes from the room above: surfaces tilted towards the belt see less of it.
      const shade = (light.ambient * (0.45 + 0.55 * nz) + diffuse * lambert) * shadeFactor;
      const nh = Math.max(0, nu * hu + nv * hv + nz * hz);
      const highlight = specular * Math.pow(nh, unit.shininess);
      colour[0] = r * shade + highlight;
      colour[1] = gr * shade + highlight;
      colour[2] = bl * shade + highlight;
      const i = (y * width + x) * 3;
      rgb[i] += (colour[0] - rgb[i]) * coverage;
      rgb[i + 1] += (colour[1] - rgb[i + 1]) * coverage;
      rgb[i + 2] += (colour[2] - rgb[i + 2]) * coverage;
      if (coverage >= 0.5) {
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
    }
  }
  if (maxX < minX) return null;
  return { x: minX, y: minY, width: maxX - minX + 1, height: maxY - minY + 1 };
}

/** dh/dt of the unit's height profile at distance t inside the rim. */
function profileSlope(unit: UnitScene, t: number): number {
  if (t <= 0) return 6;
  if (unit.profile === 'cylinder') {
    const s = 1 - Math.min(t / unit.halfWidth, 1);
    return Math.min(6, s / Math.sqrt(Math.max(1 - s * s, 1e-4)));
  }
  if (t < unit.bevel) {
    const s = 1 - t / unit.bevel;
    return Math.min(6, (0.9 * s) / Math.sqrt(Math.max(1 - s * s, 1e-4)));
  }
  return unit.dome * Math.max(0, 1 - (t - unit.bevel) / Math.max(unit.halfWidth - unit.bevel, 1));
}

function polylineDistance(points: Array<[number, number]>, u: number, v: number): number {
  let best = Infinity;
  for (let i = 1; i < points.length; i++) {
    const [au, av] = points[i - 1];
    const [bu, bv] = points[i];
    const eu = bu - au;
    const ev = bv - av;
    const along = clamp01(((u - au) * eu + (v - av) * ev) / (eu * eu + ev * ev || 1));
    const du = u - au - along * eu;
    const dv = v - av - along * ev;
    const d = du * du + dv * dv;
    if (d < best) best = d;
  }
  return Math.sqrt(best);
}

// ---------------------------------------------------------------- camera

/** Uneven illumination, white balance and exposure, then 8-bit. */
function finish(rgb: Float32Array, scene: FrameScene): Buffer {
  const { width, height, light } = scene;
  const out = Buffer.alloc(width * height * 3);
  const diagonal = Math.sqrt(width * width + height * height);
  const { hotspot, tint } = light;
  // The hotspot's Gaussian is separable: one factor per column, one per row.
  const spread = 2 * hotspot.sigma * hotspot.sigma;
  const hotX = Float32Array.from({ length: width }, (_, x) => Math.exp(-((x - hotspot.x) ** 2) / spread));
  const hotY = Float32Array.from({ length: height }, (_, y) => Math.exp(-((y - hotspot.y) ** 2) / spread));
  for (let y = 0; y < height; y++) {
    const ny = (y - height / 2) / diagonal;
    for (let x = 0; x < width; x++) {
      const nx = (x - width / 2) / diagonal;
      const illumination =
        light.exposure *
        (1 + light.gradient[0] * nx + light.gradient[1] * ny) *
        (1 - light.vignette * 4 * (nx * nx + ny * ny)) *
        (1 + hotspot.amp * hotX[x] * hotY[y]);
      const i = (y * width + x) * 3;
      out[i] = 255 * clamp01(rgb[i] * illumination * tint[0]) + 0.5;
      out[i + 1] = 255 * clamp01(rgb[i + 1] * illumination * tint[1]) + 0.5;
      out[i + 2] = 255 * clamp01(rgb[i + 2] * illumination * tint[2]) + 0.5;
    }
  }
  return out;
}

/** Standard normal quantiles at 4096 evenly spaced probabilities: noise draws by table look-up. */
const NORMAL_TABLE = Float32Array.from({ length: 4096 }, (_, i) => normalQuantile((i + 0.5) / 4096));

/** Gaussian read noise plus shot noise that grows with the level; a shared part makes it partly grey. */
function addSensorNoise(pixels: Buffer, sigma: number, shot: number, rng: Random): void {
  // Noise scale by the pixel's summed level (0..765), tabulated.
  const scale = Float32Array.from({ length: 766 }, (_, sum) => 0.7 * (sigma + shot * Math.sqrt(sum / 765)));
  // xorshift32 inline, seeded from the frame's PRNG: a method call per draw would double the frame time.
  let state = rng.int(1, 0x7fffffff);
  for (let i = 0; i < pixels.length; i += 3) {
    const s = scale[pixels[i] + pixels[i + 1] + pixels[i + 2]];
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const r1 = state;
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const r2 = state;
    // 12-bit indices: one shared by the three channels (grey noise), one per channel.
    const shared = NORMAL_TABLE[r1 & 4095];
    pixels[i] = clampByte(pixels[i] + s * (shared + NORMAL_TABLE[(r1 >>> 12) & 4095]));
    pixels[i + 1] = clampByte(pixels[i + 1] + s * (shared + NORMAL_TABLE[r2 & 4095]));
    pixels[i + 2] = clampByte(pixels[i + 2] + s * (shared + NORMAL_TABLE[(r2 >>> 12) & 4095]));
  }
}

function clampByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : (v + 0.5) | 0;
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) =>
    (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

// ---------------------------------------------------------------- helpers

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

function smooth(f: number): number {
  return f * f * (3 - 2 * f);
}

/** Deterministic per-pixel texture value in [0, 1) that needs no PRNG state. */
function hash01(x: number, y: number, seed: number): number {
  let h = Math.imul(x, 0x27d4eb2d) ^ Math.imul(y, 0x165667b1) ^ Math.imul(seed, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}
