// Seeded pseudo-random numbers for reproducible simulations (tests, benchmarks, synthetic fixtures).
import { binomialTable } from '../spc/binomial';

/** sfc32 seeded through splitmix32: fast, 128-bit state, the same sequence for the same seed everywhere. */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(seed: number) {
    let s = seed >>> 0;
    const splitmix = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix();
    this.b = splitmix();
    this.c = splitmix();
    this.d = splitmix();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t / 4294967296;
  }

  /** Uniform in [min, max). */
  range(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** A whole number from min to max, both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** Standard normal (Box-Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const u = 1 - this.next();
    const angle = 2 * Math.PI * this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(angle);
    return r * Math.cos(angle);
  }
}

/** Draws from Binomial(n, p) by inverse CDF over a table built once: a draw is one binary search, whatever n. */
export function binomialSampler(n: number, p: number): (rng: Random) => number {
  const { lo, pmf } = binomialTable(n, p);
  const cdf = new Float64Array(pmf.length);
  let total = 0;
  for (let i = 0; i < pmf.length; i++) {
    total += pmf[i];
    cdf[i] = total;
  }
  return (rng: Random): number => {
    const u = rng.next() * total;
    let left = 0;
    let right = cdf.length - 1;
    while (left < right) {
      const mid = (left + right) >>> 1;
      if (cdf[mid] > u) right = mid;
      else left = mid + 1;
    }
    return lo + left;
  };
}
