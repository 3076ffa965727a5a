// Decoding a frame once, and turning RGB pixels into a model's input tensor.
import { promises as fs } from 'node:fs';
import sharp, { type Metadata } from 'sharp';
import { resizeBilinearInto } from './bilinear';
import { bmpSize, decodeBmp, isBmp } from './bmp';
import type { FrameImage } from '../types';

/** Frames larger than this many pixels are refused before decoding (50 MP: 150 MB of RGB). */
export const DEFAULT_MAX_PIXELS = 50_000_000;

/** Raw interleaved RGB pixels. */
export interface RgbImage {
  width: number;
  height: number;
  data: Buffer;
}

/**
 * What to do with an ICC colour profile embedded in an image. 'ignore' (the default) keeps the pixel values as
 * stored, as OpenCV and PIL decode them, and so Ultralytics, Roboflow and most training pipelines: the model
 * sees what it was trained on. 'apply' converts them to sRGB through the profile, as a colour-managed viewer
 * shows them, for a model trained on pixels decoded that way.
 */
export type ColourProfile = 'ignore' | 'apply';
export const COLOUR_PROFILES: readonly ColourProfile[] = ['ignore', 'apply'];

export interface DecodeOptions {
  maxPixels?: number;
  colourProfile?: ColourProfile;
}

/**
 * Formats whose EXIF orientation is applied, as Ultralytics' imread applies it: cv2.imdecode turns JPEG and PNG
 * upright, reads WebP as stored, and TIFF goes through cv2.imdecodemulti unrotated; HEIF/AVIF go through PIL with
 * EXIF transposition.
 */
const ORIENTED_FORMATS = new Set(['jpeg', 'png', 'heif']);

/**
 * Decodes an encoded image (Buffer) or an image file (path) to RGB, once.
 * The header is read first so that a huge image is refused before any pixel is allocated.
 */
export async function decodeImage(input: Buffer | string, options: DecodeOptions = {}): Promise<FrameImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const colourProfile = options.colourProfile ?? 'ignore';
  if (!COLOUR_PROFILES.includes(colourProfile)) throw new Error(`colour profile must be ${COLOUR_PROFILES.join(' or ')}, got ${JSON.stringify(colourProfile)}`);
  let encoded: Buffer;
  let path: string | undefined;
  if (typeof input === 'string') {
    if (input.trim() === '') throw new Error('image path is empty');
    path = input;
    try {
      encoded = await fs.readFile(input);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new Error(`image file not found: ${input}`);
      if (code === 'EISDIR') throw new Error(`image path is a folder, not a file: ${input}`);
      throw new Error(`cannot read image file ${input}: ${(err as Error).message}`);
    }
  } else if (Buffer.isBuffer(input)) {
    encoded = input;
  } else {
    throw new Error(`expected an encoded image (Buffer) or a file path (string), got ${describe(input)}`);
  }
  if (encoded.length === 0) throw new Error(path ? `image file is empty: ${path}` : 'image buffer is empty');

  if (isBmp(encoded)) {
    const size = bmpSize(encoded);
    refuseHuge(size.width, size.height, maxPixels);
    try {
      return { ...decodeBmp(encoded), channels: 3, encoded, format: 'bmp', path };
    } catch (err) {
      throw new Error(`cannot decode image${path ? ` ${path}` : ''}: ${(err as Error).message}`);
    }
  }

  let meta: Metadata;
  try {
    meta = await sharp(encoded, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new Error(`cannot decode image${path ? ` ${path}` : ''}: ${sharpReason(err)}`);
  }
  refuseHuge(meta.width ?? 0, meta.height ?? 0, maxPixels);
  try {
    let pipeline = sharp(encoded, { limitInputPixels: maxPixels, ignoreIcc: colourProfile === 'ignore' });
    if (ORIENTED_FORMATS.has(meta.format ?? '')) pipeline = pipeline.rotate();
    const { data, info } = await pipeline
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { width: info.width, height: info.height, channels: 3, data, encoded, format: meta.format, path };
  } catch (err) {
    throw new Error(`cannot decode image${path ? ` ${path}` : ''}: ${sharpReason(err)}`);
  }
}

/** An image file's width and height as decodeImage gives them (EXIF orientation as it applies it), from its header only. */
export async function imageSize(file: string): Promise<{ width: number; height: number }> {
  try {
    const handle = await fs.open(file, 'r');
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(26), 0, 26, 0);
      if (isBmp(buffer.subarray(0, bytesRead))) return bmpSize(buffer);
    } finally {
      await handle.close();
    }
    const meta = await sharp(file).metadata();
    return ORIENTED_FORMATS.has(meta.format) ? meta.autoOrient : { width: meta.width, height: meta.height };
  } catch (err) {
    throw new Error(`image ${file}: ${(err as Error).message}`);
  }
}

function refuseHuge(width: number, height: number, maxPixels: number): void {
  const pixels = width * height;
  if (pixels > maxPixels) {
    throw new Error(
      `image is ${width} x ${height} (${(pixels / 1e6).toFixed(0)} MP), over the limit of ${(maxPixels / 1e6).toFixed(0)} MP; refused without decoding`,
    );
  }
}

/** True when the value looks like a FrameImage that an earlier node decoded. */
export function isFrameImage(value: unknown): value is FrameImage {
  const v = value as FrameImage;
  return (
    v != null &&
    typeof v === 'object' &&
    Number.isInteger(v.width) &&
    Number.isInteger(v.height) &&
    v.width > 0 &&
    v.height > 0 &&
    Buffer.isBuffer(v.data) &&
    v.data.length === v.width * v.height * 3
  );
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Buffer.isBuffer(value)) return `a Buffer of ${value.length} bytes`;
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function sharpReason(err: unknown): string {
  const message = (err as Error).message ?? String(err);
  if (/unsupported image format/i.test(message)) return 'not a supported image format (JPEG, PNG, WebP, TIFF, GIF, AVIF or uncompressed BMP)';
  return message.split('\n')[0];
}

export type ResizeMode = 'letterbox' | 'stretch';

/**
 * How pixels are resampled. 'bilinear': OpenCV's cv2.resize INTER_LINEAR (the 4 nearest pixels), as Ultralytics,
 * YOLOv5 and YOLOX resize. 'antialias': a linear filter as wide as the scale, as PIL and torchvision
 * (antialias=True) resize, so a large reduction averages every source pixel.
 */
export type ResizeFilter = 'bilinear' | 'antialias';

/** How model-input pixels map back to the original: original = (input - pad) / scale. */
export interface ResizeTransform {
  scaleX: number;
  scaleY: number;
  padX: number;
  padY: number;
}

export interface ResizeResult {
  image: RgbImage;
  transform: ResizeTransform;
}

/**
 * Resizes RGB pixels to a model's input. Letterbox keeps the aspect ratio and pads with `padValue`
 * (Ultralytics: 114, centred; DETR-family deploy exports: 0, top-left or centred as configured).
 */
export async function resizeForModel(
  source: RgbImage,
  width: number,
  height: number,
  mode: ResizeMode,
  padValue = 114,
  align: 'center' | 'top-left' = 'center',
  filter: ResizeFilter = 'antialias',
): Promise<ResizeResult> {
  // Already the model's size: either mode would give the same pixels back, so skip sharp's round trip.
  if (source.width === width && source.height === height) return { image: source, transform: { scaleX: 1, scaleY: 1, padX: 0, padY: 0 } };
  if (filter === 'bilinear') return resizeBilinear(source, width, height, mode, padValue, align);
  const input = sharp(source.data, { raw: { width: source.width, height: source.height, channels: 3 } });
  if (mode === 'stretch') {
    const data = await input.resize(width, height, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
    return {
      image: { width, height, data },
      transform: { scaleX: width / source.width, scaleY: height / source.height, padX: 0, padY: 0 },
    };
  }
  const scale = Math.min(width / source.width, height / source.height);
  const newWidth = Math.max(1, Math.round(source.width * scale));
  const newHeight = Math.max(1, Math.round(source.height * scale));
  const padLeft = align === 'center' ? Math.floor((width - newWidth) / 2) : 0;
  const padTop = align === 'center' ? Math.floor((height - newHeight) / 2) : 0;
  const background = { r: padValue, g: padValue, b: padValue };
  let pipeline = input;
  if (newWidth !== source.width || newHeight !== source.height) {
    pipeline = pipeline.resize(newWidth, newHeight, { fit: 'fill', kernel: 'linear' });
  }
  const data = await pipeline
    .extend({ top: padTop, bottom: height - newHeight - padTop, left: padLeft, right: width - newWidth - padLeft, background })
    .raw()
    .toBuffer();
  return {
    image: { width, height, data },
    transform: { scaleX: newWidth / source.width, scaleY: newHeight / source.height, padX: padLeft, padY: padTop },
  };
}

/** resizeForModel with OpenCV's INTER_LINEAR and Ultralytics' LetterBox arithmetic (pads round(d / 2 -+ 0.1)). */
function resizeBilinear(source: RgbImage, width: number, height: number, mode: ResizeMode, padValue: number, align: 'center' | 'top-left'): ResizeResult {
  let [newWidth, newHeight, padLeft, padTop] = [width, height, 0, 0];
  if (mode === 'letterbox') {
    const scale = Math.min(width / source.width, height / source.height);
    newWidth = Math.max(1, roundHalfEven(source.width * scale));
    newHeight = Math.max(1, roundHalfEven(source.height * scale));
    if (align === 'center') [padLeft, padTop] = [Math.floor((width - newWidth) / 2), Math.floor((height - newHeight) / 2)];
  }
  const data = Buffer.alloc(width * height * 3, padValue);
  resizeBilinearInto(source, newWidth, newHeight, data, width, padLeft, padTop);
  return {
    image: { width, height, data },
    transform: { scaleX: newWidth / source.width, scaleY: newHeight / source.height, padX: padLeft, padY: padTop },
  };
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Per-channel normalisation: value = (pixel * scale - mean) / std, pixel in 0..255. */
export interface Normalization {
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
}

export const NORMALIZATIONS = {
  /** pixel / 255: Ultralytics, RF-DETR's own preprocessing is ImageNet (set by format), DETR deploy exports. */
  unit: { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
  /** ImageNet mean/std after / 255: torchvision, timm, RF-DETR. */
  imagenet: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  /** (pixel / 255 - 0.5) / 0.5, i.e. -1..1: PaddleOCR, many TF models. */
  symmetric: { scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  /** Pixels as they are, 0..255. */
  raw: { scale: 1, mean: [0, 0, 0], std: [1, 1, 1] },
} satisfies Record<string, Normalization>;

export type NormalizationName = keyof typeof NORMALIZATIONS;

export interface TensorLayout {
  /** nchw: [N, C, H, W] (PyTorch); nhwc: [N, H, W, C] (TensorFlow / Keras). */
  order: 'nchw' | 'nhwc';
  /** 3 for RGB (or BGR), 1 for grey. */
  channels: 1 | 3;
  bgr: boolean;
}

/** Writes one image into `out` at `offset` (elements) in the model's layout and normalisation. */
export function writeTensor(image: RgbImage, out: Float32Array, offset: number, layout: TensorLayout, norm: Normalization): void {
  const { width, height, data } = image;
  const plane = width * height;
  if (layout.channels === 1) {
    const mean = norm.mean[0];
    const std = norm.std[0];
    for (let i = 0; i < plane; i++) {
      const grey = 0.299 * data[i * 3] + 0.587 * data[i * 3 + 1] + 0.114 * data[i * 3 + 2];
      out[offset + i] = (grey * norm.scale - mean) / std;
    }
    return;
  }
  // Tensor channel c reads source channel s<c>: RGB as is, or reversed for BGR models. One pass over the
  // pixels with the constants in locals: this runs on every frame and every crop.
  const [s0, s1, s2] = layout.bgr ? [2, 1, 0] : [0, 1, 2];
  const [m0, m1, m2] = [0, 1, 2].map((c) => norm.scale / norm.std[c]);
  const [a0, a1, a2] = [0, 1, 2].map((c) => -norm.mean[c] / norm.std[c]);
  // nchw: channel planes `plane` apart, one element per pixel; nhwc: channels adjacent, three per pixel.
  const [step, o1, o2] = layout.order === 'nchw' ? [1, plane, 2 * plane] : [3, 1, 2];
  for (let i = 0, j = 0, o = offset; i < plane; i++, j += 3, o += step) {
    out[o] = data[j + s0] * m0 + a0;
    out[o + o1] = data[j + s1] * m1 + a1;
    out[o + o2] = data[j + s2] * m2 + a2;
  }
}
