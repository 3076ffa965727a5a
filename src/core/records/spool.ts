// Records waiting for a store that is slow or down: one JSON line each, fsynced before the record is
// acknowledged, bounded. A line cut short by a crash was never acknowledged and is dropped on reading.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { NewRecord } from './chain';

export class SpoolFullError extends Error {}

export class Spool {
  private entries: NewRecord[] = [];

  constructor(
    readonly file: string,
    readonly max: number,
  ) {
    if (!existsSync(file)) return;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue;
      try {
        this.entries.push(JSON.parse(line));
      } catch {
        // the torn last line of a crash
      }
    }
  }

  get size(): number {
    return this.entries.length;
  }

  /** Persists records at the end of the spool; all of them, or none when they do not fit. */
  add(records: NewRecord[]): void {
    if (this.entries.length + records.length > this.max) {
      throw new SpoolFullError(`record spool full: ${this.entries.length} records already wait for the store (bound ${this.max}); this record was not written`);
    }
    const fd = openSync(this.file, 'a');
    try {
      writeSync(fd, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.entries.push(...records);
  }

  peek(count: number): NewRecord[] {
    return this.entries.slice(0, count);
  }

  /** Drops the first `count` records (stored now), rewriting the file atomically. */
  shift(count: number): void {
    this.entries = this.entries.slice(count);
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, this.entries.map((r) => `${JSON.stringify(r)}\n`).join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}
