// Decoding a frame once, and turning RGB pixels into a model's input tensor.
import { promises as fs } from 'node:fs';
import sharp, { type Metadata } from 'sharp';
import { resizeBilinearInto } from './bilinear';
import { resizeAntialiasInto } from './antialias';
import { bmpSize, decodeBmp, isBmp } from './bmp';
import { formatBytes, readBoundedFile } from '../files';
import type { FrameImage } from '../types';

/** Frames larger than this many pixels are refused before decoding (50 MP: 150 MB of RGB). */
export const DEFAULT_MAX_PIXELS = 50_000_000;
/**
 * A longer side is refused before decoding: libjpeg, which the visualizer writes with, takes at most 65500 pixels a side,
 * so every frame that is judged can also be drawn (a 100000 x 1 strip would be judged, then fail at the visualizer).
 */
export const MAX_SIDE = 65_500;
/** An encoded image may take at most this many bytes per allowed pixel (16-bit RGBA, uncompressed) plus 1 MiB of headers. */
const MAX_BYTES_PER_PIXEL = 8;

/** The formats the docs list, told apart by their first bytes before any decoder sees them. */
export const IMAGE_FORMATS = ['jpeg', 'png', 'webp', 'tiff', 'gif', 'bmp'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];
const SUPPORTED = 'JPEG, PNG, WebP, TIFF, GIF or uncompressed BMP';

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

/** The format an encoded image's magic bytes say, or undefined for anything we do not decode (SVG, AVIF, PDF, text...). */
export function sniffFormat(buf: Buffer): ImageFormat | undefined {
  const starts = (...bytes: number[]) => bytes.every((b, i) => buf[i] === b);
  if (starts(0xff, 0xd8, 0xff)) return 'jpeg';
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (buf.length >= 12 && buf.toString('latin1', 0, 4) === 'RIFF' && buf.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (starts(0x49, 0x49, 0x2a, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2a) || starts(0x49, 0x49, 0x2b, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2b)) return 'tiff';
  if (buf.length >= 6 && /^GIF8[79]a$/.test(buf.toString('latin1', 0, 6))) return 'gif';
  if (isBmp(buf)) return 'bmp';
  return undefined;
}

/** The most bytes an encoded image may have for a pixel limit. */
export function maxImageBytes(maxPixels: number): number {
  return maxPixels * MAX_BYTES_PER_PIXEL + 1024 * 1024;
}

/**
 * Formats whose EXIF orientation is applied, as Ultralytics' imread applies it: cv2.imdecode turns JPEG and PNG
 * upright, reads WebP as stored, and TIFF goes through cv2.imdecodemulti unrotated; HEIF/AVIF go through PIL with
 * EXIF transposition.
 */
const ORIENTED_FORMATS = new Set(['jpeg', 'png', 'heif']);

/**
 * Decodes an encoded image (Buffer) or an image file (path) to RGB, once.
 * The format is told from the first bytes, and the size from the header, before any pixel is allocated:
 * anything but the listed formats, or a huge image, is refused without decoding.
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
    encoded = await readBoundedFile(input, { maxBytes: maxImageBytes(maxPixels), what: 'image file' });
  } else if (Buffer.isBuffer(input)) {
    encoded = input;
    if (encoded.length > maxImageBytes(maxPixels)) {
      throw new Error(`image buffer is ${formatBytes(encoded.length)}, over the limit of ${formatBytes(maxImageBytes(maxPixels))} for ${maxPixels / 1e6} MP; refused`);
    }
  } else {
    throw new Error(`expected an encoded image (Buffer) or a file path (string), got ${describe(input)}`);
  }
  const where = path ? ` ${path}` : '';
  if (encoded.length === 0) throw new Error(path ? `image file is empty: ${path}` : 'image buffer is empty');
  const format = sniffFormat(encoded);
  if (!format) throw new Error(`cannot decode image${where}: not a supported image format (${SUPPORTED}); ${looksLike(encoded)}`);

  if (format === 'bmp') {
    const size = bmpSize(encoded);
    refuseHuge(size.width, size.height, maxPixels);
    try {
      return { ...decodeBmp(encoded), channels: 3, encoded, format: 'bmp', path };
    } catch (err) {
      throw new Error(`cannot decode image${where}: ${(err as Error).message}`);
    }
  }

  let meta: Metadata;
  try {
    meta = await sharp(encoded, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new Error(`cannot decode image${where}: ${sharpReason(err)}`);
  }
  // The sniffed format must be what libvips would decode: a file cannot start as one format and be read as another.
  if (meta.format !== format) {
    throw new Error(`cannot decode image${where}: its first bytes say ${format} but the decoder reads ${meta.format}; refused`);
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
    throw new Error(`cannot decode image${where}: ${sharpReason(err)}`);
  }
}

/** A hint at what a refused buffer is, from its first bytes. */
function looksLike(buf: Buffer): string {
  const head = buf.subarray(0, 256).toString('latin1').trimStart().toLowerCase();
  if (head.startsWith('<?xml') || head.startsWith('<svg') || head.includes('<svg')) return 'it looks like SVG, which is not decoded';
  if (buf.length >= 12 && buf.toString('latin1', 4, 8) === 'ftyp') return 'it looks like HEIF / AVIF, which is not decoded';
  if (head.startsWith('%pdf')) return 'it looks like PDF';
  return `it starts with bytes ${buf.subarray(0, 8).toString('hex')}`;
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
  if (width > MAX_SIDE || height > MAX_SIDE) {
    throw new Error(`image is ${width} x ${height}, a side over ${MAX_SIDE} pixels (more than JPEG can hold, so it could not be drawn); refused without decoding`);
  }
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
  if (/unsupported image format/i.test(message)) return `not a supported image format (${SUPPORTED})`;
  return message.split('\n')[0];
}

export type ResizeMode = 'letterbox' | 'stretch';

/**
 * How pixels are resampled. 'bilinear': OpenCV's cv2.resize INTER_LINEAR (the 4 nearest pixels), as Ultralytics,
 * YOLOv5 and YOLOX resize. 'antialias': a linear filter as wide as the scale, as torch (antialias=True),
 * torchvision and PIL resize, so a large reduction averages every source pixel.
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
 * (Ultralytics: 114, centred; DETR-family deploy exports: 0, top-left or centred as configured), with the
 * arithmetic of Ultralytics' LetterBox (Python's round; pads round(d / 2 -+ 0.1) when centred).
 */
export function resizeForModel(
  source: RgbImage,
  width: number,
  height: number,
  mode: ResizeMode,
  padValue = 114,
  align: 'center' | 'top-left' = 'center',
  filter: ResizeFilter = 'antialias',
): ResizeResult {
  // Already the model's size: either mode would give the same pixels back.
  if (source.width === width && source.height === height) return { image: source, transform: { scaleX: 1, scaleY: 1, padX: 0, padY: 0 } };
  let [newWidth, newHeight, padLeft, padTop] = [width, height, 0, 0];
  if (mode === 'letterbox') {
    const scale = Math.min(width / source.width, height / source.height);
    newWidth = Math.max(1, roundHalfEven(source.width * scale));
    newHeight = Math.max(1, roundHalfEven(source.height * scale));
    if (align === 'center') [padLeft, padTop] = [Math.floor((width - newWidth) / 2), Math.floor((height - newHeight) / 2)];
  }
  const data = Buffer.alloc(width * height * 3, padValue);
  const resizeInto = filter === 'bilinear' ? resizeBilinearInto : resizeAntialiasInto;
  resizeInto(source, newWidth, newHeight, data, width, padLeft, padTop);
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
