// Which files in a camera's drop folder are complete: a file is taken once its size and modification time have stayed
// the same for `stableMs` (a camera or an FTP/SMB upload still writing it changes one of them), and only once.

export interface FileEntry {
  name: string;
  size: number;
  mtimeMs: number;
}

interface Seen {
  size: number;
  mtimeMs: number;
  since: number;
  taken: boolean;
}

export class CompleteFiles {
  private readonly seen = new Map<string, Seen>();

  constructor(private readonly stableMs: number) {}

  /** The listing as of `now`; returns the files that have just become complete, oldest first. */
  update(entries: readonly FileEntry[], now: number): FileEntry[] {
    const present = new Set<string>();
    const complete: FileEntry[] = [];
    for (const entry of entries) {
      present.add(entry.name);
      const seen = this.seen.get(entry.name);
      if (!seen || seen.size !== entry.size || seen.mtimeMs !== entry.mtimeMs) {
        // New, or still being written (a file replaced under the same name is a new file).
        this.seen.set(entry.name, { size: entry.size, mtimeMs: entry.mtimeMs, since: now, taken: false });
        continue;
      }
      if (!seen.taken && entry.size > 0 && now - seen.since >= this.stableMs) complete.push(entry);
    }
    // A file gone from the folder (moved, deleted) is forgotten: a new one by that name is a new frame.
    for (const name of this.seen.keys()) if (!present.has(name)) this.seen.delete(name);
    return complete.sort((a, b) => a.mtimeMs - b.mtimeMs || a.name.localeCompare(b.name));
  }

  /** Marks a file taken, so it is never sent twice even when moving or deleting it fails. */
  taken(name: string): void {
    const seen = this.seen.get(name);
    if (seen) seen.taken = true;
  }
}

/** "*.jpg, *.png" as one case-insensitive test of a file name. */
export function filePattern(patterns: string): (name: string) => boolean {
  const list = String(patterns || '*')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i'));
  return (name) => list.some((re) => re.test(name));
}
