// Which frame images to prune: those older than the retention period, then the oldest until the folder is
// within its disk bound. Images still needed (units waiting for review) are kept whatever their age.

export interface StoredImage {
  sha256: string;
  bytes: number;
  /** When the file was written, ms since epoch. */
  writtenMs: number;
}

export interface RetentionPolicy {
  /** Keep images this many days; 0 or less = no age limit. */
  maxAgeDays: number;
  /** Keep the folder under this many bytes; 0 or less = no bound. */
  maxBytes: number;
}

export interface PruneItem {
  sha256: string;
  bytes: number;
  reason: string;
}

export function planRetention(images: StoredImage[], policy: RetentionPolicy, nowMs: number, keep: ReadonlySet<string> = new Set()): PruneItem[] {
  const prune: PruneItem[] = [];
  const remaining: StoredImage[] = [];
  const cutoff = policy.maxAgeDays > 0 ? nowMs - policy.maxAgeDays * 86_400_000 : -Infinity;
  for (const image of [...images].sort((a, b) => a.writtenMs - b.writtenMs || a.sha256.localeCompare(b.sha256))) {
    if (!keep.has(image.sha256) && image.writtenMs < cutoff) prune.push({ sha256: image.sha256, bytes: image.bytes, reason: `older than the retention period of ${policy.maxAgeDays} days` });
    else remaining.push(image);
  }
  if (policy.maxBytes > 0) {
    let total = remaining.reduce((sum, i) => sum + i.bytes, 0);
    for (const image of remaining) {
      if (total <= policy.maxBytes) break;
      if (keep.has(image.sha256)) continue;
      prune.push({ sha256: image.sha256, bytes: image.bytes, reason: `oldest image while the image folder was over its bound of ${policy.maxBytes} bytes` });
      total -= image.bytes;
    }
  }
  return prune;
}
