// avi-folder: frames a smart camera (or an FTP/SMB upload) drops into a folder. Only complete files, each once, moved
// to a done folder or deleted after they are read. Polls rather than watching: network shares often send no events.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { CompleteFiles, filePattern, type FileEntry } from '../core/sources/folder';
import { errorMessage, num, resolveFilePath, userDirOf, type Msg } from './common';
import { message } from './i18n';

interface FolderNodeDef extends NodeDef {
  folder: string;
  pattern: string;
  stable: string | number;
  poll: string | number;
  after: 'move' | 'delete';
  doneFolder: string;
  maxFileMB: string | number;
  maxPerPoll: string | number;
}

export const DEFAULT_PATTERN = '*.jpg, *.jpeg, *.png, *.bmp, *.tif, *.tiff, *.webp';

/** Moves a file into `dir`, keeping its name unless one is there already; across file systems, copy then delete. */
async function moveInto(file: string, dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const { name, ext } = path.parse(file);
  let target = path.join(dir, name + ext);
  try {
    await fs.access(target);
    target = path.join(dir, `${name}-${Date.now()}${ext}`);
  } catch {
    // free
  }
  try {
    await fs.rename(file, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await fs.copyFile(file, target);
    await fs.unlink(file);
  }
  return target;
}

export default function (RED: NodeAPI): void {
  function AviFolderNode(this: Node, config: FolderNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const folder = resolveFilePath(String(config.folder || '').trim(), userDirOf(RED));
    const doneFolder = path.resolve(folder, config.doneFolder || 'done');
    const matches = filePattern(config.pattern || DEFAULT_PATTERN);
    const complete = new CompleteFiles(Math.max(0, num(config.stable, 1000)));
    const pollMs = Math.max(50, num(config.poll, 500));
    const maxBytes = Math.max(1, num(config.maxFileMB, 50)) * 1024 * 1024;
    const maxPerPoll = Math.max(1, num(config.maxPerPoll, 8));
    const counts = { received: 0, inspected: 0, skipped: 0 };
    let polling = false;
    let failing = '';

    const status = (): void => {
      const text = message(RED, 'avi-folder.status.counts', counts);
      // The error itself went to the log (and Catch) once; the status only says what is wrong.
      if (failing) node.status({ fill: 'red', shape: 'dot', text: `${message(RED, 'avi-folder.status.unreadable')} · ${text}` });
      else node.status({ fill: 'green', shape: 'dot', text });
    };

    const take = async (entry: FileEntry): Promise<void> => {
      const file = path.join(folder, entry.name);
      complete.taken(entry.name);
      counts.received++;
      try {
        if (entry.size > maxBytes) throw new Error(message(RED, 'avi-folder.errors.tooBig', { file: entry.name, mb: String(Math.round(entry.size / 1048576)) }));
        const payload = await fs.readFile(file);
        const filename = config.after === 'delete' ? (await fs.unlink(file), file) : await moveInto(file, doneFolder);
        counts.inspected++;
        node.send({ payload, filename, topic: entry.name, file: { name: entry.name, size: entry.size, modified: new Date(entry.mtimeMs).toISOString() } } as unknown as Msg);
      } catch (err) {
        // A file that cannot be taken is moved aside when possible, so it is neither lost nor read again.
        counts.skipped++;
        await moveInto(file, path.join(doneFolder, 'skipped')).catch(() => undefined);
        node.error(message(RED, 'avi-folder.errors.skipped', { file: entry.name, error: errorMessage(err) }));
      }
    };

    const poll = async (): Promise<void> => {
      if (polling) return;
      polling = true;
      try {
        const dirents = await fs.readdir(folder, { withFileTypes: true });
        const entries: FileEntry[] = [];
        for (const d of dirents) {
          if (!d.isFile() || !matches(d.name)) continue;
          const stat = await fs.stat(path.join(folder, d.name)).catch(() => undefined);
          if (stat) entries.push({ name: d.name, size: stat.size, mtimeMs: stat.mtimeMs });
        }
        failing = '';
        for (const entry of complete.update(entries, Date.now()).slice(0, maxPerPoll)) await take(entry);
      } catch (err) {
        if (!failing) node.error(message(RED, 'avi-folder.errors.folder', { folder, error: errorMessage(err) }));
        failing = errorMessage(err);
      } finally {
        polling = false;
        status();
      }
    };

    const timer = setInterval(() => void poll(), pollMs);
    void poll();
    node.on('close', () => clearInterval(timer));
  }
  RED.nodes.registerType('avi-folder', AviFolderNode);
}
