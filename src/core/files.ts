// Reading a file whose name may come from outside (a message, a command line): only a regular file, only up to
// a size bound, only within a time bound, and (for names from messages) only inside folders the user allowed.
import { closeSync, constants, fstatSync, openSync, promises as fs, readSync } from 'node:fs';
import * as path from 'node:path';

/** A model's whole file is read into memory; protobuf, which ONNX is, cannot be larger anyway. */
export const MAX_MODEL_BYTES = 2 * 1024 ** 3;

/** A read of one file that takes longer than this is abandoned (a hung network share, a FIFO's writer). */
export const DEFAULT_READ_TIMEOUT_MS = 10_000;

export interface ReadOptions {
  /** Larger files are refused before they are read. */
  maxBytes: number;
  timeoutMs?: number;
  /** What the file is, for the error text: "image file", "model file", "labels file". */
  what?: string;
  /** Where the bytes go (shared memory, for a file that several threads read). */
  allocate?: (bytes: number) => Buffer;
}

/**
 * Reads a whole regular file, at most `maxBytes`. O_NONBLOCK so that opening a FIFO cannot wait for a writer;
 * fstat on the open descriptor, so that what is checked is what is read (/dev/zero, a FIFO, a socket are refused).
 */
export async function readBoundedFile(file: string, options: ReadOptions): Promise<Buffer> {
  const what = options.what ?? 'file';
  const timeoutMs = options.timeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  let handle: fs.FileHandle | undefined;
  let timedOut = false;
  const work = (async () => {
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    if (timedOut) return Buffer.alloc(0);
    const stat = await handle.stat();
    if (stat.isDirectory()) throw new Error(`${what} ${file} is a folder, not a file`);
    if (!stat.isFile()) throw new Error(`${what} ${file} is not a regular file (a device, FIFO or socket); refused`);
    if (stat.size > options.maxBytes) throw new Error(`${what} ${file} is ${formatBytes(stat.size)}, over the limit of ${formatBytes(options.maxBytes)}; refused`);
    // Read to the size stat gave and one byte beyond, so a file that grew meanwhile is refused, not read on.
    const buffer = options.allocate ? options.allocate(stat.size + 1) : Buffer.allocUnsafe(stat.size + 1);
    let length = 0;
    while (length < buffer.length && !timedOut) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > stat.size) throw new Error(`${what} ${file} grew while it was read; refused`);
    return buffer.subarray(0, length);
  })();
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new Error(`${what} ${file} took more than ${timeoutMs / 1000} s to read; abandoned`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${what} not found: ${file}`);
    if (code === 'EISDIR') throw new Error(`${what} ${file} is a folder, not a file`);
    if (code) throw new Error(`cannot read ${what} ${file}: ${code}`);
    throw err;
  } finally {
    clearTimeout(timer);
    // A read still in flight after the timeout closes its descriptor when it ends.
    work.finally(() => handle?.close().catch(() => undefined)).catch(() => undefined);
  }
}

/** readBoundedFile for small files read synchronously (labels): the same checks, without the time bound. */
export function readBoundedFileSync(file: string, options: ReadOptions): Buffer {
  const what = options.what ?? 'file';
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${what} not found: ${file}` : `cannot read ${what} ${file}: ${code ?? (err as Error).message}`);
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw new Error(`${what} ${file} is a folder, not a file`);
    if (!stat.isFile()) throw new Error(`${what} ${file} is not a regular file (a device, FIFO or socket); refused`);
    if (stat.size > options.maxBytes) throw new Error(`${what} ${file} is ${formatBytes(stat.size)}, over the limit of ${formatBytes(options.maxBytes)}; refused`);
    const buffer = Buffer.allocUnsafe(stat.size + 1);
    let length = 0;
    for (let n; length < buffer.length && (n = readSync(fd, buffer, length, buffer.length - length, length)) > 0; ) length += n;
    if (length > stat.size) throw new Error(`${what} ${file} grew while it was read; refused`);
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/**
 * The folders file paths from messages may name, and the check that a path is inside one of them.
 * Symbolic links and `..` are resolved first (realpath), so neither leads outside.
 */
export class AllowedFolders {
  readonly folders: string[];

  constructor(folders: Array<string | undefined>) {
    this.folders = [...new Set(folders.filter((f): f is string => typeof f === 'string' && f.trim() !== '').map((f) => path.resolve(f)))];
  }

  /**
   * The real path of `file` when it lies inside an allowed folder. Anything else, whether it exists or not,
   * is the same error, so that a message cannot learn what lies outside.
   */
  async resolve(file: string, what = 'file'): Promise<string> {
    const refused = new Error(`${what} ${JSON.stringify(file)} is not a file inside the folders allowed for file paths in messages; see "File paths in messages" in the help`);
    const lexical = path.resolve(file);
    if (!this.folders.some((folder) => isInside(lexical, folder))) throw refused;
    const realFolders = await Promise.all(this.folders.map((f) => fs.realpath(f).catch(() => f)));
    const allowed = (real: string) => realFolders.some((folder) => isInside(real, folder) || real === folder);
    let real: string;
    try {
      real = await fs.realpath(lexical);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw refused;
      // "Not found" only where the nearest folder that does exist really is inside: it then tells nothing
      // about the rest of the disk (a link inside that points outside does not count as inside).
      if (allowed(await nearestExisting(path.dirname(lexical)))) throw new Error(`${what} not found: ${file}`);
      throw refused;
    }
    if (!realFolders.some((folder) => isInside(real, folder))) throw refused;
    return real;
  }
}

async function nearestExisting(folder: string): Promise<string> {
  for (let dir = folder; ; dir = path.dirname(dir)) {
    try {
      return await fs.realpath(dir);
    } catch {
      if (dir === path.dirname(dir)) return dir;
    }
  }
}

function isInside(file: string, folder: string): boolean {
  const relative = path.relative(folder, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}
