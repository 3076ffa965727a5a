// The binomial distribution as a probability table: for control limits (spc.ts) and sampling (random.ts).

export interface BinomialTable {
  /** Smallest count in the table; counts below it have negligible probability. */
  lo: number;
  /** pmf[i] = P(X = lo + i), normalised to sum 1. */
  pmf: Float64Array;
}

/**
 * P(X = k) for X ~ Binomial(n, p), for every k within 40 standard deviations (plus 10 counts) of the mean:
 * what lies outside is far below what a double can represent. Built by the ratio recurrence outward from
 * the mode, so neither (1 - p)^n underflowing for large n nor factorials overflowing can spoil it.
 */
export function binomialTable(n: number, p: number): BinomialTable {
  if (!Number.isInteger(n) || n < 0) throw new Error(`binomial n must be a whole number >= 0, got ${n}`);
  if (!(p >= 0 && p <= 1)) throw new Error(`binomial p must be in [0, 1], got ${p}`);
  if (n === 0 || p === 0) return { lo: 0, pmf: Float64Array.of(1) };
  if (p === 1) return { lo: n, pmf: Float64Array.of(1) };
  const mean = n * p;
  const spread = 40 * Math.sqrt(mean * (1 - p)) + 10;
  const lo = Math.max(0, Math.floor(mean - spread));
  const hi = Math.min(n, Math.ceil(mean + spread));
  const pmf = new Float64Array(hi - lo + 1);
  const mode = Math.min(hi, Math.max(lo, Math.floor((n + 1) * p)));
  const odds = p / (1 - p);
  pmf[mode - lo] = 1;
  for (let k = mode; k < hi; k++) pmf[k + 1 - lo] = pmf[k - lo] * ((n - k) / (k + 1)) * odds;
  for (let k = mode; k > lo; k--) pmf[k - 1 - lo] = (pmf[k - lo] * (k / (n - k + 1))) / odds;
  let total = 0;
  for (const w of pmf) total += w;
  for (let i = 0; i < pmf.length; i++) pmf[i] /= total;
  return { lo, pmf };
}

/** Smallest count c with P(X > c) <= alpha: a count above c is that improbable when the rate is p. */
export function upperQuantile(table: BinomialTable, alpha: number): number {
  let tail = 0;
  for (let i = table.pmf.length - 1; i >= 0; i--) {
    // tail = P(X > lo + i - 1) once pmf[i] is added; stop at the first count whose tail exceeds alpha.
    if (tail + table.pmf[i] > alpha) return table.lo + i;
    tail += table.pmf[i];
  }
  return table.lo - 1;
}

/** Largest count c with P(X < c) <= alpha: a count below c is that improbable when the rate is p. */
export function lowerQuantile(table: BinomialTable, alpha: number): number {
  let tail = 0;
  for (let i = 0; i < table.pmf.length; i++) {
    if (tail + table.pmf[i] > alpha) return table.lo + i;
    tail += table.pmf[i];
  }
  return table.lo + table.pmf.length;
}
