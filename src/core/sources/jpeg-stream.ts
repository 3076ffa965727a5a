// Splits ffmpeg's image2pipe MJPEG output (JPEG after JPEG, no container) into frames, with bounded memory.

const SOI = Buffer.from([0xff, 0xd8]);
const EOI = Buffer.from([0xff, 0xd9]);

export class JpegStreamParser {
  private chunks: Buffer[] = [];
  private length = 0;
  /** Bytes dropped because a frame grew past maxFrameBytes (the stream is resynchronised at the next SOI). */
  oversized = 0;

  constructor(private readonly maxFrameBytes: number) {}

  /** Feeds stdout bytes; returns the complete frames they finish, in order. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.length += chunk.length;
    let buffer = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.length);
    const frames: Buffer[] = [];
    for (;;) {
      const start = buffer.indexOf(SOI);
      if (start < 0) {
        // Keep a trailing 0xff: it may be the first half of the next SOI.
        buffer = buffer.length && buffer[buffer.length - 1] === 0xff ? buffer.subarray(buffer.length - 1) : Buffer.alloc(0);
        break;
      }
      // ffmpeg's mjpeg encoder writes no thumbnails, so the first EOI after the SOI ends the frame.
      const end = buffer.indexOf(EOI, start + 2);
      if (end < 0) {
        buffer = buffer.subarray(start);
        if (buffer.length > this.maxFrameBytes) {
          this.oversized += buffer.length;
          buffer = Buffer.alloc(0);
        }
        break;
      }
      if (end + 2 - start > this.maxFrameBytes) this.oversized += end + 2 - start;
      else frames.push(Buffer.from(buffer.subarray(start, end + 2)));
      buffer = buffer.subarray(end + 2);
    }
    this.chunks = buffer.length ? [buffer] : [];
    this.length = buffer.length;
    return frames;
  }

  reset(): void {
    this.chunks = [];
    this.length = 0;
  }
}

/** ffmpeg's arguments for one source: RTSP URL, file or device in, MJPEG frames on stdout. */
export function ffmpegArgs(options: { input: string; inputOptions: string; fps: number; quality: number; width?: number }): string[] {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin'];
  if (/^rtsps?:\/\//i.test(options.input) && !/-rtsp_transport/.test(options.inputOptions)) args.push('-rtsp_transport', 'tcp');
  args.push(...splitArgs(options.inputOptions), '-i', options.input);
  const filters = [`fps=${options.fps}`];
  if (options.width) filters.push(`scale=${options.width}:-2`);
  args.push('-an', '-vf', filters.join(','), '-f', 'image2pipe', '-c:v', 'mjpeg', '-q:v', String(options.quality), 'pipe:1');
  return args;
}

/** "-re -stream_loop -1" -> ["-re", "-stream_loop", "-1"]; double quotes keep spaces. */
export function splitArgs(text: string): string[] {
  return [...String(text ?? '').matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
}
